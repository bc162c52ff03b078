"""Inspect, Predict and Localization on the shipped demo models: the page checks that need no training.

The quick tier's way into the map views: the pages as a user first meets them,
on the models that ship in models/, with real numbers (the auxiliary logit
recomputed from the maps). The same pages on freshly trained runs, with every
toggle, are in test_app_pages.py.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest
from test_app_pages import APP, TIMEOUT, digit_png, open_page, texts, view, views

MODELS = Path(__file__).resolve().parents[1] / "models"
FULL = MODELS / "mnist-scale_channel_element"
MULTIDIGIT = MODELS / "multidigit-scale_channel_element"


@pytest.fixture
def shipped(runs_dir, mnist_path, monkeypatch):
    """Real MNIST, an empty run registry beside the shipped demos."""
    monkeypatch.setenv("TAL_DATA_DIR", str(mnist_path))
    assert (FULL / "model.keras").is_file() and (MULTIDIGIT / "model.keras").is_file()
    return runs_dir


def test_inspect_a_shipped_model_the_maps_add_up_to_its_logit(shipped):
    at = open_page("app_pages/inspect.py")
    at.selectbox(key="inspect.run").set_value(str(FULL)).run()
    assert not at.exception, [e.value for e in at.exception]
    html = view(at)
    assert len(views(at)) == 1 and "Class probabilities" in html and "Channel gate" in html
    checks = re.findall(r'<div class="tal-small">([^<>]+)</div><div data-value[^>]*>([^<]+)<', html)
    assert len(checks) == 4 * 10
    for k in range(10):  # Σ A⊙S from the maps = the model's aux logit, for every class
        cells = dict(checks[4 * k:4 * k + 4])
        assert float(cells["Σ A⊙S from the maps"]) == pytest.approx(float(cells["aux logit from the model"]), abs=2e-5)
    # a what-if: A uniform; the view then shows the probabilities as trained and with A uniform
    at.toggle(key="inspect.whatif.A").set_value(True).run()
    assert not at.exception and "A uniform" in view(at)


def test_predict_on_a_shipped_model_a_bad_file_does_not_stop_the_good_one(shipped):
    at = open_page("app_pages/predict.py")
    at.selectbox(key="predict.run").set_value(str(FULL)).run()
    at.file_uploader(key="predict.files").set_value(
        [("seven.png", digit_png(), "image/png"), ("corrupt.jpg", b"not a jpeg", "image/jpeg")]
    ).run()
    assert not at.exception and len(at.error) == 1 and "corrupt.jpg" in at.error[0].value
    assert view(at).count('aria-label="Prediction"') == 1
    assert any("1 of 2" in c for c in texts(at, "caption"))


def test_localization_scores_the_shipped_multidigit_model(shipped):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    at.switch_page("app_pages/localization.py")
    # the smallest image count and no sanity check from the first run on (scoring is the page's cost)
    at.session_state["localize.images"] = 100
    at.session_state["localize.sanity"] = False
    at.session_state["localize.runs"] = [str(MULTIDIGIT)]
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    table = at.dataframe[0].value
    assert set(table["method"]) >= {"A: attention (spatial softmax per class)", "Grad-CAM (post hoc)"}
    a = table[table["method"].str.startswith("A:")].iloc[0]
    # the shipped full model's A points inside the right digit's box far above chance
    assert a["pointing game"] > 0.8 and a["pointing, chance"] < 0.3


def _noise_png() -> bytes:
    import io

    from PIL import Image

    pixels = (np.random.default_rng(0).random((56, 56)) * 255).astype("uint8")
    buf = io.BytesIO()
    Image.fromarray(pixels, "L").save(buf, format="PNG")
    return buf.getvalue()


def test_predict_says_when_an_input_looks_unlike_the_training_images(shipped):
    at = open_page("app_pages/predict.py")
    at.selectbox(key="predict.run").set_value(str(FULL)).run()
    at.file_uploader(key="predict.files").set_value(
        [("noise.png", _noise_png(), "image/png"), ("seven.png", digit_png(), "image/png")]
    ).run()
    assert not at.exception, [e.value for e in at.exception]
    noise, seven = views(at)[0], views(at)[2]  # each file: its summary block, then its maps
    assert "looks unlike the training images" in noise
    assert "looks unlike" not in seven  # a drawn 7 is near enough to MNIST's sevens


def test_compare_opens_on_runs_of_one_kind_and_replays_two_different_runs(shipped):
    import json

    at = open_page("app_pages/compare.py")
    chosen = at.multiselect(key="compare.runs").value
    assert [Path(p).name for p in chosen] == ["mnist-baseline", "mnist-cbam", "mnist-channel_element"]
    assert not any("not comparable" in c for c in texts(at, "caption"))
    (bars,) = [json.loads(c.proto.spec) for c in at.get("plotly_chart") if c.proto.id.endswith("compare.bar")]
    assert [t["type"] for t in bars["data"]] == ["bar"] and bars["layout"]["title"]["text"] == "Test accuracy"
    assert bars["layout"]["xaxis"]["automargin"]
    left, right = at.selectbox(key="compare.timeline.left"), at.selectbox(key="compare.timeline.right")
    assert left.value != right.value
    at.multiselect(key="compare.runs").set_value(chosen[1:]).run()  # the left run goes: still two runs
    left, right = at.selectbox(key="compare.timeline.left"), at.selectbox(key="compare.timeline.right")
    assert {left.value, right.value} == set(chosen[1:]) and not at.exception, [e.value for e in at.exception]


def test_compares_step_slider_starts_from_the_end_when_the_pair_changes(shipped):
    at = open_page("app_pages/compare.py")
    slider = lambda: at.select_slider(key="compare.timeline.step")  # noqa: E731
    last = lambda: int(slider().options[-1])  # noqa: E731  (the options as the slider shows them)
    assert slider().value == last()
    early = int(slider().options[1])
    slider().set_value(early).run()
    assert slider().value == early  # it stays while the pair stays
    left, right = at.selectbox(key="compare.timeline.left").value, at.selectbox(key="compare.timeline.right").value
    third = next(p for p in at.multiselect(key="compare.runs").value if p not in (left, right))
    at.selectbox(key="compare.timeline.right").set_value(third).run()
    assert not at.exception, [e.value for e in at.exception]
    assert slider().value == last() != early  # another pair: from its last snapshot, the saved models'


def test_the_replay_starts_from_the_last_snapshot_of_each_run(shipped):
    import tal

    other = MODELS / "mnist-element"
    steps = {path: tal.runs.load_run(path).timeline()["steps"].tolist() for path in (FULL, other)}
    at = open_page("app_pages/inspect.py")
    at.selectbox(key="inspect.run").set_value(str(FULL)).run()
    slider = lambda: at.select_slider(key="inspect.timeline.step")  # noqa: E731
    assert slider().value == steps[FULL][-1]
    # an early step both runs have (the bug: the slider stayed on it), else any early one
    early = next((s for s in steps[FULL][1:-1] if s in steps[other]), steps[FULL][1])
    slider().set_value(early).run()
    t = steps[FULL].index(early) + 1
    assert any(c.startswith(f"Snapshot {t} of {len(steps[FULL])} at step {early}") for c in _captions(at))
    at.selectbox(key="inspect.run").set_value(str(other)).run()
    assert not at.exception, [e.value for e in at.exception]
    assert slider().value == steps[other][-1]
    n = len(steps[other])
    assert any(c.startswith(f"Snapshot {n} of {n} at step {steps[other][-1]}") for c in _captions(at))
    # the slider stays where it is moved while the run stays
    slider().set_value(steps[other][1]).run()
    assert slider().value == steps[other][1]


def _captions(at) -> list[str]:
    return [c for image in at.get("image") for c in image.captions]


def test_the_maps_over_training_say_what_their_columns_are_for_both_kinds_of_data(shipped):
    from tal.engine.registry import load_run
    from tal.engine.timeline import snapshot_at
    from tal.ui.train_panel import columns_text

    at = open_page("app_pages/compare.py")
    pair = [str(MODELS / "multidigit-baseline"), str(MULTIDIGIT)]
    at.multiselect(key="compare.runs").set_value(pair).run()
    assert not at.exception, [e.value for e in at.exception]
    captions = [c for image in at.get("image") for c in image.captions if c.startswith("Snapshot")]
    columns = len(load_run(MULTIDIGIT).timeline()["images"])
    (caption,) = captions  # the baseline has no maps to follow
    assert f"{columns} canvases for 10 classes" in caption and "one validation image per class" not in caption
    assert any("no spatial attention maps" in c for c in texts(at, "caption"))
    # told by the probabilities where a caller does not say (sigmoids for multidigit, a softmax for MNIST)
    for path, words in ((MULTIDIGIT, "canvases for 10 classes"), (FULL, "one validation image per class")):
        snapshot = snapshot_at(load_run(path).timeline(), 0)
        assert words in columns_text(snapshot) and words in columns_text(snapshot, own=1)
    assert columns_text(snapshot, own=1).endswith(", then your own digit")


def _url(at) -> dict:
    """The page URL's query parameters (AppTest may hold a value as a one-item list)."""
    return {k: v[-1] if isinstance(v, list) else v for k, v in at.query_params.items()}


def test_a_link_opens_inspect_on_its_run_image_and_switches_and_the_url_follows_the_view(shipped):
    other = MODELS / "mnist-element"
    at = open_page("app_pages/inspect.py", {"run": other.name, "image": "class", "class": "7", "nth": "3",
                                            "whatif": "A", "overlay": "1"})
    assert at.selectbox(key="inspect.run").value == str(other) and not texts(at, "warning")
    assert at.segmented_control(key="inspect.source").value == "By class"
    assert at.segmented_control(key="inspect.class").value == "7" and at.number_input(key="inspect.k").value == 3
    assert at.toggle(key="inspect.whatif.A").value and at.toggle(key="inspect.overlay").value
    assert not at.toggle(key="inspect.whatif.M").value and not at.toggle(key="inspect.interactive").value
    assert "A uniform" in view(at) and "number 3 among the images of class 7" in view(at)
    # the URL follows each change: the image (a fragment re-run), a switch, the source, the run
    at.number_input(key="inspect.k").set_value(5).run()
    assert _url(at) == {"run": other.name, "image": "class", "class": "7", "nth": "5", "whatif": "A", "overlay": "1"}
    at.toggle(key="inspect.whatif.A").set_value(False).run()
    at.toggle(key="inspect.interactive").set_value(True).run()
    assert "whatif" not in _url(at) and _url(at)["hover"] == "1"
    at.segmented_control(key="inspect.source").set_value("By number").run()
    at.number_input(key="inspect.number").set_value(42).run()
    assert {k: _url(at).get(k) for k in ("image", "number", "class", "nth")} == {
        "image": "number", "number": "42", "class": None, "nth": None}
    at.selectbox(key="inspect.run").set_value(str(FULL)).run()
    assert _url(at)["run"] == FULL.name and not at.exception, [e.value for e in at.exception]
    # a link to a random draw shows that draw again
    again = open_page("app_pages/inspect.py", {"run": FULL.name, "image": "random", "number": "123"})
    assert "random test image #123" in view(again) and _url(again)["number"] == "123"


def test_a_bad_link_warns_and_falls_back_to_the_defaults(shipped):
    at = open_page("app_pages/inspect.py", {"run": "no-such-run", "image": "class", "class": "x", "nth": "99999",
                                            "whatif": "Z,A", "overlay": "maybe"})
    assert not at.exception, [e.value for e in at.exception]
    warnings = " ".join(texts(at, "warning"))
    for bad in ("`run=no-such-run`", "`class=x`", "`nth=99999`", "`whatif=Z`", "`overlay=maybe`"):
        assert bad in warnings, (bad, warnings)
    assert "expected 1 or 0" in warnings and "expected one of 0, 1, 2" in warnings
    assert at.selectbox(key="inspect.run").value == str(FULL)  # the default run
    assert at.segmented_control(key="inspect.class").value == "0" and at.number_input(key="inspect.k").value == 1
    assert at.toggle(key="inspect.whatif.A").value and not at.toggle(key="inspect.overlay").value  # A was fine
    assert _url(at) == {"run": FULL.name, "image": "class", "class": "0", "nth": "1", "whatif": "A"}
    at.number_input(key="inspect.k").set_value(2).run()  # the warnings were for the link: shown once
    at.toggle(key="inspect.overlay").set_value(True).run()
    assert not texts(at, "warning") and not at.exception
    bad_image = open_page("app_pages/inspect.py", {"image": "banana", "number": "-4"})
    assert any("`image=banana`" in w for w in texts(bad_image, "warning"))
    assert bad_image.segmented_control(key="inspect.source").value == "By class"
