"""The Train form's fields, and their round trip through the page URL.

One `Field` per setting, derived from the metadata of the config fields
that name a form group (`tal.core.config.setting(..., form=...)`): label,
help, bounds, choices and default are declared there once, never here. The
run name is the one form-only field. The same table drives the widgets
(`tal.ui.train_form`), the URL (`encode` / `decode`, so a configuration can
be shared as a link) and the configs (`to_configs`). UI-free.

Invalid URL values never raise: `decode` falls back to the default and
returns a warning saying what was ignored.
"""

from __future__ import annotations

import math
import typing
from dataclasses import dataclass
from typing import Mapping

from tal.core import config
from tal.core.config import DataConfig, ModelConfig, TrainConfig

# The configs the form fills; each form value goes to the one that declares it.
CONFIGS = (ModelConfig, DataConfig, TrainConfig)

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class Field:
    """One form setting: `kind` is "bool", "int", "float", "choice" or "str"."""

    name: str
    kind: str
    default: object
    label: str
    help: str = ""
    min: float | None = None
    max: float | None = None
    choices: tuple = ()
    group: str = "model"
    names: bool = False  # a tuple of names in its config, comma-separated on the form and in links
    placeholder: str = ""
    max_chars: int = 300


# The one form-only field: the run's folder name in the registry.
RUN_NAME = Field("name", "str", "", "Run name", "Folder name in the run registry; empty: automatic.", group="run",
                 placeholder="automatic: dataset-branches-seed-time", max_chars=80)


def _field(spec: config.Spec) -> Field:
    """The form field of a config field whose metadata names a form group."""
    names = spec.kind == "tuple" and typing.get_args(spec.base)[:1] == (str,)
    if spec.kind not in ("bool", "int", "float", "choice", "str") and not names:
        raise TypeError(f"{spec.owner.__name__}.{spec.name}: a {spec.kind} setting cannot be on the Train form")
    default, label, placeholder = spec.default, spec.label, ""
    low = spec.min if spec.ui_min is None else spec.ui_min
    high = spec.max if spec.ui_max is None else spec.ui_max
    if names:  # names are typed comma-separated
        return Field(spec.name, "str", ", ".join(default), label, spec.help, group=spec.form, names=True,
                     placeholder="empty: from the data")
    if spec.optional and spec.kind == "str":  # empty text stands for None
        default, placeholder = default or "", f"empty: {spec.none or 'none'}"
    elif spec.optional:  # the form has no "none": 0 stands for None
        if spec.kind not in ("int", "float"):
            raise TypeError(f"{spec.owner.__name__}.{spec.name}: only numbers and text can be optional on the Train form")
        default = 0 if default is None else default
        label = f"{label} (0 = {spec.none or 'none'})"
        low = 0
    return Field(spec.name, spec.kind, default, label, spec.help, low, high, spec.choices, spec.form,
                 placeholder=placeholder)


def form_specs() -> tuple[config.Spec, ...]:
    """The config fields on the Train form (those whose metadata names a form group), in form order:
    by group (`config.FORM_GROUPS`), then in `CONFIGS` order and each class's field order."""
    found = [spec for cls in CONFIGS for spec in config.specs(cls) if spec.form]
    names = [spec.name for spec in found] + [RUN_NAME.name]
    if len(set(names)) != len(names):
        raise ValueError(f"Train form fields must have distinct names. Received: {names}")
    return tuple(sorted(found, key=lambda spec: config.FORM_GROUPS.index(spec.form)))


def fields() -> tuple[Field, ...]:
    """All settings: the config fields on the form (labels, help, bounds, choices and defaults
    from their metadata, read afresh on each call), then the run name."""
    return tuple(_field(spec) for spec in form_specs()) + (RUN_NAME,)


def field_map() -> dict[str, Field]:
    return {f.name: f for f in fields()}


def defaults() -> dict:
    return {f.name: f.default for f in fields()}


def parse(field: Field, raw: str):
    """The typed value of one URL string; raises ValueError with a short reason (also for Inspect's
    parameters, `tal.ui.inspect_url`)."""
    raw = raw.strip()
    if field.kind == "bool":
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        raise ValueError("expected 1 or 0")
    if field.kind == "choice":
        if raw in field.choices:
            return raw
        raise ValueError(f"expected one of {', '.join(field.choices)}")
    if field.kind == "str":
        if len(raw) > field.max_chars:
            raise ValueError(f"longer than {field.max_chars} characters")
        return raw
    try:
        value = int(raw) if field.kind == "int" else float(raw)
    except ValueError:
        raise ValueError(
            f"expected {'an integer' if field.kind == 'int' else 'a number'}"
        ) from None
    if field.kind == "float" and not math.isfinite(value):
        raise ValueError("expected a finite number")
    if (field.min is not None and value < field.min) or (
        field.max is not None and value > field.max
    ):
        if field.max is None:
            raise ValueError(f"expected a value of at least {_fmt(field.min)}")
        if field.min is None:
            raise ValueError(f"expected a value of at most {_fmt(field.max)}")
        raise ValueError(f"expected a value from {_fmt(field.min)} to {_fmt(field.max)}")
    return value


def _fmt(v) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def decode(params: Mapping[str, object]) -> tuple[dict, list[str]]:
    """Form values from URL query parameters, and warnings for values that were ignored.

    Unknown parameters are ignored; invalid ones fall back to the default.
    """
    values, warnings = defaults(), []
    spec = field_map()
    for key, raw in params.items():
        field = spec.get(key)
        if field is None:
            continue
        if isinstance(raw, (list, tuple)):
            raw = raw[-1] if raw else ""
        try:
            values[key] = parse(field, str(raw))
        except ValueError as exc:
            warnings.append(ignored(key, raw, exc, _fmt(field.default)))
    return values, warnings


def ignored(name: str, raw, reason, default) -> str:
    """The warning for a link's parameter that cannot be used: what, why, and what is used instead."""
    return f"Ignored `{name}={str(raw)[:40]}` in the link ({reason}); using {default!s}."


def encode(values: Mapping[str, object]) -> dict[str, str]:
    """URL query parameters for form values (all fields except an empty run name)."""
    out = {}
    for field in fields():
        value = values.get(field.name, field.default)
        if field.kind == "bool":
            out[field.name] = "1" if value else "0"
        elif field.kind == "str":
            if value:
                out[field.name] = str(value)
        else:
            out[field.name] = _fmt(value)
    return out


def to_configs(values: Mapping[str, object]) -> tuple[ModelConfig, TrainConfig, str | None]:
    """The model config, train config and run name (None: automatic) of form values.

    Raises `tal.ConfigError` (a `ValueError`) with a readable message when the
    combination is invalid.
    """
    v = {**defaults(), **values}
    changes = {cls: {} for cls in CONFIGS}
    for spec in form_specs():
        changes[spec.owner][spec.name] = _config_value(spec, v[spec.name])
    model = ModelConfig().replace(**changes[ModelConfig])
    data = DataConfig().replace(**changes[DataConfig])
    train = TrainConfig().replace(**changes[TrainConfig], data=data)
    return model, train, (str(v["name"]).strip() or None)


def _config_value(spec: config.Spec, value):
    """A form value as its config field wants it (0 for an optional number: None)."""
    if spec.kind == "bool":
        return bool(value)
    if spec.kind == "tuple":  # names, comma-separated on the form
        return tuple(n.strip() for n in str(value).split(",") if n.strip())
    if spec.kind == "str" and spec.optional:
        return str(value).strip() or None
    if spec.kind in ("int", "float"):
        value = int(value) if spec.kind == "int" else float(value)
        if spec.optional and not value:
            return None
    return value
