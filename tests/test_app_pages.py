"""AppTest checks of every page of the explorer, including a real short training through the UI."""

from __future__ import annotations

import io
import os
import re
import time
from pathlib import Path

import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

APP = str(Path(__file__).resolve().parents[1] / "app.py")
TIMEOUT = 120  # the first TensorFlow import alone takes several seconds here


def open_page(page: str, query: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    if query:
        at.query_params.update(query)
    at.run()
    if page != "app_pages/overview.py":
        at.switch_page(page)
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def digit_png(size: int = 120) -> bytes:
    """A dark '7' on white paper, as a user might draw it."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (size, size), "white")
    d = ImageDraw.Draw(img)
    d.line([(25, 25), (95, 25), (50, 100)], fill="black", width=10)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def texts(at: AppTest, kind: str) -> list[str]:
    return [e.value for e in getattr(at, kind)]


def views(at: AppTest) -> list[str]:
    """The HTML of every image view block (`tal.ui.html_view`) on the page, in page order."""
    import json

    return [json.loads(e.proto.json)["html"] for e in at.get("bidi_component") if e.proto.component_name == "tal_view"]


def view(at: AppTest) -> str:
    return " ".join(views(at))


def wait_for(predicate, timeout: float = 180.0, at: AppTest | None = None, every: float = 0.5):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if at is not None:
            at.run()
        if predicate():
            return True
        time.sleep(every)
    return False


@pytest.fixture
def env(runs_dir, mnist_path, monkeypatch, tmp_path):
    """Real MNIST, an empty run registry, no shipped demos."""
    import tal.engine.registry

    monkeypatch.setenv("TAL_DATA_DIR", str(mnist_path))
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    monkeypatch.setattr(tal.engine.registry, "SHIPPED_DIR", shipped)
    return runs_dir


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Two tiny runs made with the library: the full model and the baseline (no maps)."""
    import os

    import tal

    mnist = os.environ.get("TAL_DATA_DIR") or str(
        Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
    )
    if not Path(mnist).is_dir():
        pytest.skip("real MNIST not found (set TAL_DATA_DIR)")
    root = tmp_path_factory.mktemp("runs")
    data = tal.DataConfig(train_size=300, test_size=200, data_dir=mnist)
    train = tal.TrainConfig(epochs=1, data=data)
    full = tal.train(tal.ModelConfig(), train, name="full", runs_dir=root).run
    base = tal.train(
        tal.ModelConfig(scale=False, channel=False, element=False),
        train,
        name="base",
        runs_dir=root,
    ).run
    zoo = tal.train(tal.ModelConfig(extra_attention="danet"), train, name="zoo", runs_dir=root).run
    return root, full, base, zoo


@pytest.fixture
def with_runs(trained, env, monkeypatch):
    root, full, base, _ = trained
    monkeypatch.setenv("TAL_RUNS_DIR", str(root))
    return full, base


# --------------------------------------------------------------------------- Overview


def test_overview_explains_with_equations_and_badges(env):
    at = open_page("app_pages/overview.py")
    assert "Triple Attention" in texts(at, "title")[0]
    latex = " ".join(texts(at, "latex"))
    assert r"\sum_{h,w} A_{h,w,c}\, S_{h,w,c}" in latex and r"\sigma(S) \odot A" in latex
    md = " ".join(texts(at, "markdown"))
    for badge in ("[A3Net]", "[SRN]", "[SE]", "[CBAM]", "[ours]"):
        assert badge in md
    assert at.get("graphviz_chart")


def test_overview_starts_with_every_page_then_the_equations(env):
    from tal.ui import router, theory

    at = open_page("app_pages/overview.py")
    headers = texts(at, "subheader")
    assert headers[0] == "Start here" and headers.index("Start here") < headers.index("The equations")
    titles = [title for _, title, _ in router.PAGES]
    assert [link.proto.label for link in at.get("page_link")][:len(titles)] == [f"**{t}**" for t in titles]
    md = texts(at, "markdown")
    for title in titles:  # each page's line in full (a link's label would be cut to one line)
        assert theory.PAGE_GUIDE[title] in md, title
    assert any("with a sanity check; every hit and miss opens on Inspect." in m for m in md)
    assert not at.exception


# --------------------------------------------------------------------------- empty states


@pytest.mark.parametrize(
    "page", ["app_pages/inspect.py", "app_pages/predict.py", "app_pages/compare.py", "app_pages/localization.py"]
)
def test_pages_without_runs_show_call_to_action(env, page):
    at = open_page(page)
    assert any("No runs yet" in t for t in texts(at, "info"))
    assert not at.error


# --------------------------------------------------------------------------- Train form and URL


def test_train_form_reads_and_writes_the_url(env):
    at = open_page(
        "app_pages/train.py",
        {
            "epochs": "7",
            "element": "0",
            "dataset": "translated",
            "learning_rate": "banana",
            "batch_size": "99999",
            "bogus": "1",
        },
    )
    assert at.number_input(key="train.epochs").value == 7
    assert at.toggle(key="train.element").value is False
    assert at.selectbox(key="train.dataset").value == "translated"
    warnings = " ".join(texts(at, "warning"))
    assert "learning_rate=banana" in warnings and "batch_size=99999" in warnings
    import tal

    assert at.number_input(key="train.learning_rate").value == tal.TrainConfig().learning_rate
    assert at.query_params["epochs"] == ["7"] or at.query_params["epochs"] == "7"
    at.number_input(key="train.epochs").set_value(4).run()
    epochs = at.query_params["epochs"]
    assert (epochs[-1] if isinstance(epochs, list) else epochs) == "4"
    assert not at.exception


def test_train_form_says_before_start_when_the_name_is_taken(env):
    from tal.engine import registry

    class Model:
        def save(self, path):
            path.write_bytes(b"model")

    registry.write_run("cli1", config={}, history={}, metrics={}, model=Model(), root=env)
    at = open_page("app_pages/train.py")
    assert not any("exists already" in t for t in texts(at, "info"))
    at.text_input(key="train.name").set_value("cli1").run()
    assert "A run called **cli1** exists already: Start keeps it and saves this run as **cli1-2**." in \
        texts(at, "info")
    at.text_input(key="train.name").set_value("my run").run()
    assert not any("exists already" in t for t in texts(at, "info"))
    assert any("Saved as **my-run**" in t for t in texts(at, "caption"))
    at.text_input(key="train.name").set_value("///").run()
    assert any("needs at least one letter or digit" in t for t in texts(at, "warning"))
    assert not at.exception


def test_train_invalid_combination_shows_error_not_traceback(env):
    at = open_page("app_pages/train.py", {"backbone": "dense"})
    at.number_input(key="train.train_size").set_value(5).run()  # below DataConfig's minimum of 10
    at.button(key="train.start").click().run()
    assert any("train_size" in e for e in texts(at, "error"))
    assert not at.exception


def test_missing_data_reports_the_library_message(env, monkeypatch, tmp_path):
    """A link that asks for MNIST on a machine without it: the error in the app's words, then one click
    switches to the synthetic digits, clears the error and says to press Start again."""
    monkeypatch.setenv("TAL_DATA_DIR", str(tmp_path / "nowhere"))
    at = open_page("app_pages/train.py", {"dataset": "mnist"})
    assert at.selectbox(key="train.dataset").value == "mnist"  # the link's choice is kept
    at.number_input(key="train.train_size").set_value(100).run()
    at.button(key="train.start").click().run()
    job = at.session_state["train_job"]
    assert job.wait(120)
    at.run()
    errors = " ".join(texts(at, "error"))
    assert "not on this machine" in errors and "synthetic" in errors and "TAL_DATA_DIR" in errors
    assert "allow_download" not in errors and "data_dir=" not in errors  # no Python argument syntax
    at.button(key="train.use_synthetic").click().run()
    assert at.selectbox(key="train.dataset").value == "synthetic"
    assert not texts(at, "error") and any("Press **Start training**" in t for t in texts(at, "info"))
    assert not at.exception


@pytest.mark.slow
def test_without_mnist_the_form_starts_on_synthetic_digits_and_the_first_start_trains(env, monkeypatch, tmp_path):
    monkeypatch.setenv("TAL_DATA_DIR", str(tmp_path / "nowhere"))
    at = open_page("app_pages/train.py")
    assert at.selectbox(key="train.dataset").value == "synthetic"
    assert any("MNIST is not on this machine" in t for t in texts(at, "info"))
    at.number_input(key="train.train_size").set_value(200).run()
    at.number_input(key="train.test_size").set_value(50).run()
    at.number_input(key="train.epochs").set_value(1).run()
    at.button(key="train.start").click().run()
    job = at.session_state["train_job"]
    assert job.wait(180) and job.status == "completed", job.error
    at.run()
    assert not texts(at, "error") and any("Finished" in t for t in texts(at, "success"))
    assert not at.exception


# --------------------------------------------------------------------------- real training


@pytest.mark.slow
def test_train_start_change_lambda_stop_and_second_session_waits(env):
    a = open_page("app_pages/train.py")
    a.number_input(key="train.train_size").set_value(2000).run()
    a.number_input(key="train.test_size").set_value(200).run()
    # 12,500 steps: far more than any machine trains before the Stop below (no race against the click)
    a.number_input(key="train.epochs").set_value(100).run()
    a.number_input(key="train.batch_size").set_value(16).run()
    a.text_input(key="train.name").set_value("ui-run").run()
    a.button(key="train.start").click().run()
    job = a.session_state["train_job"]
    try:
        assert wait_for(lambda: len(job.batches) >= 3, at=a), job.status
        # mid-epoch the bar shows the speed (at an epoch's end it names the phase instead)
        assert wait_for(lambda: a.get("progress") and "images/s" in a.get("progress")[0].proto.text, at=a)
        assert a.get("plotly_chart"), "live curves missing"
        # the live maps: one picture of the probe images, refreshed with the snapshots
        assert wait_for(lambda: job.snapshot is not None and job.snapshot["step"] > 0, at=a)
        live = [c for image in a.get("image") for c in image.captions if c.startswith("Live maps at step")]
        assert live and "one validation image per class" in live[0]

        # a second browser session sees nothing of it, and its own run waits for the slot
        b = open_page("app_pages/train.py")
        assert "train_job" not in b.session_state
        b.number_input(key="train.train_size").set_value(100).run()
        b.button(key="train.start").click().run()
        b.run()
        assert any("Waiting for a free training slot" in t for t in texts(b, "info"))
        b.button(key="train.stop").click().run()
        assert b.session_state["train_job"].wait(10)
        assert b.session_state["train_job"].status == "cancelled"

        # λ moved while training shows up in the recorded progress
        a.slider(key=f"train.live_lambda.{job.id}").set_value(1.5).run()
        seen = len(job.batches)
        assert wait_for(lambda: len(job.batches) >= seen + 2)
        assert job.batches[-1]["aux_weight"] == pytest.approx(1.5)
        a.button(key="train.stop").click().run()
        assert job.wait(180)
    finally:
        job.stop()
        job.wait(180)
    a.run()
    assert job.status == "stopped", job.error_details
    assert any("Stopped early" in s for s in texts(a, "success"))
    assert {b.proto.label for b in a.get("download_button")} >= {
        "Download model.keras",
        "Download run card (JSON)",
        "Keras code (.py)",
    }
    import tal

    runs = tal.runs.list_runs(env)
    assert [r.name for r in runs] == ["ui-run"]
    assert runs[0].metrics["status"] == "stopped"
    assert not a.exception

    # the stopped run replays its maps on Inspect, up to the step it stopped at
    timeline = runs[0].timeline()
    assert timeline["steps"][-1] == runs[0].metrics["steps_completed"]
    i = open_page("app_pages/inspect.py")
    i.selectbox(key="inspect.run").set_value(str(runs[0].path)).run()
    assert i.select_slider(key="inspect.timeline.step").value == int(timeline["steps"][-1])
    i.select_slider(key="inspect.timeline.step").set_value(int(timeline["steps"][0])).run()
    assert any(c.startswith("Snapshot 1 of") for image in i.get("image") for c in image.captions)
    assert not i.exception


@pytest.mark.slow
def test_a_killed_training_process_is_reported_and_the_page_goes_on(env):
    """kill -9 of the training worker mid-run: a clear message on Train, no run saved, the next Start trains."""
    import os
    import signal

    import tal
    from tal.ui.jobs import training_manager

    a = open_page("app_pages/train.py")
    a.number_input(key="train.train_size").set_value(400).run()
    a.number_input(key="train.test_size").set_value(100).run()
    a.number_input(key="train.epochs").set_value(40).run()
    a.text_input(key="train.name").set_value("killed").run()
    a.button(key="train.start").click().run()
    job = a.session_state["train_job"]
    assert wait_for(lambda: len(job.batches) >= 3, at=a), (job.status, job.error)
    os.kill(job.worker.pid, signal.SIGKILL)
    assert job.wait(60) and job.status == "failed"
    a.run()
    errors = " ".join(texts(a, "error"))
    assert "training process ended unexpectedly" in errors and "Nothing of this run was saved" in errors, errors
    assert not a.exception and tal.runs.list_runs(env) == []
    assert a.button(key="train.start").disabled is False
    a.number_input(key="train.epochs").set_value(1).run()
    a.text_input(key="train.name").set_value("after").run()
    a.button(key="train.start").click().run()
    again = a.session_state["train_job"]
    assert again.wait(180) and again.status == "completed", again.error
    assert [r.name for r in tal.runs.list_runs(env)] == ["after"]
    assert training_manager().worker_pids()  # a fresh worker took over


# --------------------------------------------------------------------------- Inspect


@pytest.mark.slow
def test_inspect_shows_maps_and_equation_with_real_numbers(with_runs):
    full, _ = with_runs
    at = open_page("app_pages/inspect.py")
    at.selectbox(key="inspect.run").set_value(str(full.path)).run()
    # no Plotly chart: the class grid, the input and M are PNGs, the bars plain HTML
    # (each changed Plotly chart is mounted afresh in the browser on every update)
    assert len(at.get("plotly_chart")) == 0
    code = [b for b in at.get("download_button") if b.proto.label == "Keras code (.py)"]
    assert len(code) == 1 and "build_model()" in code[0].proto.help
    assert {b.proto.label for b in at.get("download_button")} == {"Download model.keras", "Keras code (.py)"}
    # the summary, grid, bars, equation and pictures are one block of HTML (one element to swap per update)
    html = view(at)
    assert len(views(at)) == 1 and html.count("<img") == 3  # the input with its ink box, the grid, M over the input
    assert "input the model sees" in html and "dotted: the ink" in html and "M from" in html
    (timeline,) = [c for image in at.get("image") for c in image.captions]
    assert timeline.startswith("Snapshot ") and "one validation image per class" in timeline
    assert "Class probabilities" in html and "Scale weights" in html and "Channel gate" in html
    assert 'aria-label="Prediction"' in html and not [m for m in at.metric if m.label == "Prediction"]
    # the check for every class (a switch that starts at the prediction): Σ A⊙S from the maps = the model's logit
    checks = re.findall(r'<div class="tal-small">([^<>]+)</div><div data-value[^>]*>([^<]+)<', html)
    assert len(checks) == 4 * 10
    for k in range(10):
        cells = dict(checks[4 * k:4 * k + 4])
        assert float(cells["Σ A⊙S from the maps"]) == pytest.approx(float(cells["aux logit from the model"]), abs=2e-5)
        assert float(next(v for label, v in cells.items() if label.startswith("Σ A over"))) == pytest.approx(1, abs=1e-3)
    assert html.count("<math") == 10 and "largest terms" in html and "Top contributions" in html
    (chosen,) = re.findall(r'<option value="(\d+)" selected>', html)  # starts at the prediction
    assert re.findall(r'data-tal-case="equation-class" data-tal-value="(\d+)">', html) == [chosen]  # the rest hidden
    for source in ("Misclassified", "Random"):
        at.segmented_control(key="inspect.source").set_value(source).run()
        assert not at.exception, source
    at.toggle(key="inspect.overlay").set_value(True).run()
    assert not at.exception
    at.toggle(key="inspect.interactive").set_value(True).run()  # the grid with hover values, on request
    assert len(at.get("plotly_chart")) == 1 and not at.exception
    assert len(views(at)) == 2 and view(at).count("<img") == 2  # the chart between two blocks, no grid picture


@pytest.mark.slow
def test_inspect_upload_corrupt_and_good(with_runs):
    full, _ = with_runs
    at = open_page("app_pages/inspect.py")
    at.selectbox(key="inspect.run").set_value(str(full.path)).run()
    at.segmented_control(key="inspect.source").set_value("Upload").run()
    at.file_uploader(key="inspect.upload").set_value(
        ("broken.png", b"\x89PNG\r\n\x1a\nnot really", "image/png")
    ).run()
    assert at.error and not at.exception
    at.file_uploader(key="inspect.upload").set_value(("seven.png", digit_png(), "image/png")).run()
    assert not at.error and not at.exception
    assert 'aria-label="Prediction"' in view(at) and "seven.png" in view(at)


@pytest.mark.slow
def test_inspect_baseline_says_which_maps_are_absent(with_runs):
    _, base = with_runs
    at = open_page("app_pages/inspect.py")
    at.selectbox(key="inspect.run").set_value(str(base.path)).run()
    info = view(at)
    assert (
        "No A, S, U or M maps" in info and "No channel gate" in info and "No scale weights" in info
    )
    assert not [t for t in at.toggle if t.key in ("inspect.overlay", "inspect.interactive")]  # no grid to draw
    assert not at.exception


# --------------------------------------------------------------------------- Predict


@pytest.mark.slow
def test_predict_good_and_corrupt_files_each_get_their_own_result(with_runs):
    full, _ = with_runs
    at = open_page("app_pages/predict.py")
    at.selectbox(key="predict.run").set_value(str(full.path)).run()
    at.file_uploader(key="predict.files").set_value(
        [
            ("seven.png", digit_png(), "image/png"),
            ("corrupt.jpg", b"definitely not a jpeg", "image/jpeg"),
            ("empty.gif", b"", "image/gif"),
        ]
    ).run()
    assert not at.exception
    assert len(at.error) == 2
    assert "corrupt.jpg" in at.error[0].value and "empty.gif" in at.error[1].value
    assert view(at).count('aria-label="Prediction"') == 1 and len(views(at)) == 2  # summary, maps
    assert any("1 of 3" in c for c in texts(at, "caption"))


# --------------------------------------------------------------------------- Compare


def test_compare_shows_an_ablation_summary(env):
    from tal.engine.ablation import summarize, write_summary

    def rec(variant, branches, seed, acc):
        return {"variant": variant, "seed": seed, "run": f"{variant}{seed}", "branches": branches,
                "aux_weight": 0.5, "test_accuracy": acc, "per_class_accuracy": [acc] * 10, "params": 10,
                "training_time_s": 1.0, "status": "completed"}

    results = [rec("baseline", [], s, a) for s, a in enumerate([0.97, 0.98, 0.99])]
    results += [rec("scale", ["scale"], s, a) for s, a in enumerate([1.00, 1.01, 1.02])]
    write_summary("my-study", "branches", summarize(results), results, runs_dir=env)
    at = open_page("app_pages/compare.py")
    assert not at.exception
    assert "my-study" in at.selectbox(key="compare.study").format_func(at.selectbox(key="compare.study").value)
    (table,) = [d.value for d in at.dataframe if "verdict" in d.value.columns]
    assert list(table["verdict"]) == ["baseline", "real"]
    assert list(table["test accuracy (%)"]) == ["98.00 ± 1.00", "101.00 ± 1.00"]


@pytest.mark.slow
def test_compare_two_runs(with_runs):
    full, base = with_runs
    at = open_page("app_pages/compare.py")
    at.multiselect(key="compare.runs").set_value([str(full.path), str(base.path)]).run()
    assert len(at.dataframe) == 2
    table = at.dataframe[0].value
    assert list(table.columns) == ["", full.name, base.name]  # short names: no aliases needed
    assert dict(zip(table[""], table[full.name]))["run"] == full.name
    assert (
        len(at.get("plotly_chart")) >= 5
    )  # curves, bar, confusion, input, maps of the element run
    assert any("Without the element-wise branch" in c for c in texts(at, "caption"))
    at.number_input(key="compare.maps.index").set_value(5).run()
    assert not at.exception


def snapshot_captions(at: AppTest) -> list[str]:
    return [c for image in at.get("image") for c in image.captions if c.startswith("Snapshot")]


@pytest.mark.slow
def test_compare_replays_two_runs_maps_at_matched_steps(trained, env, monkeypatch):
    root, full, _, zoo = trained
    monkeypatch.setenv("TAL_RUNS_DIR", str(root))
    at = open_page("app_pages/compare.py")
    at.multiselect(key="compare.runs").set_value([str(full.path), str(zoo.path)]).run()
    captions = snapshot_captions(at)
    last = [int(t["steps"][-1]) for t in (full.timeline(), zoo.timeline())]
    assert len(captions) == 2 and all(f"at step {s}:" in c for s, c in zip(last, captions))
    first = int(full.timeline()["steps"][0])
    at.select_slider(key="compare.timeline.step").set_value(first).run()
    captions = snapshot_captions(at)
    assert all(c.startswith("Snapshot 1 of") for c in captions), captions
    at.radio(key="compare.timeline.by").set_value("share").run()
    at.slider(key="compare.timeline.share").set_value(100).run()
    captions = snapshot_captions(at)
    assert all(f"at step {s}:" in c for s, c in zip(last, captions)) and not at.exception


@pytest.mark.slow
def test_inspect_shows_the_extra_literature_module_maps(trained, env, monkeypatch):
    root, _, _, zoo = trained
    monkeypatch.setenv("TAL_RUNS_DIR", str(root))
    at = open_page("app_pages/inspect.py")
    at.selectbox(key="inspect.run").set_value(str(zoo.path)).run()
    specs = " ".join(c.proto.spec for c in at.get("plotly_chart"))
    assert "DANet position attention of the query" in specs and "DANet channel affinity" in specs
    before = [c.proto.spec for c in at.get("plotly_chart") if "of the query" in c.proto.spec]
    at.slider(key="inspect.query.row").set_value(0).run()
    at.slider(key="inspect.query.col").set_value(0).run()
    after = [c.proto.spec for c in at.get("plotly_chart") if "of the query" in c.proto.spec]
    assert before != after  # another query position, another attention map
    assert not at.exception
    at = open_page("app_pages/predict.py")  # Predict shows them too, under each file's maps
    at.selectbox(key="predict.run").set_value(str(zoo.path)).run()
    at.file_uploader(key="predict.files").set_value(("seven.png", digit_png(), "image/png")).run()
    assert "DANet position attention of the query" in " ".join(c.proto.spec for c in at.get("plotly_chart"))
    assert not at.exception


@pytest.mark.slow
def test_unloadable_model_gets_a_friendly_error(with_runs, tmp_path, monkeypatch):
    import shutil

    full, _ = with_runs
    root = tmp_path / "broken-runs"
    broken = root / "broken"
    shutil.copytree(full.path, broken)
    (broken / "model.keras").write_bytes(b"this is not a keras archive")
    monkeypatch.setenv("TAL_RUNS_DIR", str(root))
    for page in ("app_pages/inspect.py", "app_pages/predict.py"):
        at = open_page(page)
        if page.endswith("predict.py"):
            at.file_uploader(key="predict.files").set_value(
                ("seven.png", digit_png(), "image/png")
            ).run()
        assert any("cannot be loaded" in e for e in texts(at, "error")), page
        assert not at.exception


def test_extra_literature_module_is_a_form_choice(env):
    at = open_page("app_pages/train.py", {"extra_attention": "danet"})
    assert at.selectbox(key="train.extra_attention").value == "danet"


@pytest.mark.slow
def test_inspect_without_test_data_offers_uploads(with_runs, monkeypatch):
    import tal
    from tal.ui import loaders

    def missing(*args, **kwargs):
        raise tal.DataNotFoundError("MNIST not found (test).")

    monkeypatch.setattr(loaders, "test_set", missing)
    at = open_page("app_pages/inspect.py")
    assert any("only uploads can be inspected" in w for w in texts(at, "warning"))
    assert at.segmented_control(key="inspect.source").options == ["Upload"]
    assert not at.exception


def test_train_panel_shows_the_phase_while_no_batch_ends():
    """Validation and BatchNorm recalibration: the bar says so instead of freezing."""

    def script():
        import streamlit as st

        from tal import ModelConfig, TrainConfig
        from tal.engine.callbacks import Progress
        from tal.ui import jobs, state, train_panel
        from tal.engine.worker import EventSender

        job = jobs.TrainingJob(ModelConfig(), TrainConfig())
        job.status = "training"
        progress = Progress(2, 3, 10, 10, 20, 30, 0.5, 0.4, 0.1, 0.9, 0.8, None, None, 1.0, 100.0, 5.0, 2.0)
        events = EventSender(job.apply)  # what the worker sends, applied as the server applies it
        events.on_batch_end(progress)
        events.on_phase(Progress(**{**progress.to_dict(), "phase": st.query_params["phase"]}))
        st.session_state[state.JOB] = job
        train_panel._status(job)

    for phase, words in (("validating", "Epoch 2/3 · validating"), ("recalibrating", "recalibrating the BatchNorm")):
        at = AppTest.from_function(script, default_timeout=TIMEOUT)
        at.query_params["phase"] = phase
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        bar = at.get("progress")[0]
        assert words in bar.proto.text, bar.proto.text


# --------------------------------------------------------------------------- multi-label (multidigit)


@pytest.fixture(scope="module")
def trained_multidigit(trained):
    """A tiny full model on multidigit canvases, in the same registry as `trained`."""
    import tal

    root, *_ = trained
    mnist = os.environ.get("TAL_DATA_DIR") or str(Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist")
    data = tal.DataConfig(dataset="multidigit", train_size=300, test_size=80, data_dir=mnist)
    return tal.train(tal.ModelConfig(), tal.TrainConfig(epochs=1, data=data), name="md", runs_dir=root).run


@pytest.fixture
def with_multidigit(trained, trained_multidigit, env, monkeypatch):
    root, full, *_ = trained
    monkeypatch.setenv("TAL_RUNS_DIR", str(root))
    return trained_multidigit, full


@pytest.mark.slow
def test_inspect_multidigit_shows_present_classes_and_boxes(with_multidigit):
    md, _ = with_multidigit
    at = open_page("app_pages/inspect.py")
    at.selectbox(key="inspect.run").set_value(str(md.path)).run()
    assert not at.exception
    html = view(at)
    assert 'aria-label="Classes present (model)"' in html and "box in its class colour" in html
    assert "present above 0.5" in html and "dotted green" in html
    assert "<mi>σ</mi>" in html  # σ(score_c), not softmax
    at.segmented_control(key="inspect.class").set_value("7").run()
    assert "showing a 7" in view(at)
    for source in ("Misclassified", "Random", "By number"):
        at.segmented_control(key="inspect.source").set_value(source).run()
        assert not at.exception, source


@pytest.mark.slow
def test_localization_page_scores_maps_and_opens_a_miss_on_inspect(with_multidigit):
    md, full = with_multidigit
    at = open_page("app_pages/localization.py")
    assert at.multiselect(key="localize.runs").value == [str(md.path)]  # multi-label runs by default
    at.select_slider(key="localize.images").set_value(100).run()
    assert not at.exception
    table = at.dataframe[0].value
    assert set(table["method"]) >= {"A: attention (spatial softmax per class)", "Grad-CAM (post hoc)"}
    assert ((table["pointing, chance"] > 0) & (table["pointing, chance"] < 1)).all()
    assert len(at.get("plotly_chart")) == 2
    at.multiselect(key="localize.runs").set_value([str(md.path), str(full.path)]).run()
    assert set(at.dataframe[0].value["run"]) == {"md", "full"} and not at.exception
    for kind in ("misses", "hits"):  # a tiny model has both, but which is empty is up to chance
        at.radio(key="localize.pair_kind").set_value(kind).run()
        if not any(t.startswith("No ") for t in texts(at, "success")):
            break
    assert not at.exception and len(at.get("image")) == 2  # the canvas with its boxes, the map over it
    at.button(key="localize.open").click().run()
    assert not at.exception
    assert at.segmented_control(key="inspect.source").value == "By number"
    assert at.selectbox(key="inspect.run").value == str(md.path)


@pytest.mark.slow
def test_compare_multidigit_and_mnist_runs(with_multidigit):
    md, full = with_multidigit
    at = open_page("app_pages/compare.py")
    at.multiselect(key="compare.runs").set_value([str(md.path), str(full.path)]).run()
    assert not at.exception
    frames = [d.value for d in at.dataframe]
    settings = list(frames[0][""])  # a column per run, a row per setting
    assert "mean AUC" in settings and "test accuracy" in settings and list(frames[0].columns) == ["", "md", "full"]
    assert any(list(f["run"]) == ["md"] and "class 0" in f.columns for f in frames[1:])  # the per-class AUC table


@pytest.mark.slow
def test_inspect_what_ifs_change_the_prediction_and_score_the_test_set(with_runs):
    full, _ = with_runs
    at = open_page("app_pages/inspect.py")
    at.selectbox(key="inspect.run").set_value(str(full.path)).run()
    toggles = [t for t in at.toggle if t.key.startswith("inspect.whatif.") and t.key != "inspect.whatif.table"]
    assert {t.label for t in toggles} == {"Scale weights uniform", "Channel gate = 1", "A uniform", "M = 0"}
    at.toggle(key="inspect.whatif.A").set_value(True).run()
    assert not at.exception
    assert "What the interventions change" in view(at)
    assert "With A uniform: prediction" in view(at)
    assert "Attention — with the interventions" in view(at)
    assert any("forward passes" in c for c in texts(at, "caption"))
    at.toggle(key="inspect.whatif.channel_gate").set_value(True).run()
    assert "With Channel gate = 1, A uniform:" in view(at)  # catalogue order
    at.toggle(key="inspect.whatif.table").set_value(True).run()
    assert not at.exception
    (table,) = [d.value for d in at.dataframe if "intervention" in d.value.columns]
    assert list(table["intervention"]) == ["as trained", "Scale weights uniform", "Channel gate = 1", "A uniform",
                                           "M = 0"]
    assert table["change (pp)"].iloc[0] == 0


@pytest.mark.slow
def test_inspect_says_when_a_run_has_no_timeline(with_runs, tmp_path, monkeypatch):
    import shutil

    full, _ = with_runs
    old = tmp_path / "old-runs" / "old"
    shutil.copytree(full.path, old)
    (old / "timeline.npz").unlink()
    monkeypatch.setenv("TAL_RUNS_DIR", str(old.parent))
    at = open_page("app_pages/inspect.py")
    at.selectbox(key="inspect.run").set_value(str(old)).run()
    assert any("saved without a map timeline" in c for c in texts(at, "caption")) and not at.exception


@pytest.mark.slow
def test_inspect_baseline_has_no_what_ifs(with_runs):
    _, base = with_runs
    at = open_page("app_pages/inspect.py")
    at.selectbox(key="inspect.run").set_value(str(base.path)).run()
    assert not [t for t in at.toggle if t.key.startswith("inspect.whatif.")]


# --------------------------------------------------------------------------- Studies


@pytest.mark.slow
def test_studies_designs_runs_and_then_reuses_a_study(env, mnist_path):
    at = open_page("app_pages/studies.py")
    assert at.selectbox(key="study.preset").value == "demo"
    assert at.multiselect(key="study.configs").value == ["baseline", "scale+channel+element"]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Trainings"] == "4" and metrics["Reused (already trained)"] == "0"
    at.number_input(key="study.seeds").set_value(1)
    at.number_input(key="study.train_size").set_value(300)
    at.number_input(key="study.test_size").set_value(100)
    at.number_input(key="study.epochs").set_value(1)
    at.text_input(key="study.name").set_value("tiny").run()
    assert {m.label: m.value for m in at.metric}["Trainings"] == "2"
    at.button(key="study.start").click().run()
    assert any(t.startswith("Study tiny:") for t in texts(at, "info"))  # the sidebar follows it on every page
    assert wait_for(lambda: any("All 2 runs are in" in s for s in texts(at, "success")), at=at, timeout=300), (
        texts(at, "info"), texts(at, "error"))
    (table,) = [d.value for d in at.dataframe if "verdict" in d.value.columns][:1]
    assert list(table["configuration"]) == ["baseline", "scale+channel+element"]
    assert at.selectbox(key="studies.saved.choice").format_func(at.selectbox(key="studies.saved.choice").value
                                                                ).startswith("tiny · custom · 2 runs")
    # the same design again: the name moved on to "tiny-2"; "tiny" is taken; under a new name every run is reused
    at.run()
    assert at.text_input(key="study.name").value == "tiny-2"
    at.text_input(key="study.name").set_value("tiny").run()
    assert any("already exists" in w for w in texts(at, "warning"))
    at.text_input(key="study.name").set_value("tiny-again").run()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Reused (already trained)"] == "2" and metrics["Estimated time"] == "none"
    assert not at.exception


def test_studies_offer_the_ray_cluster_when_one_is_configured(env, monkeypatch):
    at = open_page("app_pages/studies.py")
    assert not [r for r in at.radio if r.key == "study.where"]  # none configured: this machine only
    monkeypatch.setenv("TAL_RAY_ADDRESS", "ray://head:10001")
    at = open_page("app_pages/studies.py")
    where = at.radio(key="study.where")
    assert where.value == "here" and "the Ray cluster at ray://head:10001" in where.options



def test_studies_say_what_changed_from_the_preset(env):
    from tal.ui.studies import _preset_values, changed_from_preset

    values = dict(_preset_values("demo"))
    assert changed_from_preset("demo", values) == []
    values.update(epochs=values["epochs"] + 2, train_size=0)
    said = changed_from_preset("demo", values)
    assert any(s.startswith("epochs ") and s.endswith(f"→ {values['epochs']}") for s in said)
    assert any(s.startswith("training images ") and s.endswith("→ all") for s in said)
    at = open_page("app_pages/studies.py")
    assert not [c for c in texts(at, "caption") if "Changed from the preset" in c]
    at.number_input(key="study.epochs").set_value(at.number_input(key="study.epochs").value + 1).run()
    (note,) = [c for c in texts(at, "caption") if "Changed from the preset" in c]
    assert "epochs" in note and not at.exception
