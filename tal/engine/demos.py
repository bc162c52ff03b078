"""The demo models shipped in `models/`, and the one command that remakes them.

`python -m tal demos` trains every subset of the three branches plus CBAM on
MNIST, and a plain/full pair on translated MNIST, with the default training
settings, and writes each as a run folder with a `card.json` beside it. The
app and the CLI list them (marked as shipped) before anything is trained.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from tal.engine.ablation import branch_variants
from tal.core.config import ConfigError, DataConfig, ModelConfig, TrainConfig
from tal.engine.registry import SHIPPED_DIR, write_json_atomic

MAX_MODEL_BYTES = 2 * 1024 * 1024


@dataclass(frozen=True)
class DemoSpec:
    name: str
    model: ModelConfig
    dataset: str


def demo_specs() -> list[DemoSpec]:
    specs = [DemoSpec(f"mnist-{v.name.replace('+', '_')}", ModelConfig(**v.model), "mnist") for v in branch_variants()]
    for dataset in ("translated", "multidigit"):
        specs += [
            DemoSpec(f"{dataset}-baseline", ModelConfig(scale=False, channel=False, element=False), dataset),
            DemoSpec(f"{dataset}-scale_channel_element", ModelConfig(), dataset),
        ]
    return specs


def localization_card(run, data_dir=None, images: int = 1000) -> dict:
    """The card's localization figures: pointing game and energy of each method, with chance levels."""
    from tal.data.datasets import load_dataset
    from tal.engine.localization import localize

    data = load_dataset(run.train_config.data.replace(data_dir=data_dir, test_size=images, train_size=10))
    result = localize(run.load_model(), run.model_config, data.x_test, data.objects("test"))
    methods = {
        method: {
            "pointing": s["pointing"]["overall"], "pointing_chance": s["pointing"]["chance"],
            "energy": s["energy"]["overall"], "energy_chance": s["energy"]["chance"],
            "randomisation_spearman": s["randomisation"]["spearman"],
            "trusted": s["randomisation"]["trusted"],
        }
        for method, s in result["methods"].items()
    }
    return {"images": result["images"], "pairs": result["pairs"], "tolerance_px": result["tolerance_px"],
            "methods": methods, "reproduce": f"python -m tal localize {run.name} --images {images}"}


def card(run, localization: dict | None = None) -> dict:
    """The short JSON card shipped beside each demo model."""
    c, m = run.config, run.metrics
    extra = {} if localization is None else {"localization": localization}
    return {
        "name": run.name,
        "branches": m.get("label"),
        "model": c["model"],
        "train": c["train"],
        "seed": c["seed"],
        "data": {k: c["data"][k] for k in ("name", "source", "train", "val", "test")},
        **{k: m[k] for k in ("test_accuracy", "test_accuracy_aux", "mean_auc", "mean_auc_aux", "exact_match",
                             "micro_f1") if k in m},
        "params": m["params"],
        "training_time_s": m["training_time_s"],
        "versions": c["versions"],
        "reproduce": "python -m tal demos",
        **extra,
    }


def make_demos(out_dir: Path | str = SHIPPED_DIR, *, data_dir=None, only=None, epochs=None,
               callbacks_for=None, on_done=None) -> list[Path]:
    """Train the demo models and put them in `out_dir`, replacing older ones.

    Each model is trained into a staging registry first and moved into place
    only when complete, so an interrupted remake leaves the old demos intact.
    """
    from tal.engine.registry import load_run
    from tal.engine.training import train

    out_dir = Path(out_dir)
    staging = out_dir / ".staging-demos"
    specs = [s for s in demo_specs() if not only or s.name in only]
    unknown = set(only or ()) - {s.name for s in demo_specs()}
    if unknown:
        raise ConfigError(f"Unknown demo model(s) {sorted(unknown)}. Expected names from {[s.name for s in demo_specs()]}")
    written = []
    for spec in specs:
        train_config = TrainConfig(data=DataConfig(dataset=spec.dataset, data_dir=data_dir, allow_download=False))
        if epochs:
            train_config = train_config.replace(epochs=epochs)
        result = train(spec.model, train_config, name=spec.name, runs_dir=staging,
                       callbacks=callbacks_for(spec) if callbacks_for else ())
        run = load_run(result.run.path)
        size = (run.path / "model.keras").stat().st_size
        if size > MAX_MODEL_BYTES:
            raise RuntimeError(f"{spec.name}: model.keras is {size / 1e6:.1f} MB, over the 2 MB limit for shipped models")
        localization = localization_card(run, data_dir) if run.model_config.multi_label else None
        write_json_atomic(run.path / "card.json", card(run, localization))
        target = out_dir / spec.name
        old = out_dir / f".old-{spec.name}"
        if target.exists():
            target.rename(old)
        run.path.rename(target)
        shutil.rmtree(old, ignore_errors=True)
        written.append(target)
        if on_done:
            on_done(spec, target)
    shutil.rmtree(staging, ignore_errors=True)
    return written
