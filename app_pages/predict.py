"""Predict: drop digit images; each gets its model-size input, prediction and maps (or its own error)."""

import streamlit as st

from tal.ui import guard, pickers, views

st.title("Predict your own digits")
st.caption(
    "Drag in one or many images (PNG, JPEG, BMP, GIF, WebP). Each is converted the MNIST way — "
    "grayscale, light digit on black, long side 20 px, centred by mass — and shown as the model sees it."
)

with guard.page_guard("the Predict page"):
    runs = pickers.runs_or_stop()
    run = pickers.run_picker(runs, key="predict.run")
    views.predict_view(run)  # a fragment: new files re-run only the uploader and the results
