"""Compare: runs side by side — configuration and results, curves, accuracy, confusion, maps."""

import streamlit as st

from tal.render import figures as viz
from tal.ui import compare, guard, loaders, pickers, tables

st.title("Compare runs")
st.caption(
    "Ablations side by side: which branches, which λ, how many parameters, how long, how accurate."
)

with guard.page_guard("the Compare page"):
    compare.ablation_studies(loaders.runs_root())
    st.divider()
    st.subheader("Single runs")
    runs = pickers.runs_or_stop()
    chosen = compare.choose_runs(runs)
    if not chosen:
        st.info("Choose at least one run above.", icon=":material/checklist:")
        st.stop()

    labels = compare.aliases(chosen)
    names = {label: r.name for label, r in zip(labels, chosen)}
    st.markdown("**Configuration and results**")
    if shared := compare.shared_parts(chosen):
        st.caption(f"The labels leave out what all the chosen names share: {shared} (hover a label, or a "
                   "column's header, for the full name).")
    rows = tables.drop_empty_columns(tables.run_rows(chosen))
    if len(chosen) <= compare.TURN_TABLE_UP_TO:  # a column per run: fits the width
        turned = compare.table(rows, labels)
        st.dataframe(turned, hide_index=True, key="compare.table", height=compare.table_height(len(turned)),
                     column_config={label: st.column_config.Column(help=text)
                                    for label, text in compare.table_help(chosen, labels).items()})
    else:
        percent = st.column_config.NumberColumn(format="percent")
        st.dataframe(
            rows,
            hide_index=True,
            key="compare.table",
            column_config={
                "test accuracy": percent,
                "aux test accuracy": percent,
                "exact match": percent,
                "params": st.column_config.NumberColumn(format="localized"),
            },
        )
    for key, title, fmt in (
        ("per_class_accuracy", "Per-class test accuracy", "percent"),
        ("per_class_auc", "Per-class ROC AUC (multi-label runs)", "%.3f"),
    ):
        per_class = tables.per_class_rows(chosen, key=key)
        if per_class:
            st.markdown(f"**{title}**")
            st.dataframe(
                per_class,
                hide_index=True,
                key=f"compare.{key}",
                column_config={
                    name: st.column_config.NumberColumn(format=fmt) for name in per_class[0] if name != "run"
                },
            )

    c1, c2 = st.columns([3, 2])
    with c1:
        st.plotly_chart(
            viz.accuracy_curves_figure({label: r.history for label, r in zip(labels, chosen)}, names=names),
            key="compare.curves",
        )
    with c2:
        st.plotly_chart(viz.scores_figure(compare.headline_scores(chosen, labels), height=320), key="compare.bar")
        st.caption("Each kind of score has its own axis, zoomed to the scores, so close ones stay apart.")

    st.subheader("Confusion matrices")
    st.caption(
        "Rows: true class; columns: predicted class; each row normalised to 1 (hover for counts)."
    )
    matrices = {
        label: r.metrics["confusion_matrix"] for label, r in zip(labels, chosen) if r.metrics.get("confusion_matrix")
    }
    if matrices:
        st.plotly_chart(
            viz.confusion_figure(matrices, height=320 if len(matrices) < 4 else 260, full_names=names),
            key="compare.confusion",
        )

    st.subheader("The same image across runs")
    compare.same_image_maps(chosen)
    compare.maps_over_training(chosen)
