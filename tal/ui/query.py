"""The Train form's fields, and their round trip through the page URL.

One `Field` per setting: its default (read from the config classes, never
hard-coded), bounds and labels. The same table drives the widgets
(`tal.ui.train_form`), the URL (`encode` / `decode`, so a configuration can
be shared as a link) and the configs (`to_configs`). UI-free.

Invalid URL values never raise: `decode` falls back to the default and
returns a warning saying what was ignored.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

from tal.core.config import (
    BACKBONES,
    CLASS_WEIGHTING,
    DATASETS,
    EXTRA_ATTENTION,
    FEATURE_MODES,
    LR_SCHEDULES,
    OPTIMIZERS,
    DataConfig,
    ModelConfig,
    TrainConfig,
)

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


def fields() -> tuple[Field, ...]:
    """All settings, defaults taken from `ModelConfig()`, `TrainConfig()` and `DataConfig()`."""
    m, t, d = ModelConfig(), TrainConfig(), DataConfig()
    return (
        # attention branches
        Field(
            "scale",
            "bool",
            m.scale,
            "Scale-wise attention",
            "Weighted fusion of the backbone stages [ours].",
        ),
        Field(
            "channel",
            "bool",
            m.channel,
            "Channel-wise attention",
            "Squeeze-and-excitation gate [A3Net, SE].",
        ),
        Field(
            "element",
            "bool",
            m.element,
            "Element-wise attention",
            "Per-class attention A and confidence S maps with an auxiliary head [SRN, A3Net].",
        ),
        Field(
            "cbam", "bool", m.cbam, "CBAM (for comparison)", "Convolutional block attention [CBAM]."
        ),
        Field(
            "extra_attention",
            "choice",
            m.extra_attention,
            "Extra module from the literature (for comparison)",
            "Inserted before the element-wise branch: spatial weights, DANet, non-local, learn-to-pay-attention "
            "(replaces global pooling) or multi-head self-attention.",
            choices=EXTRA_ATTENTION,
        ),
        # model hyper-parameters
        Field(
            "aux_weight",
            "float",
            t.aux_weight,
            "λ: auxiliary loss weight",
            "L = CE(main) + λ·CE(softmax(score)). Can be changed while training.",
            0.0,
            5.0,
            group="train",
        ),
        Field(
            "element_width",
            "int",
            m.element_width,
            "Element-wise width w",
            "Hidden width of the attention estimator (the paper uses 512).",
            1,
            512,
        ),
        Field(
            "feature_mode",
            "choice",
            m.feature_mode,
            "Feature mode",
            "How the element branch feeds the main path: residual E⊙(1+M), gate E⊙M, or none.",
            choices=FEATURE_MODES,
        ),
        Field(
            "reduction_ratio",
            "int",
            m.reduction_ratio,
            "SE reduction ratio r",
            "Hidden width of the channel gate is max(K/r, min_hidden).",
            1,
            64,
        ),
        Field(
            "backbone",
            "choice",
            m.backbone,
            "Backbone",
            "plain: small CNN; dense: DenseNet-style blocks; densenet121: Keras DenseNet-121 "
            "(needs inputs of at least 32×32, i.e. translated MNIST, and is slow on CPU).",
            choices=BACKBONES,
        ),
        # data
        Field(
            "dataset",
            "choice",
            d.dataset,
            "Dataset",
            "mnist: 28×28 digits; translated: each digit at a random place on a larger canvas; "
            "synthetic: font-rendered digits (no download needed).",
            choices=DATASETS,
            group="data",
        ),
        Field(
            "train_size",
            "int",
            d.train_size or 0,
            "Training images (0 = all)",
            "A seeded random subset of the training images; small subsets train in seconds.",
            0,
            60000,
            group="data",
        ),
        Field(
            "test_size",
            "int",
            d.test_size or 0,
            "Test images (0 = all)",
            "A seeded subset of the test set used for the final evaluation.",
            0,
            10000,
            group="data",
        ),
        Field(
            "val_fraction",
            "float",
            d.val_fraction,
            "Validation fraction",
            "Share of the training subset held out for validation accuracy.",
            0.0,
            0.5,
            group="data",
        ),
        Field(
            "canvas_size",
            "int",
            d.canvas_size,
            "Canvas size (translated)",
            "Side of the canvas the digits are placed on (translated MNIST only).",
            28,
            128,
            group="data",
        ),
        # optimisation
        Field("epochs", "int", t.epochs, "Epochs", "", 1, 100, group="train"),
        Field("batch_size", "int", t.batch_size, "Batch size", "", 8, 1024, group="train"),
        Field(
            "learning_rate", "float", t.learning_rate, "Learning rate", "", 1e-5, 1.0, group="train"
        ),
        Field(
            "optimizer", "choice", t.optimizer, "Optimizer", "", choices=OPTIMIZERS, group="train"
        ),
        Field(
            "lr_schedule",
            "choice",
            t.lr_schedule,
            "Learning-rate schedule",
            "cosine decays to zero at the last step.",
            choices=LR_SCHEDULES,
            group="train",
        ),
        Field(
            "class_weighting",
            "choice",
            t.class_weighting,
            "Class weighting",
            "balanced: inverse class frequency (matters on imbalanced data).",
            choices=CLASS_WEIGHTING,
            group="train",
        ),
        Field(
            "seed",
            "int",
            t.seed,
            "Seed",
            "Same seed and settings → same run.",
            0,
            2**31 - 1,
            group="train",
        ),
        Field(
            "name",
            "str",
            "",
            "Run name",
            "Folder name in the run registry; empty: automatic.",
            group="run",
        ),
    )


def field_map() -> dict[str, Field]:
    return {f.name: f for f in fields()}


def defaults() -> dict:
    return {f.name: f.default for f in fields()}


def _parse(field: Field, raw: str):
    """The typed value of one URL string; raises ValueError with a short reason."""
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
        if len(raw) > 80:
            raise ValueError("longer than 80 characters")
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
            values[key] = _parse(field, str(raw))
        except ValueError as exc:
            warnings.append(
                f"Ignored `{key}={str(raw)[:40]}` in the link ({exc}); using {_fmt(field.default)!s}."
            )
    return values, warnings


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
    model = ModelConfig().replace(
        backbone=v["backbone"],
        scale=bool(v["scale"]),
        channel=bool(v["channel"]),
        element=bool(v["element"]),
        cbam=bool(v["cbam"]),
        extra_attention=v["extra_attention"],
        element_width=int(v["element_width"]),
        feature_mode=v["feature_mode"],
        reduction_ratio=int(v["reduction_ratio"]),
    )
    data = DataConfig().replace(
        dataset=v["dataset"],
        train_size=int(v["train_size"]) or None,
        test_size=int(v["test_size"]) or None,
        val_fraction=float(v["val_fraction"]),
        canvas_size=int(v["canvas_size"]),
    )
    train = TrainConfig().replace(
        epochs=int(v["epochs"]),
        batch_size=int(v["batch_size"]),
        learning_rate=float(v["learning_rate"]),
        optimizer=v["optimizer"],
        lr_schedule=v["lr_schedule"],
        aux_weight=float(v["aux_weight"]),
        class_weighting=v["class_weighting"],
        seed=int(v["seed"]),
        data=data,
    )
    return model, train, (str(v["name"]).strip() or None)
