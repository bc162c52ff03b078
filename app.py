"""TAL explorer: `streamlit run app.py`.

Routes to the pages in `pages/` and draws the shared sidebar. No ML code here:
the pages call the `tal` library through the helpers in `tal/ui/`.
"""
import streamlit as st

from tal.ui import guard, loaders, sidebar

st.set_page_config(page_title="TAL explorer", page_icon=":material/center_focus_strong:", layout="wide")

page = st.navigation([
    st.Page("pages/overview.py", title="Overview", icon=":material/school:", default=True),
    st.Page("pages/train.py", title="Train", icon=":material/model_training:"),
    st.Page("pages/inspect.py", title="Inspect", icon=":material/visibility:"),
    st.Page("pages/predict.py", title="Predict", icon=":material/upload_file:"),
    st.Page("pages/compare.py", title="Compare", icon=":material/compare:"),
])
loaders.warm_up()  # import TensorFlow in the background while the first page is read
with guard.page_guard("the sidebar"):
    sidebar.render()
page.run()
