"""Inspect: one image through one model — probabilities, per-class A and S maps, gates, mask, equation."""

import time

import streamlit as st

import tal
from tal.ui import guard, loaders, maps, pickers, router

router.ensure_app_ran()
st.title("Inspect the attention maps")
st.caption(
    "Pick a trained model and an image. Every map the model's branches produce is shown for all "
    "classes at once, on shared colour scales."
)

with guard.page_guard("the Inspect page"):
    runs = pickers.runs_or_stop()
    run = pickers.run_picker(runs, key="inspect.run")
    model = loaders.load_model_or_stop(run)
    side = run.model_config.input_shape[0]
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

    choice = pickers.test_image_picker(
        test, lambda: loaders.test_predictions(run, data_config), key="inspect", upload_size=side
    )
    if choice is None:
        st.stop()
    started = time.perf_counter()
    outputs = tal.inspect(model, choice.image, prediction=run.model_config.prediction)
    forward_ms = (time.perf_counter() - started) * 1000
    for note in choice.notes:
        st.caption(f":material/info: {note}")
    maps.prediction_summary(
        outputs,
        0,
        true_label=choice.label,
        class_names=test.class_names if test else None,
        key="inspect",
        image=choice.image,
        box=choice.box,
        caption=f"{choice.description}; the {side}×{side} input the model sees "
        "(dotted: the ink's bounding box).",
    )
    st.subheader("Attention")
    maps.attention_maps(outputs, 0, image=choice.image, key="inspect")
    st.caption(
        f":material/timer: forward pass {forward_ms:.0f} ms · page computed in "
        f"{(time.perf_counter() - started) * 1000:.0f} ms · whole script run {router.run_ms():.0f} ms "
        "(server side)"
    )
