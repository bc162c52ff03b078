"""Inspect: one image through one model — probabilities, per-class A and S maps, gates, mask, equation."""

import streamlit as st

import tal
from tal.ui import downloads, guard, inspect_url, loaders, pickers, views

st.title("Inspect the attention maps")
st.caption(
    "Pick a trained model and an image. Every map the model's branches produce is shown for all "
    "classes at once, on shared colour scales."
)

with guard.page_guard("the Inspect page"):
    runs = pickers.runs_or_stop()
    inspect_url.open_run(runs, key="inspect.run")  # a shared link's run, on the first load
    run = pickers.run_picker(runs, key="inspect.run")
    inspect_url.keep_run(run)  # the URL names the run shown (tal.ui.inspect_url: run, image, switches)
    model = loaders.load_model_or_stop(run)
    files = st.columns([1, 1, 2])
    downloads.model_file(files[0], run, key="inspect.dl_model")
    downloads.keras_code(files[1], run, key="inspect.dl_code")
    data_config = loaders.data_config_of(run)
    test = None
    try:
        with st.spinner(f"Loading the {data_config.dataset} test set…"):
            test = loaders.test_set(data_config)
    except tal.DataNotFoundError as exc:
        st.warning(
            f"The {data_config.dataset} test images are unavailable, so only uploads can be inspected.\n\n"
            f"{exc}",
            icon=":material/database_off:",
        )
    views.inspect_view(run, model, test)  # switches, then a fragment: a new image re-runs only picker and view
    views.timeline_view(run)  # the probe images' maps over training, with a step slider
