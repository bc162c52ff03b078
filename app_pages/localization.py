"""Localization: do the attention maps point at the right place? Scores against the boxes (digits' or a box table's)."""

import streamlit as st

from tal.ui import guard, localization, pickers

st.title("Do the maps point at the right place?")
st.caption(
    "Every class present in a test image has a box (a digit's, or one from your images' box table). A map localizes well when its peak falls in that box "
    "(pointing game) and its mass lies inside it (energy), well above what a flat map would score. "
    "Multidigit canvases, A3Net's multi-label setting, are where per-class maps have most to find."
)

with guard.page_guard("the Localization page"):
    runs = pickers.runs_or_stop()
    chosen = localization.choose_runs(runs)
    c1, c2 = st.columns([2, 1])
    images = c1.select_slider("Test images", (100, 200, 300, 500, 1000, 2000), value=300, key="localize.images",
                              help="The first images of each run's test set. More images: steadier scores, "
                                   "slower (Grad-CAM needs one backward pass per class).")
    sanity = c2.toggle("Sanity check (random weights)", value=True, key="localize.sanity",
                       help="Also compute every map with the same architecture, untrained, and compare.")
    if not chosen:
        st.info("Choose at least one run above.", icon=":material/checklist:")
        st.stop()
    results = localization.score_runs(chosen, images, sanity)
    if not results:
        st.stop()
    localization.summary(results)
    st.subheader("Per class")
    localization.per_class(results, chosen)
    st.subheader("Hits and misses")
    st.caption("Look at where a map went wrong (or right), then open the image on Inspect to see every map.")
    localization.hits_and_misses(results, chosen)
