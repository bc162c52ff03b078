"""Frozen, validated configuration for models, data and training.

Configs hold plain values only (strings, numbers, tuples), so they round-trip
through JSON unchanged and can be shared as files, CLI flags or app links.
"""
from __future__ import annotations

import dataclasses
import json
import typing
from dataclasses import dataclass, field
from pathlib import Path

from tal.core import catalogue

from tal.core.catalogue import FEATURE_MODES, MHSA_SCORES  # noqa: F401  (choices named by module options)

BACKBONES = ("plain", "dense", "densenet121")
DIGIT_DATASETS = ("mnist", "translated", "multidigit", "synthetic")
# Users' own images: class folders, an image folder with a label table, a MedMNIST-style .npz.
OWN_DATASETS = ("folder", "csv", "npz")
DATASETS = (*DIGIT_DATASETS, *OWN_DATASETS)
# Side the own images are resized to (keeping the aspect, padded) when image_size is None.
OWN_IMAGE_SIZE = 64
COLOR_MODES = ("auto", "gray", "rgb")
# What a label table's "uncertain" entry (-1, CheXpert's layout) becomes.
UNCERTAIN_POLICIES = ("zeros", "ones", "skip")
# Canvas side of the datasets that place digits on a canvas, when canvas_size is None.
CANVAS_DEFAULTS = {"translated": 48, "multidigit": 64}
PREDICTION_MODES = ("main", "mean")
# A multi-label model says a class is present when its probability is above this.
PRESENT_THRESHOLD = 0.5
CLASS_WEIGHTING = ("balanced", "none")
# Attention modules from the literature, one of which can be added after the
# triple-attention branches (each declared in tal.core.catalogue).
EXTRA_ATTENTION = ("none", *(m.name for m in catalogue.literature()))
OPTIMIZERS = ("adam", "sgd")
LR_SCHEDULES = ("cosine", "constant")


class ConfigError(ValueError):
    """A configuration value is out of range or of the wrong kind."""


def _one_of(name: str, value, allowed) -> None:
    if value not in allowed:
        raise ConfigError(f"Expected {name} to be one of {set(allowed)}. Received: {name}={value!r}")


# ----------------------------------------------------------------- settings
# Every config field declares its label, help text, bounds, choices and (for
# the fields on the app's Train form) its form group once, in its dataclass
# `metadata`. The validation below, the CLI's flags (tal.cli) and the app's
# Train form and links (tal.ui.query) all read them from there.

FORM_GROUPS = ("model", "data", "train")


def setting(
    label: str,
    help: str = "",
    *,
    min: float | None = None,
    max: float | None = None,
    min_open: bool = False,
    max_open: bool = False,
    ui_min: float | None = None,
    ui_max: float | None = None,
    choices: str | None = None,
    none: str | None = None,
    form: str | None = None,
) -> dict:
    """The `metadata` of one config field: `field(default=..., metadata=setting(...))`.

    Args:
        label: short name shown by the app and the CLI.
        help: one or two sentences on what the setting does.
        min, max: bounds that validation enforces; `min_open` / `max_open`
            exclude the bound itself (`learning_rate > 0`).
        ui_min, ui_max: the narrower range the app's widgets offer (default:
            `min` / `max`); values outside it stay valid in configs.
        choices: the name of this module's tuple of allowed values (such as
            "BACKBONES"), looked up whenever it is used, never copied.
        none: what None means for an optional field ("all").
        form: the Train form group that shows the field (one of FORM_GROUPS);
            None: not on the form.
    """
    if form is not None and form not in FORM_GROUPS:
        raise ValueError(f"Expected form to be one of {FORM_GROUPS}. Received: form={form!r}")
    if choices is not None and not isinstance(choices, str):
        raise TypeError(f"Expected choices to name a tuple of {__name__}. Received: {choices!r}")
    return {
        "label": label,
        "help": help,
        "min": min,
        "max": max,
        "min_open": min_open,
        "max_open": max_open,
        "ui_min": ui_min,
        "ui_max": ui_max,
        "choices": choices,
        "none": none,
        "form": form,
    }


def _fmt(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass(frozen=True)
class Spec:
    """One config field and its `setting` metadata, as validation, the CLI and the app read it."""

    owner: type
    name: str
    hint: object
    label: str
    help: str = ""
    min: float | None = None
    max: float | None = None
    min_open: bool = False
    max_open: bool = False
    ui_min: float | None = None
    ui_max: float | None = None
    choices_from: str | None = None
    none: str | None = None
    form: str | None = None

    @property
    def default(self):
        f = next(f for f in dataclasses.fields(self.owner) if f.name == self.name)
        return f.default if f.default is not dataclasses.MISSING else f.default_factory()

    @property
    def choices(self) -> tuple:
        """The allowed values, read from this module now (so a tuple replaced later is the one used)."""
        return tuple(globals()[self.choices_from]) if self.choices_from else ()

    @property
    def optional(self) -> bool:
        return type(None) in typing.get_args(self.hint)

    @property
    def base(self):
        """The type without None: `int` for `int | None`."""
        args = [a for a in typing.get_args(self.hint) if a is not type(None)]
        return args[0] if self.optional and len(args) == 1 else self.hint

    @property
    def kind(self) -> str:
        """"choice", "bool", "int", "float", "str", "tuple" or "config" (a nested config)."""
        if self.choices_from:
            return "choice"
        base = self.base
        for kind in (bool, int, float, str):
            if base is kind:
                return kind.__name__
        return "tuple" if typing.get_origin(base) is tuple else "config"

    def within(self, value) -> bool:
        """Whether the number `value` is inside `min` / `max` (False for NaN when bounded)."""
        if self.min is not None and not (value > self.min if self.min_open else value >= self.min):
            return False
        if self.max is not None and not (value < self.max if self.max_open else value <= self.max):
            return False
        return True

    def bounds_text(self) -> str:
        """The bounds as text: '0 <= val_fraction < 0.9', 'epochs >= 1', or '' when unbounded."""
        lower = "<" if self.min_open else "<="
        upper = "<" if self.max_open else "<="
        if self.min is not None and self.max is not None:
            return f"{_fmt(self.min)} {lower} {self.name} {upper} {_fmt(self.max)}"
        if self.min is not None:
            return f"{self.name} {'>' if self.min_open else '>='} {_fmt(self.min)}"
        if self.max is not None:
            return f"{self.name} {upper} {_fmt(self.max)}"
        return ""

    def check(self, value) -> None:
        """Raise ConfigError unless `value` has the field's kind, is one of its choices and within its bounds."""
        name, kind = self.name, self.kind
        if value is None and self.optional:
            return
        if kind == "choice":
            _one_of(name, value, self.choices)
        elif kind == "bool" and not isinstance(value, bool):
            raise ConfigError(f"Expected {name} to be true or false. Received: {name}={value!r}")
        elif kind == "int" and not (isinstance(value, int) and not isinstance(value, bool) and self.within(value)):
            if self.min is not None and self.max is None:
                bound = f" {'>' if self.min_open else '>='} {_fmt(self.min)}"
            else:
                bound = f" with {self.bounds_text()}" if self.bounds_text() else ""
            raise ConfigError(f"Expected {name} to be an integer{bound}. Received: {name}={value!r}")
        elif kind == "float" and not (_is_number(value) and self.within(value)):
            expected = self.bounds_text() or f"{name} to be a number"
            raise ConfigError(f"Expected {expected}. Received: {name}={value!r}")


def specs(cls) -> tuple[Spec, ...]:
    """The `Spec` of every field of the config class `cls`, in field order (read afresh on each call)."""
    hints = _hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        meta = dict(f.metadata)
        meta["choices_from"] = meta.pop("choices", None)
        meta.setdefault("label", f.name)
        out.append(Spec(owner=cls, name=f.name, hint=hints[f.name], **meta))
    return tuple(out)


_HINTS: dict = {}


def _hints(cls) -> dict:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def _check_settings(config) -> None:
    """Validate every field of `config` against its metadata (kind, choices, bounds)."""
    for spec in specs(type(config)):
        spec.check(getattr(config, spec.name))


class _JsonMixin:
    """to_dict / from_dict / JSON helpers shared by the config classes."""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, sort_keys=True)

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_dict(cls, data: dict):
        if not isinstance(data, dict):
            raise ConfigError(f"Expected a JSON object for {cls.__name__}. Received: {type(data).__name__}")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(fields))
        if unknown:
            raise ConfigError(
                f"Unknown {cls.__name__} field(s) {unknown}. Valid fields: {sorted(fields)}"
            )
        hints = typing.get_type_hints(cls)
        kwargs = {}
        for name, value in data.items():
            kwargs[name] = _coerce(hints[name], value)
        return cls(**kwargs)

    @classmethod
    def from_json(cls, text_or_path):
        text = text_or_path
        if isinstance(text_or_path, Path) or (
            isinstance(text_or_path, str) and not text_or_path.lstrip().startswith("{")
        ):
            path = Path(text_or_path)
            if not path.is_file():
                raise ConfigError(f"Config file not found: {path}")
            text = path.read_text()
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"Config is not valid JSON: {exc}") from None
        return cls.from_dict(data)


def _coerce(hint, value):
    """Turn JSON values (lists, dicts) back into the tuple / nested-config types."""
    origin = typing.get_origin(hint)
    if isinstance(hint, type) and issubclass(hint, _JsonMixin) and isinstance(value, dict):
        return hint.from_dict(value)
    if origin is tuple and isinstance(value, list):
        return tuple(value)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        for arg in typing.get_args(hint):
            if typing.get_origin(arg) is tuple and isinstance(value, list):
                return tuple(value)
    return value


def _with_module_options(after: str):
    """Class decorator, applied before `dataclass`: each catalogue module's `Option`s become fields
    of the class, placed after the field `after`, in catalogue order. A module's own settings are
    so declared once, with the module, yet validated, saved and shown like every other field."""

    def add(cls):
        annotations = {}
        for name, hint in cls.__annotations__.items():
            annotations[name] = hint
            if name == after:
                for option in (o for m in catalogue.MODULES for o in m.options):
                    if option.name in annotations or option.name in cls.__annotations__:
                        raise TypeError(f"The module option {option.name!r} is declared twice.")
                    annotations[option.name] = option.hint
                    setattr(cls, option.name, field(default=option.default, metadata=setting(
                        option.label, option.help, **option.setting)))
        cls.__annotations__ = annotations
        return cls

    return add


@dataclass(frozen=True)
@_with_module_options(after="extra_attention")
class ModelConfig(_JsonMixin):
    """What to build: backbone, attention toggles and their hyper-parameters.

    All four toggles off gives the plain baseline of the same backbone.
    """

    backbone: str = field(default="plain", metadata=setting(
        "Backbone",
        "plain: small CNN; dense: DenseNet-style blocks; densenet121: Keras DenseNet-121 "
        "(needs inputs of at least 32×32, i.e. translated MNIST, and is slow on CPU).",
        choices="BACKBONES", form="model"))
    stage_filters: tuple[int, ...] = field(default=(16, 32, 64), metadata=setting(
        "Stage filters", "Filters of each backbone stage, one positive integer per stage."))
    convs_per_stage: int = field(default=1, metadata=setting(
        "Convolutions per stage", "Convolution layers in each backbone stage.", min=1))
    input_shape: tuple[int, int, int] = field(default=(28, 28, 1), metadata=setting(
        "Input shape", "(height, width, channels) of the images; set from the data."))
    num_classes: int = field(default=10, metadata=setting(
        "Classes", "Number of classes; set from the data.", min=2))
    scale: bool = field(default=True, metadata=setting(
        "Scale-wise attention", "Weighted fusion of the backbone stages [ours].", form="model"))
    channel: bool = field(default=True, metadata=setting(
        "Channel-wise attention", "Squeeze-and-excitation gate [A3Net, SE].", form="model"))
    element: bool = field(default=True, metadata=setting(
        "Element-wise attention",
        "Per-class attention A and confidence S maps with an auxiliary head [SRN, A3Net].", form="model"))
    cbam: bool = field(default=False, metadata=setting(
        "CBAM (for comparison)", "Convolutional block attention [CBAM].", form="model"))
    extra_attention: str = field(default="none", metadata=setting(
        "Extra module from the literature (for comparison)",
        "One module at a time, inserted before the element-wise branch (a pooling module replaces global "
        f"average pooling): {', '.join(m.title for m in catalogue.literature())}.",
        choices="EXTRA_ATTENTION", form="model"))
    # (here come the modules' own options, declared with each module in the catalogue: see below)
    reduction_ratio: int = field(default=16, metadata=setting(
        "SE reduction ratio r", "Hidden width of the channel gate is max(K/r, min_hidden).",
        min=1, ui_max=64, form="model"))
    min_hidden: int = field(default=8, metadata=setting(
        "Minimum hidden width", "Lower limit of the channel gate's hidden width.", min=1))
    bn_momentum: float = field(default=0.9, metadata=setting(
        "Batch-norm momentum", "Momentum of the batch-normalisation moving averages.",
        min=0.0, max=1.0, max_open=True))
    dropout: float = field(default=0.0, metadata=setting(
        "Dropout", "Dropout rate before the classifier heads.", min=0.0, max=1.0, max_open=True))
    multi_label: bool = field(default=False, metadata=setting(
        "Multi-label", "Sigmoid heads and class-weighted binary cross-entropy; set from the data "
        "(on for multidigit canvases)."))
    prediction: str = field(default="main", metadata=setting(
        "Prediction", "main: the main head; mean: the average of the main and auxiliary heads "
        "(needs element-wise attention).", choices="PREDICTION_MODES"))

    def __post_init__(self):
        _check_settings(self)  # kinds, choices and bounds from each field's metadata
        if not self.stage_filters or not all(
            isinstance(f, int) and not isinstance(f, bool) and f > 0 for f in self.stage_filters
        ):
            raise ConfigError(
                "Expected stage_filters to be a non-empty list of positive integers. "
                f"Received: stage_filters={self.stage_filters!r}"
            )
        if len(self.input_shape) != 3 or not all(
            isinstance(d, int) and d > 0 for d in self.input_shape
        ):
            raise ConfigError(
                f"Expected input_shape (height, width, channels). Received: {self.input_shape!r}"
            )
        if self.prediction == "mean" and not self.element:
            raise ConfigError("prediction='mean' averages the main and auxiliary heads; it needs element=True")

    @property
    def branches(self) -> tuple[str, ...]:
        """The attention modules that are on, in catalogue order, as they appear in labels."""
        return tuple(m.label_of(self) for m in catalogue.selected(self))

    @property
    def label(self) -> str:
        """Short human-readable name such as 'scale+channel+element' or 'baseline'."""
        return "+".join(self.branches) or "baseline"


@dataclass(frozen=True)
class DataConfig(_JsonMixin):
    """Which images to train and test on.

    `train_size` takes a seeded subset of the training images (None: all).
    `imbalance_classes` keeps only `imbalance_keep` of those classes' training
    images, so the class-weighted loss has something to correct.
    """

    dataset: str = field(default="mnist", metadata=setting(
        "Dataset",
        "mnist: 28×28 digits; translated: each digit at a random place on a larger canvas; "
        "multidigit: 1–3 digits per canvas, several labels per image (A3Net's multi-label task); "
        "synthetic: font-rendered digits (no download needed); folder, csv, npz: your own images.",
        choices="DATASETS", form="data"))
    data_dir: str | None = field(default=None, metadata=setting(
        "Data folder or file",
        "The digit datasets: a folder (or mnist.npz) with MNIST. folder: a folder with one subfolder of images "
        "per class (optionally inside train/, val/, test/); csv: the folder the label table's images are in; "
        "npz: a MedMNIST-style .npz file.", none="MNIST from $TAL_DATA_DIR, then the Keras cache", form="data"))
    labels_file: str | None = field(default=None, metadata=setting(
        "Label table",
        "csv only: a CSV with an 'Image Index' and a 'Finding Labels' column (ChestX-ray14's layout, classes "
        "joined by |, 'No Finding' for none), or a 'Path' column and one 0/1 column per class (CheXpert's).",
        none="none", form="data"))
    boxes_file: str | None = field(default=None, metadata=setting(
        "Box table",
        "csv only: boxes in ChestX-ray14's BBox_List_2017.csv layout (Image Index, Finding Label, x, y, w, h "
        "in the original image's pixels); Inspect draws them and localize scores the maps against them.",
        none="none", form="data"))
    test_list: str | None = field(default=None, metadata=setting(
        "Test list", "csv only: a text file naming the test images, one per line (e.g. test_list.txt); "
        "otherwise a seeded split, by patient when the table has a 'Patient ID' column.", none="none", form="data"))
    image_size: int | None = field(default=None, metadata=setting(
        "Image size", "Your own images are resized to this side, keeping the aspect and padding.",
        min=8, max=1024, ui_max=256, none=f"{OWN_IMAGE_SIZE}; npz: the file's own size", form="data"))
    color: str = field(default="auto", metadata=setting(
        "Colour", "Your own images: auto keeps colour when any image has it, else gray.",
        choices="COLOR_MODES", form="data"))
    class_names: tuple[str, ...] = field(default=(), metadata=setting(
        "Class names", "Your own images: the classes, in order (npz: names for its label columns; folder and "
        "csv: only these classes, in this order). Empty: from the data.", form="data"))
    uncertain: str = field(default="zeros", metadata=setting(
        "Uncertain labels", "csv with one column per class: what -1 (uncertain) means. zeros: absent; ones: "
        "present; skip: leave those images out. A blank entry is absent.", choices="UNCERTAIN_POLICIES", form="data"))
    box_aliases: tuple[str, ...] = field(default=(), metadata=setting(
        "Box label aliases", "Box labels spelt differently from the class names, as BOX=CLASS "
        "(ChestX-ray14's box file says Infiltrate for Infiltration).", form="data"))
    test_fraction: float = field(default=0.2, metadata=setting(
        "Test fraction", "Your own images without a test split: the seeded share held out for testing.",
        min=0.0, min_open=True, max=0.9, form="data"))
    train_size: int | None = field(default=None, metadata=setting(
        "Training images", "A seeded random subset of the training images; small subsets train in seconds.",
        min=10, ui_max=60000, none="all", form="data"))
    test_size: int | None = field(default=None, metadata=setting(
        "Test images", "A seeded subset of the test set used for the final evaluation.",
        min=1, ui_max=10000, none="all", form="data"))
    val_fraction: float = field(default=0.1, metadata=setting(
        "Validation fraction", "Share of the training subset held out for validation accuracy.",
        min=0.0, max=0.9, max_open=True, ui_max=0.5, form="data"))
    canvas_size: int | None = field(default=None, metadata=setting(
        "Canvas size", "Side of the canvas the digits are placed on (translated and multidigit only).",
        min=28, ui_max=128, none="48 translated, 64 multidigit", form="data"))
    max_digits: int = field(default=3, metadata=setting(
        "Digits per canvas (most)", "Each multidigit canvas holds 1 to this many digits.", min=1, max=6))
    imbalance_classes: tuple[int, ...] = field(default=(), metadata=setting(
        "Imbalanced classes", "Digits (0-9) whose training images are thinned to imbalance_keep."))
    imbalance_keep: float = field(default=1.0, metadata=setting(
        "Kept share of imbalanced classes", "Share of the imbalanced classes' training images that is kept.",
        min=0.0, min_open=True, max=1.0))
    subset_seed: int = field(default=0, metadata=setting(
        "Subset seed", "Seed of the training and test subsets and of generated images.", min=0))
    allow_download: bool = field(default=True, metadata=setting(
        "Allow download", "Download MNIST with Keras when no local copy is found."))

    @property
    def canvas(self) -> int | None:
        """The canvas side this dataset uses (None for datasets without a canvas)."""
        if self.dataset not in CANVAS_DEFAULTS:
            return None
        return self.canvas_size or CANVAS_DEFAULTS[self.dataset]

    @property
    def own(self) -> bool:
        """Whether these are the user's own images (not one of the digit datasets)."""
        return self.dataset in OWN_DATASETS

    @property
    def multi_label(self) -> bool:
        """Whether this dataset has several labels per image (an npz file says so in its labels)."""
        if self.dataset == "npz" and self.data_dir:
            from tal.data.sources.medmnist import is_multi_label

            return is_multi_label(self.data_dir)
        return self.dataset in ("multidigit", "csv")

    def __post_init__(self):
        _check_settings(self)  # kinds, choices and bounds from each field's metadata
        top = None if self.own else 9
        if not all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 and (top is None or c <= top)
                   for c in self.imbalance_classes):
            wanted = "class indices (0, 1, …)" if self.own else "digits 0-9"
            raise ConfigError(f"Expected imbalance_classes to be {wanted}. Received: {self.imbalance_classes!r}")
        if self.own and not self.data_dir:
            where = {"folder": "the folder with one subfolder of images per class",
                     "csv": "the folder of images the label table names",
                     "npz": "the .npz file"}[self.dataset]
            raise ConfigError(f"dataset={self.dataset!r} needs data_dir: {where}.")
        if self.dataset == "csv" and not self.labels_file:
            raise ConfigError("dataset='csv' needs labels_file: the CSV table of the images' labels.")
        for name in ("labels_file", "boxes_file", "test_list"):
            if getattr(self, name) and self.dataset != "csv":
                raise ConfigError(f"{name} belongs to dataset='csv'. Received: dataset={self.dataset!r}")
        for alias in self.box_aliases:
            if not isinstance(alias, str) or alias.count("=") != 1 or not all(alias.split("=")):
                raise ConfigError(f"Expected box_aliases as BOX=CLASS. Received: {alias!r}")
        if not all(isinstance(n, str) and n.strip() for n in self.class_names) or (
                len(set(self.class_names)) != len(self.class_names)):
            raise ConfigError(f"Expected class_names to be distinct, non-empty names. Received: {self.class_names!r}")


@dataclass(frozen=True)
class TrainConfig(_JsonMixin):
    """How to train: optimisation settings, the auxiliary weight, the data and the seed."""

    # Batch 128 costs ~25 % less per image than 64 on a 2-core CPU; with the
    # rate raised to 3e-3 and 8 epochs it matches 64 / 2e-3 / 6 epochs in
    # accuracy and wall time, and reaches 98.5 % sooner (bench/README.md).
    epochs: int = field(default=8, metadata=setting(
        "Epochs", "Passes over the training images.", min=1, ui_max=100, form="train"))
    batch_size: int = field(default=128, metadata=setting(
        "Batch size", "Images per training step.", min=1, ui_min=8, ui_max=1024, form="train"))
    learning_rate: float = field(default=3e-3, metadata=setting(
        "Learning rate", "The optimizer's initial learning rate.",
        min=0.0, min_open=True, ui_min=1e-5, ui_max=1.0, form="train"))
    optimizer: str = field(default="adam", metadata=setting(
        "Optimizer", "adam, or sgd with Nesterov momentum 0.9.", choices="OPTIMIZERS", form="train"))
    lr_schedule: str = field(default="cosine", metadata=setting(
        "Learning-rate schedule", "cosine decays to zero at the last step.", choices="LR_SCHEDULES", form="train"))
    aux_weight: float = field(default=0.5, metadata=setting(
        "λ: auxiliary loss weight", "L = CE(main) + λ·CE(softmax(score)). Can be changed while training.",
        min=0.0, ui_max=5.0, form="train"))
    class_weighting: str = field(default="balanced", metadata=setting(
        "Class weighting", "balanced: inverse class frequency (matters on imbalanced data).",
        choices="CLASS_WEIGHTING", form="train"))
    seed: int = field(default=0, metadata=setting(
        "Seed", "Same seed and settings → same run.", min=0, ui_max=2**31 - 1, form="train"))
    timeline: bool = field(default=True, metadata=setting(
        "Map timeline", "Snapshot one validation image per class through the model while it trains: live maps "
        "on the Train page, replayed on Inspect (at most 5 % of the training time).", form="train"))
    data: DataConfig = field(default_factory=DataConfig, metadata=setting(
        "Data", "Which images to train and test on (a DataConfig)."))

    def __post_init__(self):
        _check_settings(self)  # kinds, choices and bounds from each field's metadata
        if not isinstance(self.data, DataConfig):
            raise ConfigError(f"Expected data to be a DataConfig. Received: {type(self.data).__name__}")
