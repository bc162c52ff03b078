"""Train: configure a model, start and stop a background run, watch it live, download it."""

import streamlit as st

from tal.ui import guard, train_form, train_panel

st.title("Train a model")
st.caption(
    "Switch attention branches on and off, train on (a subset of) MNIST or on your own images in the background and watch "
    "the curves. The configuration is in the page URL: copy it to share this setup."
)

with guard.page_guard("the Train page"):
    with st.container(border=True):
        train_form.render()
    train_panel.probe_uploader()
    train_panel.buttons()
    train_panel.live()
