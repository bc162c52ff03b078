"""Train: configure a model, start and stop a background run, watch it live, download it."""
import streamlit as st

from tal.ui import guard, train_form, train_panel

st.title("Train a model")
st.caption("Switch attention branches on and off, train on (a subset of) MNIST in the background and watch "
           "the curves. The configuration is in the page URL: copy it to share this setup.")

with guard.page_guard("the Train page"):
    with st.container(border=True):
        train_form.render()
        c1, c2 = st.columns([5, 1])
        c2.button("Reset to defaults", key="train.reset", on_click=train_form.reset, icon=":material/restart_alt:")
    train_panel.buttons()
    train_panel.live()
