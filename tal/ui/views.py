"""The image views of Inspect and Predict, each a fragment.

Choosing another image (or uploading files) re-runs only the view: the
sidebar, the run picker and the page around it are neither recomputed on the
server nor redrawn in the browser. A change of run still re-runs the whole
page, which hands the view its new model. A fragment re-runs outside the
page's guard, so each view has its own (`guard.guarded_fragment`).
"""

from __future__ import annotations

import time

import numpy as np
import streamlit as st

from tal.render import templates, view_html
from tal.ui import html_view, inspect_url, maps, pickers, router, state, whatif
from tal.ui.guard import guarded_fragment, show_error


def timing_caption(parts: str, started: float) -> None:
    """'Update N: … · page computed in N ms · whole script run M ms (server side)'; on a
    fragment re-run the script run is this view alone. N counts this session's view
    updates, so two updates that took the same time still read differently."""
    view_ms = (time.perf_counter() - started) * 1000
    if router.fragment_rerun():
        run = f"only this view re-ran: {view_ms:.0f} ms"
    else:
        run = f"whole script run {router.run_ms():.0f} ms"
    st.session_state[state.VIEW_UPDATES] = n = st.session_state.get(state.VIEW_UPDATES, 0) + 1
    st.caption(f":material/timer: Update {n}: {parts} · page computed in {view_ms:.0f} ms · {run} (server side)")


def inspect_view(run, model, test, *, key: str = "inspect") -> None:
    """The switches (what-ifs, display, the test-set table), then the image picker and the view (a fragment).

    Switches and image start from a shared link and are kept in the URL (`tal.ui.inspect_url`).
    The switches stay outside the fragment: changing one re-runs the page, while a new image re-runs only
    the picker and the view, which keeps the browser's work per image small (see `tal.ui.html_view`).
    """
    inspect_url.open_switches(model, run.model_config, key=key)  # a link's switches, on the first load
    chosen = whatif.controls(model, key=key)
    overlay, interactive = maps.display_toggles(run.model_config, key=key)
    inspect_url.keep_switches(chosen, overlay, interactive)
    if test is not None and whatif.available(model):
        whatif.score_table(run, key=key)
    guarded_fragment(_inspect, "the Inspect page", no_fade=key)(run, model, test, key, chosen, overlay, interactive)


def _inspect(run, model, test, key, chosen, overlay, interactive) -> None:
    import tal
    from tal.ui import loaders

    side = run.model_config.input_shape[0]
    data_config = loaders.data_config_of(run)
    predictions = lambda: loaders.test_predictions(run, data_config)  # noqa: E731
    inspect_url.open_image(test, predictions, key=key)  # a link's image, on the first load
    choice = pickers.test_image_picker(test, predictions, key=key,
                                       upload_for=(run.train_config.data, run.model_config.input_shape))
    inspect_url.keep_image(test, key=key)
    if choice is None:
        return
    started = time.perf_counter()
    outputs = tal.inspect(model, choice.image, prediction=run.model_config.prediction)
    altered = (tal.inspect(model, choice.image, prediction=run.model_config.prediction, interventions=chosen)
               if chosen else None)
    forward_ms = (time.perf_counter() - started) * 1000
    names = test.class_names if test else None
    before = templates.join(view_html.small(f"ℹ️ {note}") for note in choice.notes)
    before += maps.summary_html(
        outputs,
        0,
        true_label=choice.label,
        class_names=names,
        image=choice.image,
        box=choice.box,
        objects=choice.objects,
        caption=f"{choice.description}; the {side}×{side} input the model sees" + _boxes_caption(run, choice),
    )
    if altered is not None:
        before += whatif.comparison_html(outputs, altered, 0, chosen, class_names=names, true_label=choice.label)
    before += view_html.heading("Attention" + (" — with the interventions" if altered is not None else ""))
    maps.show_attention(altered if altered is not None else outputs, 0, key=key, before=before, image=choice.image,
                        class_names=names, objects=choice.objects, overlay=overlay, interactive=interactive)
    passes = "forward passes" if altered is not None else "forward pass"
    timing_caption(f"{passes} {forward_ms:.0f} ms", started)


def _boxes_caption(run, choice) -> str:
    """What the boxes drawn on the input are: digits' boxes, the ink's box, or one's own images' boxes."""
    objects = choice.objects
    if run.train_config.data.own:
        has = objects is not None and (np.asarray(objects)[..., 0] >= 0).any()
        return " (each box from the box table in its class's colour)." if has else "."
    return " (each digit's box in its class colour)." if objects is not None else " (dotted: the ink's bounding box)."


def predict_view(run, *, key: str = "predict") -> None:
    """The display switches, then the uploader and one result card per file (a fragment)."""
    overlay, interactive = maps.display_toggles(run.model_config, key=key)
    guarded_fragment(_predict, "the Predict page", no_fade=key)(run, key, overlay, interactive)


def _predict(run, key, overlay, interactive) -> None:
    import tal
    from tal.engine import novelty
    from tal.ui import loaders

    own = run.train_config.data.own
    files = st.file_uploader(
        "Images" if own else "Digit images",
        type=pickers.UPLOAD_TYPES,
        accept_multiple_files=True,
        key=f"{key}.files",
        help="Several files at once are fine; a bad file only affects itself.",
    )
    if not files:
        st.info(
            f"Drop one or more images like this run's training images ({', '.join(run.class_names[:6])}"
            f"{' …' if len(run.class_names) > 6 else ''}) above." if own else
            "Drop one or more digit images above — a photo of a handwritten digit, a scan or a drawing.",
            icon=":material/upload_file:",
        )
        return
    model = loaders.load_model_or_stop(run)
    side = run.model_config.input_shape[0]
    started = time.perf_counter()
    uploads = pickers.prepare_uploads(files, run.train_config.data, run.model_config.input_shape)
    good = [u for u in uploads if u.error is None]
    outputs = (
        tal.inspect(model, [u.image for u in good], prediction=run.model_config.prediction)
        if good
        else None
    )
    bad = [u.name for u in uploads if u.error is not None]
    reference = loaders.novelty_reference(run) if good else None
    unusual = reference.score([u.image for u in good]) if reference is not None else [None] * len(good)
    st.caption(
        f"{len(good)} of {len(uploads)} file(s) could be read."
        + (f" Not usable (reasons below): {', '.join(bad)}." if bad else "")
        + ("" if reference is not None or not good else
           " (The run's training images are not on this machine, so there is no hint for inputs unlike them.)")
    )
    k = 0
    for n, upload in enumerate(uploads):
        with st.container(border=True):
            st.markdown(f"**{upload.name}**")
            if upload.error is not None:
                show_error(upload.error, upload.details)
                continue
            html_view.show(maps.summary_html(
                outputs, k, image=upload.image, class_names=run.class_names,
                caption=f"The {side}×{side} input the model sees." + "".join(f" {note}." for note in upload.notes),
                note=None if unusual[k] is None else novelty.hint(unusual[k], reference.train_images),
            ), key=f"{key}.{n}.summary")
            with st.expander("Attention maps", expanded=len(good) == 1):
                maps.show_attention(outputs, k, key=f"{key}.{n}", image=upload.image, equation=False,
                                    class_names=run.class_names, overlay=overlay, interactive=interactive)
            k += 1
    timing_caption(
        f"preprocessing, forward pass and figures for {len(uploads)} file(s)", started
    )


def timeline_view(run, *, key: str = "inspect.timeline") -> None:
    """Replay the probe images' maps over training with a step slider (a fragment)."""
    guarded_fragment(_timeline, "the map timeline")(run, key)


def _timeline(run, key) -> None:
    from tal.engine.timeline import snapshot_at
    from tal.ui import loaders
    from tal.ui.train_panel import live_maps

    st.subheader("Over training")
    timeline = loaders.timeline(run)
    if timeline is None:
        st.caption(":material/history_toggle_off: This run was saved without a map timeline (older runs, or "
                   "trained with the timeline off), so only its final maps above can be shown.")
        return
    steps = [int(s) for s in timeline["steps"]]
    if len(steps) == 1:
        chosen = steps[0]
    else:
        slider, shown = f"{key}.step", f"{key}{state.REPLAY_RUN}"
        # another run (or a step it lacks): start from its last snapshot, the saved model. Seeded here,
        # never as value= too; the slider's key stays the same, so the position must be reset by hand
        if st.session_state.get(shown) != str(run.path) or st.session_state.get(slider) not in steps:
            st.session_state[slider] = steps[-1]
        st.session_state[shown] = str(run.path)
        chosen = st.select_slider("Training step", steps, key=slider,
                                  help="Each snapshot of the probe images; the last one is the saved model.")
    t = steps.index(chosen)
    live_maps(snapshot_at(timeline, t), caption_prefix=f"Snapshot {t + 1} of {len(steps)}")
