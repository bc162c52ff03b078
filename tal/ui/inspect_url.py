"""Inspect's view in the page URL, so that a view can be shared or bookmarked (as the Train form is).

    /inspect?run=mnist-scale_channel_element&image=class&class=7&nth=2&whatif=A&overlay=1

`run`: the run's name (this registry's runs before the shipped demos, as `tal.runs.load_run` finds
them). `image`: how the image is chosen, one of class (with `class`, a class name, and `nth`, which
of its test images, from 1), misclassified (`nth`: which mistake), number (`number`: its position in
the test set), random (`number`: the image drawn) and upload (a file is not in a link). `whatif`: the
what-ifs switched on, by the map each one sets (`A`, `M`, `channel_gate`, `scale_weights`),
comma-separated. `overlay` and `hover`: 1 or 0 (the display switches).

A parameter is read when its widget has no state yet, which is the first load of the page, and
seeds it; from then on the widgets lead and every script run writes what they show back into the
URL (the switches and the run with the page, the image with the image view's fragment). A value
that cannot be used gives a warning and its default, never an error.
"""

from __future__ import annotations

import streamlit as st

from tal.ui import maps, pickers, whatif
from tal.ui.query import Field, ignored, parse

RUN = ("run",)
SWITCHES = ("whatif", "overlay", "hover")
IMAGE = ("image", "class", "nth", "number")


def params() -> dict[str, str]:
    """The URL's query parameters (the last value of a repeated one)."""
    return {k: st.query_params.get(k) for k in st.query_params}


def keep(values: dict, names: tuple) -> None:
    """Write `values` into the URL, and remove the parameters of `names` they leave out. Unchanged
    values are not written again (each write is a message to the browser)."""
    for name in names:
        if name in values:
            if st.query_params.get(name) != values[name]:
                st.query_params[name] = values[name]
        elif name in st.query_params:
            del st.query_params[name]


def open_run(runs: list, *, key: str) -> None:
    """The run a link names becomes the one the run picker `key` starts from (on the first load only)."""
    name = params().get("run")
    if name is None or key in st.session_state:
        return
    found = [r for r in runs if r.name == name]
    if found:
        pickers.select_run(found[0].path)
    else:
        st.warning(ignored("run", name, "no run of that name here", "the run below"), icon=":material/link_off:")


def keep_run(run) -> None:
    keep({"run": run.name}, RUN)


def open_switches(model, model_config, *, key: str) -> None:
    """Switch on the what-ifs and display switches a link names, where they have no state yet."""
    given = params()
    warnings = []
    if "whatif" in given:
        known = {iv.output: f"{key}.whatif.{iv.output}" for _, iv in whatif.available(model)}
        if not any(widget in st.session_state for widget in known.values()):
            asked = [name.strip() for name in given["whatif"].split(",") if name.strip()]
            unknown = [name for name in asked if name not in known]
            if unknown:
                reason = (f"this model's what-ifs are {', '.join(known)}" if known
                          else "this model has no what-ifs")
                warnings.append(ignored("whatif", ",".join(unknown), reason, "those off"))
            for output, widget in known.items():
                st.session_state[widget] = output in asked
    for name, widget in (("overlay", f"{key}.overlay"), ("hover", f"{key}.interactive")):
        if name not in given or widget in st.session_state:
            continue
        try:
            on = parse(Field(name, "bool", False, name), given[name])
        except ValueError as exc:
            warnings.append(ignored(name, given[name], exc, "off"))
            continue
        if maps.config_has_class_grid(model_config):  # else the switch is not drawn
            st.session_state[widget] = on
        elif on:
            warnings.append(ignored(name, given[name], "this model has no per-class maps", "off"))
    for text in warnings:
        st.warning(text, icon=":material/link_off:")


def keep_switches(chosen: dict, overlay: bool, interactive: bool) -> None:
    """The what-ifs on (`chosen`, by map) and the display switches, into the URL (only those on)."""
    values = {"whatif": ",".join(chosen)} if chosen else {}
    values.update({name: "1" for name, on in (("overlay", overlay), ("hover", interactive)) if on})
    keep(values, SWITCHES)


def open_image(test, predictions, *, key: str) -> None:
    """The image a link names, in the test-image picker `key` (on the first load only)."""
    for text in pickers.open_image_link(test, predictions, params(), key=key):
        st.warning(text, icon=":material/link_off:")


def keep_image(test, *, key: str) -> None:
    keep(pickers.image_link(test, key=key), IMAGE)
