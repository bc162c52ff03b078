"""Which runs are the same experiment: a stable identity per configuration and seed, and reuse.

Why: a study retrains what the registry already holds (the zoo preset's
baseline and full model are the branch study's), and an interrupted study
would start from nothing. Two trainings are the same experiment when their
model, training and data settings and their seed are equal, whatever the
run is called, where the digit data lies, or whether the map timeline was kept
(for users' own images, the folder or file is part of the identity).

The identity is a hash of those settings (written to `config.json` as
`"identity"`); for older runs it is computed from their `config.json`, so
they can be reused too. A run is reusable only when it finished (not stopped)
and λ was never moved while it trained.
"""
from __future__ import annotations

import hashlib
import json

from tal.core.config import OWN_DATASETS

# Settings that do not change what is trained: where files are, what is recorded on the side,
# and the input shape, class count and task, which follow from the data settings.
IGNORED = {
    "model": ("input_shape", "num_classes", "multi_label"),
    "train": ("timeline",),
    "data": ("data_dir", "allow_download"),
}
# Data settings added after runs were first stored: left out while at their default, so an older
# run keeps the identity it was given.
ADDED_LATER = {"labels_file": None, "boxes_file": None, "test_list": None, "image_size": None, "color": "auto",
               "class_names": [], "uncertain": "zeros", "box_aliases": [], "test_fraction": 0.2}
LENGTH = 16  # hex digits: 64 bits, no collision among a registry's runs in practice


def identity_of(model: dict, train: dict) -> str:
    """The identity of a configuration given as `config.json` dicts (`"model"`, `"train"` with `"data"`)."""
    model = {k: v for k, v in model.items() if k not in IGNORED["model"]}
    raw = train.get("data", {})
    # Your own images are the folder or file they are in: there, where the data lies is what it is.
    ignored = ("allow_download",) if raw.get("dataset") in OWN_DATASETS else IGNORED["data"]
    data = {k: (list(v) if isinstance(v, tuple) else v) for k, v in raw.items() if k not in ignored}
    data = {k: v for k, v in data.items() if not (k in ADDED_LATER and v == ADDED_LATER[k])}
    train = {k: v for k, v in train.items() if k not in IGNORED["train"] and k != "data"}
    text = json.dumps({"model": model, "train": train, "data": data}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:LENGTH]


def run_identity(model_config, train_config) -> str:
    """The identity of training `model_config` with `train_config` (its seed included)."""
    return identity_of(model_config.to_dict(), train_config.to_dict())


def identity_of_run(run) -> str | None:
    """A run's identity: the stored one, else computed from its config (None when unreadable)."""
    try:
        config = run.config
        return config.get("identity") or identity_of(config["model"], config["train"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def why_not_reusable(run) -> str | None:
    """None when `run` can stand in for a new training with its configuration; else the reason."""
    try:
        metrics, train = run.metrics, run.config["train"]
    except (OSError, ValueError, KeyError):
        return "its files cannot be read"
    if metrics.get("status") != "completed":
        return "it was stopped early"
    moved = metrics.get("aux_weight_changed")
    if moved is None:  # runs saved before the flag: judge by the final λ
        moved = abs(float(metrics.get("final_aux_weight", train.get("aux_weight", 0.0)))
                    - float(train.get("aux_weight", 0.0))) > 1e-12
    if moved:
        return "λ was changed while it trained"
    return None


def find_reusable(identity: str, runs) -> object | None:
    """The newest reusable run of `runs` (newest first, as `list_runs` gives them) with `identity`."""
    for run in runs:
        if identity_of_run(run) == identity and why_not_reusable(run) is None:
            return run
    return None
