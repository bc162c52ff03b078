"""TAL explorer: `streamlit run app.py`.

Routes to the pages in `app_pages/` (listed in `tal/ui/router.py`) with
`st.navigation` and draws the shared sidebar. No ML code here: the pages call
the `tal` library through the helpers in `tal/ui/`.
"""

import streamlit as st

from tal.ui import guard, loaders, router, sidebar, streamlit_fixes

st.set_page_config(
    page_title="TAL explorer", page_icon=":material/center_focus_strong:", layout="wide"
)
router.mark_run_start()
streamlit_fixes.install()  # no Keras clear_session() after each run (it breaks training threads)
st.html(streamlit_fixes.STYLE)  # quick views skip the stale fade (an animation on every update)
page = st.navigation(router.pages())
loaders.warm_up()  # import TensorFlow in the background while the first page is read
with guard.page_guard("the sidebar"):
    sidebar.render(page.url_path)
page.run()
