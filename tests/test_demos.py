"""The shipped demo models: what the command makes, and that what is shipped loads offline."""
from __future__ import annotations

import json

import numpy as np
import pytest

from tal.engine import registry
from tal.engine.demos import MAX_MODEL_BYTES, demo_specs

SHIPPED = sorted(p for p in registry.SHIPPED_DIR.glob("*") if registry.is_complete(p))


def test_specs_cover_every_branch_subset_cbam_and_translated_and_multidigit_pairs():
    specs = demo_specs()
    assert len(specs) == 13 and len({s.name for s in specs}) == 13
    mnist = {s.model.label for s in specs if s.dataset == "mnist"}
    assert len(mnist) == 9 and "baseline" in mnist and "cbam" in mnist and "scale+channel+element" in mnist
    for dataset in ("translated", "multidigit"):
        assert {s.model.label for s in specs if s.dataset == dataset} == {"baseline", "scale+channel+element"}
    assert {s.name for s in specs if s.dataset == "multidigit"} == {
        "multidigit-baseline", "multidigit-scale_channel_element"}


@pytest.mark.skipif(not SHIPPED, reason="no demo models in models/ (python -m tal demos)")
@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_shipped_model_loads_and_predicts_with_a_truthful_card(path):
    run = registry.load_run(path.name)
    assert run.shipped and run.name in [r.name for r in registry.list_runs(include_shipped=True)]
    assert (path / "model.keras").stat().st_size < MAX_MODEL_BYTES
    card = json.loads((path / "card.json").read_text())
    for key in ("test_accuracy", "mean_auc"):
        assert card.get(key) == run.metrics.get(key)
    if run.model_config.multi_label:  # the card carries the maps' localization scores
        methods = card["localization"]["methods"]
        assert "gradcam" in methods and ("A" in methods) == run.model_config.element
        assert all(0 <= m["pointing"] <= 1 and 0 < m["pointing_chance"] < 1 for m in methods.values())
    assert {"model", "train", "seed", "data", "training_time_s", "versions"} <= set(card)
    import tal

    model = run.load_model()
    size = run.model_config.input_shape[0]
    out = tal.inspect(model, np.zeros((1, size, size, 1), "float32"))
    assert out["probabilities"].shape == (1, 10)
    assert ("A" in out) == run.model_config.element
