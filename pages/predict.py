"""Predict: drop digit images; each gets its model-size input, prediction and maps (or its own error)."""

import time

import streamlit as st

import tal
from tal.ui import guard, loaders, maps, pickers, router
from tal.ui.guard import show_error

router.ensure_app_ran()
st.title("Predict your own digits")
st.caption(
    "Drag in one or many images (PNG, JPEG, BMP, GIF, WebP). Each is converted the MNIST way — "
    "grayscale, light digit on black, long side 20 px, centred by mass — and shown as the model sees it."
)

with guard.page_guard("the Predict page"):
    runs = pickers.runs_or_stop()
    run = pickers.run_picker(runs, key="predict.run")
    files = st.file_uploader(
        "Digit images",
        type=pickers.UPLOAD_TYPES,
        accept_multiple_files=True,
        key="predict.files",
        help="Several files at once are fine; a bad file only affects itself.",
    )
    if not files:
        st.info(
            "Drop one or more digit images above — a photo of a handwritten digit, a scan or a drawing.",
            icon=":material/upload_file:",
        )
        st.stop()
    model = loaders.load_model_or_stop(run)
    side = run.model_config.input_shape[0]
    started = time.perf_counter()
    uploads = pickers.prepare_uploads(files, side)
    good = [u for u in uploads if u.error is None]
    outputs = (
        tal.inspect(model, [u.image for u in good], prediction=run.model_config.prediction)
        if good
        else None
    )
    bad = [u.name for u in uploads if u.error is not None]
    st.caption(
        f"{len(good)} of {len(uploads)} file(s) could be read."
        + (f" Not usable (reasons below): {', '.join(bad)}." if bad else "")
    )
    k = 0
    for n, upload in enumerate(uploads):
        with st.container(border=True):
            st.markdown(f"**{upload.name}**")
            if upload.error is not None:
                show_error(upload.error, upload.details)
                continue
            maps.prediction_summary(
                outputs,
                k,
                key=f"predict.{n}",
                image=upload.image,
                caption=f"The {side}×{side} input the model sees."
                + "".join(f" {note}." for note in upload.notes),
            )
            with st.expander("Attention maps", expanded=len(good) == 1):
                maps.attention_maps(
                    outputs, k, image=upload.image, key=f"predict.{n}", equation=False
                )
            k += 1
    st.caption(
        f":material/timer: preprocessing, forward pass and figures for {len(uploads)} file(s): "
        f"{(time.perf_counter() - started) * 1000:.0f} ms · whole script run {router.run_ms():.0f} ms "
        "(server side)"
    )
