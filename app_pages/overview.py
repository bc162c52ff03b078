"""Overview: where to start (every page, from the page table), then what triple attention is, the data
flow and the equations."""

import streamlit as st

from tal.ui import guard, theory

st.title("Triple Attention Learning, explained")
st.caption(
    "A3Net (Wang et al., 2021) combines three attention mechanisms on top of a CNN backbone. "
    "This explorer trains small versions on handwritten digits so that every map can be seen."
)

with guard.page_guard("the overview"):
    st.subheader("Start here")
    st.markdown(theory.START_HERE)
    for path, title, icon, text in theory.page_guide():
        link, what = st.columns([1, 5], vertical_alignment="center")
        link.page_link(path, label=f"**{title}**", icon=icon)
        what.markdown(text)

    st.subheader("What triple attention is")
    st.markdown(
        "A CNN backbone turns the image into feature maps at several scales. **Triple attention** then "
        "decides, for each image, **which scales** to trust (scale-wise), **which feature channels** to "
        "amplify (channel-wise) and **where, for each class,** the evidence lies (element-wise). The "
        "element-wise branch also has its own classifier, an *auxiliary head*, trained together with the "
        "main head. Each branch can be switched off to measure what it adds."
    )
    st.subheader("Data flow")
    st.graphviz_chart(theory.dataflow_dot(), width="stretch")
    st.caption(
        "Every attention box is a toggle on the Train page (dashed: off by default — CBAM and one extra "
        "module from the literature, for comparison); with all of them off the model is the plain baseline "
        "of the same backbone."
    )

    st.subheader("The equations")
    st.caption(
        "Notation: backbone features X of shape (H, W, K), C classes, σ the logistic sigmoid, ⊙ the "
        "element-wise product. Badges give the provenance of each piece."
    )
    for eq in theory.EQUATIONS:
        with st.container(border=True):
            st.markdown(f"**{eq.title}** &nbsp; {theory.badge_markdown(eq.badges)}")
            for line in eq.latex:
                st.latex(line)
            st.markdown(eq.text)
            st.caption(f":material/visibility: In the app — {eq.where}")

    st.subheader("Other attention modules, for comparison")
    st.caption(
        "Each can be added as the *extra module* on the Train page (alone or with the three branches), "
        "is compared in `python -m tal ablate --preset zoo`, and shows its maps on Inspect."
    )
    for eq in theory.LITERATURE:
        with st.expander(f"{eq.title}"):
            st.markdown(theory.badge_markdown(eq.badges))
            for line in eq.latex:
                st.latex(line)
            st.markdown(eq.text)
            st.caption(f":material/visibility: In the app — {eq.where}")

    with st.expander("References and badges"):
        for badge, text in theory.REFERENCES:
            st.markdown(f"{theory.badge_markdown([badge])} {text}")
