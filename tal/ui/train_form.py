"""The Train form: every setting, initialised from the URL, mirrored back into it.

Widget values live under `train.<field>` keys. Streamlit forgets the state of
widgets that are not drawn, so the values are also kept in
`st.session_state[state.FORM]`, which survives visits to other pages.
"""

from __future__ import annotations

from types import SimpleNamespace

import streamlit as st

from tal.core import catalogue
from tal.core.config import CANVAS_DEFAULTS, OWN_DATASETS
from tal.ui import own_data, query, state


def _key(name: str) -> str:
    return state.WIDGET_PREFIX + name


def initial_values() -> dict:
    """This session's form values: kept from earlier, else from the URL (with warnings), else defaults."""
    if state.FORM not in st.session_state:
        params = st.query_params.to_dict()
        values, warnings = query.decode(params)
        st.session_state[state.FORM] = values
        st.session_state[state.FORM_WARNINGS] = warnings
        st.session_state[state.FORM_NOTE] = None if "dataset" in params else _offline_default(values)
    return dict(st.session_state[state.FORM])


def _offline_default(values: dict) -> str | None:
    """With no MNIST on this machine the form starts on the synthetic digits, so the first Start trains.

    Only when the URL names no dataset (a shared link keeps its choice). Returns the note to show.
    """
    from tal.ui.loaders import mnist_status

    if mnist_status()[0]:
        return None
    values["dataset"] = "synthetic"
    return ("MNIST is not on this machine, so the form starts on the **synthetic** digits (font-rendered, "
            "generated here; not MNIST). To train on MNIST, put its files in a folder, set `TAL_DATA_DIR` to "
            "that folder and restart the app.")


def _widget(field: query.Field, *, disabled: bool = False, container=st):
    key = _key(field.name)
    kw = dict(key=key, help=field.help or None, disabled=disabled)
    if field.kind == "bool":
        return container.toggle(field.label, **kw)
    if field.kind == "choice":
        if len(field.choices) <= 4:
            return container.radio(field.label, field.choices, horizontal=True, **kw)
        return container.selectbox(field.label, field.choices, **kw)
    if field.kind == "str":
        return container.text_input(field.label, max_chars=field.max_chars, placeholder=field.placeholder or None, **kw)
    if field.name == "aux_weight":
        return container.slider(field.label, float(field.min), float(field.max), step=0.05, **kw)
    if field.kind == "int":
        return container.number_input(
            field.label, _bound(field.min, int), _bound(field.max, int), step=_int_step(field), **kw
        )
    if field.name == "learning_rate":
        return container.number_input(
            field.label, _bound(field.min, float), _bound(field.max, float), step=1e-4, format="%.5f", **kw
        )
    return container.number_input(
        field.label, _bound(field.min, float), _bound(field.max, float), step=0.05, format="%.2f", **kw
    )


def _bound(value, kind):
    return None if value is None else kind(value)


def _int_step(field) -> int:
    return {
        "train_size": 500,
        "test_size": 500,
        "batch_size": 16,
        "element_width": 8,
        "canvas_size": 4,
    }.get(field.name, 1)


def render() -> dict:
    """Draw the form; returns the current values (also written to the URL)."""
    values = initial_values()
    spec = query.field_map()
    drawn: set[str] = set()

    def draw(name: str, **kw):
        drawn.add(name)
        return _widget(spec[name], **kw)

    def draw_rest(group: str):  # form fields of this group without a place in the layout below
        for name, field in spec.items():
            if field.group == group and name not in drawn:
                draw(name, disabled=name in unused)

    for name, value in {**query.defaults(), **values}.items():  # seed widgets once; never pass value= as well
        if _key(name) not in st.session_state:
            st.session_state[_key(name)] = value
    for warning in st.session_state.get(state.FORM_WARNINGS, []):
        st.warning(warning, icon=":material/link_off:")
    if st.session_state.get(state.FORM_NOTE) and st.session_state.get(_key("dataset")) == "synthetic":
        st.info(st.session_state[state.FORM_NOTE], icon=":material/database_off:")

    st.markdown("##### Attention branches")
    toggles = catalogue.toggles()
    for col, name in zip(st.columns(len(toggles)), toggles):
        draw(name, container=col)
    draw("extra_attention")
    # settings read only by modules that are off are greyed out (the catalogue says who reads what)
    chosen = SimpleNamespace(**{n: st.session_state[_key(n)] for n in (*toggles, "extra_attention")})
    unused = catalogue.module_settings() - catalogue.settings_in_use(chosen)

    c1, c2, c3 = st.columns(3)
    draw("aux_weight", disabled="aux_weight" in unused, container=c1)
    draw("element_width", disabled="element_width" in unused, container=c2)
    draw("reduction_ratio", disabled="reduction_ratio" in unused, container=c3)
    c1, c2 = st.columns([2, 1])
    draw("feature_mode", disabled="feature_mode" in unused, container=c1)
    draw("backbone", container=c2)
    greyed = [spec[n].label for n in spec if n in unused]
    if greyed:
        st.caption(f"Greyed out ({', '.join(greyed)}): only the attention modules that are off read them.")

    draw_rest("model")

    st.markdown("##### Data")
    c1, c2, c3 = st.columns([2, 1, 1])
    draw("dataset", container=c1)
    draw("train_size", container=c2)
    draw("test_size", container=c3)
    c1, c2 = st.columns(2)
    draw("val_fraction", container=c1)
    dataset = st.session_state[_key("dataset")]
    if dataset in OWN_DATASETS:
        drawn.add("canvas_size")  # only the digit canvases have one
        own_data.render(draw, dataset, drawn.add)
    else:
        own_data.skip(drawn.add)
        draw("canvas_size", disabled=dataset not in CANVAS_DEFAULTS, container=c2)  # only canvases have a size

    if st.session_state[_key("dataset")] == "multidigit":
        st.caption(
            ":material/grid_view: **Multidigit**: 1–3 digits per 64×64 canvas, several labels per image "
            "(A3Net's multi-label setting): sigmoid heads, class-weighted binary cross-entropy, ROC AUC in place "
            "of accuracy. A canvas costs about 6× an MNIST digit to train on; a few thousand canvases and "
            "3 epochs are enough to watch each class's A map find its digit."
        )
    draw_rest("data")
    if dataset in OWN_DATASETS:
        _preview()

    st.markdown("##### Training")
    c1, c2, c3, c4 = st.columns(4)
    for col, name in zip((c1, c2, c3, c4), ("epochs", "batch_size", "learning_rate", "seed")):
        draw(name, container=col)
    with st.expander("Optimizer, schedule and class weighting"):
        c1, c2, c3 = st.columns(3)
        for col, name in zip((c1, c2, c3), ("optimizer", "lr_schedule", "class_weighting")):
            draw(name, container=col)
    draw_rest("train")
    draw("name")
    name_note(st.session_state[_key("name")])

    values = {name: st.session_state[_key(name)] for name in spec}
    st.session_state[state.FORM] = values
    st.query_params.from_dict(query.encode(values))
    return values


def _preview() -> None:
    """What the own-images source holds, or why its settings are not complete yet."""
    from tal.core.config import ConfigError

    try:
        _, train_config, _ = query.to_configs({name: st.session_state[_key(name)] for name in query.field_map()})
    except ConfigError as exc:
        st.caption(f":material/edit_note: {exc}")
        return
    own_data.preview(train_config)


def name_note(name) -> None:
    """Say under the name field, before Start, what the run will be saved as (the app never replaces a run)."""
    from tal.core.config import ConfigError
    from tal.engine.registry import free_name, safe_name
    from tal.ui.loaders import runs_root

    name = str(name or "").strip()
    if not name:
        return
    try:
        cleaned, free = safe_name(name), free_name(name, runs_root())
    except ConfigError as exc:
        st.warning(str(exc), icon=":material/edit_off:")
        return
    if free != cleaned:
        st.info(f"A run called **{cleaned}** exists already: Start keeps it and saves this run as **{free}**.",
                icon=":material/file_copy:")
    elif cleaned != name:
        st.caption(f"Saved as **{cleaned}** (a folder name: letters, digits, '.', '_' and '-').")


def current_values() -> dict:
    """The values the widgets hold right now (used by the Start callback)."""
    values = initial_values()
    for name in query.field_map():
        if _key(name) in st.session_state:
            values[name] = st.session_state[_key(name)]
    return values


def reset() -> None:
    """Back to the defaults (a button callback)."""
    for name, value in query.defaults().items():
        st.session_state[_key(name)] = value
    st.session_state[state.FORM] = query.defaults()
    clear_warnings()


def clear_warnings() -> None:
    """Forget the URL's problems shown above the form (they were answered: a reset, a start)."""
    st.session_state[state.FORM_WARNINGS] = []


def set_fields(**values) -> None:
    """Put these values into the form's fields (a callback's: before the widgets are drawn)."""
    form = dict(st.session_state.get(state.FORM) or query.defaults())
    for name, value in values.items():
        st.session_state[_key(name)] = value
        form[name] = value
    st.session_state[state.FORM] = form


def switch_to_synthetic(note: str) -> None:
    """Put the form on the synthetic digits, with `note` above it saying why (a button callback)."""
    st.session_state[_key("dataset")] = "synthetic"
    st.session_state[state.FORM_NOTE] = note
