"""Predict: drop images; each gets its model-size input, prediction and maps (or its own error)."""

import streamlit as st

from tal.data.inputs import describe
from tal.ui import guard, pickers, views

st.title("Predict your own images")

with guard.page_guard("the Predict page"):
    runs = pickers.runs_or_stop()
    run = pickers.run_picker(runs, key="predict.run")
    st.caption(
        "Drag in one or many images (PNG, JPEG, BMP, GIF, TIFF, WebP). Each is prepared as this run's training "
        f"images were — {describe(run.train_config.data, run.model_config.input_shape)} — and shown as the "
        "model sees it."
    )
    views.predict_view(run)  # a fragment: new files re-run only the uploader and the results
