"""Studies: design an ablation grid, run it in the background, watch it fill in, resume it, download it."""

import streamlit as st

from tal.ui import guard, studies

st.title("Ablation studies")
st.caption(
    "Which branch helps, by how much, at what cost? Choose configurations, λ values and seeds; the study trains "
    "them one after another in the background (reusing runs that already exist) and fills in mean ± std and "
    "the seed-noise verdict as runs arrive."
)

with guard.page_guard("the Studies page"):
    job = studies.current_job()
    error = studies.take_error()
    if error:
        st.error(error, icon=":material/error:")
    running = job is not None and job.active
    with st.container(border=True):  # always drawn, so the design survives while a study runs
        plan = studies.designer()
        if running:
            st.caption(":material/hourglass_top: A study of this session is running below; start the next one "
                       "when it has ended.")
        elif plan is not None and studies.plan_summary(plan):
            address = studies.where_to_run()
            st.button("Start the study", type="primary", on_click=studies.start, args=(plan, address),
                      icon=":material/play_arrow:", key=studies.KEY + "start")
    studies.live()
    st.divider()
    studies.saved_studies()
