"""`python -m tal` end to end on a small MNIST subset, and its error handling."""
from __future__ import annotations

import io
import json
import types
from pathlib import Path

import numpy as np
import pytest
from fresh import REPO, python
from PIL import Image, ImageDraw

TINY = ["--train-size", "600", "--test-size", "200", "--epochs", "1", "--batch-size", "32"]


def tal_cli(*args, env_extra=None, cwd=None):
    return python("-m", "tal", *args, env_extra=env_extra, cwd=cwd or REPO)


def _digit_png(path: Path) -> Path:
    img = Image.new("L", (60, 80), 255)
    ImageDraw.Draw(img).line([(10, 10), (50, 10), (25, 70)], fill=0, width=7)  # a dark "7" on white
    img.save(path)
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory, mnist_dir_module):
    root = tmp_path_factory.mktemp("cli")
    runs = root / "runs"
    proc = tal_cli("train", *TINY, "--data-dir", mnist_dir_module, "--name", "cli-run", "--runs-dir", runs,
                   "--no-scale", "--aux-weight", "0.3")
    assert proc.returncode == 0, proc.stderr
    return root, runs, json.loads(proc.stdout)


@pytest.fixture(scope="module")
def mnist_dir_module():
    from conftest import mnist_dir

    path = mnist_dir()
    if path is None:
        pytest.skip("real MNIST not found (set TAL_DATA_DIR)")
    return path


@pytest.mark.slow
def test_train_writes_a_run_with_the_flags(trained):
    root, runs, out = trained
    assert out["status"] == "completed" and 0 < out["test_accuracy"] <= 1
    config = json.loads((runs / "cli-run" / "config.json").read_text())
    assert config["model"]["scale"] is False and config["train"]["aux_weight"] == 0.3
    assert config["train"]["data"]["train_size"] == 600


@pytest.mark.slow
def test_runs_evaluate_and_predict(trained):
    root, runs, _ = trained
    listing = json.loads(tal_cli("runs", "--json", "--no-shipped", "--runs-dir", runs).stdout)
    assert [r["name"] for r in listing] == ["cli-run"] and listing[0]["branches"] == "channel+element"

    evaluated = tal_cli("evaluate", "cli-run", "--runs-dir", runs, "--test-size", "100")
    assert evaluated.returncode == 0, evaluated.stderr
    assert json.loads(evaluated.stdout)["test_images"] == 100

    digit = _digit_png(root / "seven.png")
    maps = root / "out" / "maps.npz"
    predicted = tal_cli("predict", "cli-run", digit, "--runs-dir", runs, "--maps", maps)
    assert predicted.returncode == 0, predicted.stderr
    result = json.loads(predicted.stdout)["results"][0]
    assert result["file"].endswith("seven.png") and 0 <= result["prediction"] <= 9
    assert sum(result["probabilities"]) == pytest.approx(1.0, abs=1e-4)
    with np.load(maps) as saved:
        assert saved["A"].shape == (1, 7, 7, 10) and saved["images"].shape == (1, 28, 28)
        np.testing.assert_allclose(saved["A"].sum(axis=(1, 2)), 1.0, rtol=1e-5)


@pytest.mark.slow
def test_config_file_reproduces_a_run(trained, tmp_path):
    root, runs, _ = trained
    proc = tal_cli("train", "--config", runs / "cli-run" / "config.json", "--epochs", "1", "--name", "again",
                   "--runs-dir", tmp_path, "--quiet")
    assert proc.returncode == 0, proc.stderr
    config = json.loads((tmp_path / "again" / "config.json").read_text())
    assert config["model"]["scale"] is False and config["train"]["data"]["test_size"] == 200


def _corrupt_png(path: Path) -> Path:
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    return path


def _predict_in_process(args, capsys) -> tuple[int, str, str]:
    """`tal predict ARGS` in this process: exit code, stdout, stderr."""
    from tal.cli import main

    capsys.readouterr()
    code = main(["predict", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("tal: error:")]


@pytest.mark.slow
def test_predict_reads_every_file_it_can_and_names_each_bad_one(trained, tmp_path, capsys):
    root, runs, _ = trained
    good, good2 = _digit_png(tmp_path / "good.png"), _digit_png(tmp_path / "good2.png")
    bad, missing = _corrupt_png(tmp_path / "bad.png"), tmp_path / "missing.png"
    maps = tmp_path / "out" / "maps.npz"
    code, out, err = _predict_in_process(["cli-run", good, bad, good2, missing, "--runs-dir", runs, "--maps", maps],
                                         capsys)
    assert code == 3, err
    printed = json.loads(out)
    assert [r["file"] for r in printed["results"]] == [str(good), str(good2)]
    assert [e["file"] for e in printed["errors"]] == [str(bad), str(missing)]
    errors = _error_lines(err)
    assert len(errors) == 2 and "Traceback" not in err
    assert errors[0].startswith(f"tal: error: {bad}: ") and "truncated or corrupt" in errors[0]
    assert errors[1].startswith(f"tal: error: {missing}: ") and "not found" in errors[1]
    assert f"{maps} holds the maps of the 2 image(s)" in err
    with np.load(maps) as saved:  # the good files' maps, in their order
        assert list(saved["files"]) == [str(good), str(good2)] and saved["images"].shape == (2, 28, 28)
        assert saved["A"].shape[0] == 2


@pytest.mark.slow
def test_predict_on_a_folder_predicts_its_images_sorted(trained, tmp_path, capsys):
    root, runs, _ = trained
    folder = tmp_path / "digits"
    (folder / "sub").mkdir(parents=True)
    _digit_png(folder / "sub" / "inside.png")  # subfolders are not read
    for name in ("b.png", "a.PNG", ".hidden.png"):
        _digit_png(folder / name)
    _corrupt_png(folder / "c.png")
    (folder / "notes.txt").write_text("not an image")
    code, out, err = _predict_in_process(["cli-run", folder, "--runs-dir", runs], capsys)
    assert code == 3, err
    assert [r["file"] for r in json.loads(out)["results"]] == [str(folder / "a.PNG"), str(folder / "b.png")]
    assert _error_lines(err) == [f"tal: error: {folder / 'c.png'}: the file could not be opened: the file is "
                                 "truncated or corrupt."]
    assert "left out 1 file(s) not named like an image (notes.txt)" in err

    (folder / "c.png").unlink()
    code, out, err = _predict_in_process(["cli-run", folder, "--runs-dir", runs], capsys)
    assert code == 0 and not _error_lines(err) and json.loads(out)["errors"] == []


@pytest.mark.slow
def test_predict_with_no_readable_image_exits_2_and_writes_nothing(trained, tmp_path, capsys):
    root, runs, _ = trained
    empty = tmp_path / "empty"
    empty.mkdir()
    maps = tmp_path / "never.npz"
    code, out, err = _predict_in_process(["cli-run", _corrupt_png(tmp_path / "corrupt.png"), empty,
                                          "--runs-dir", runs, "--maps", maps], capsys)
    assert code == 2 and out == "" and not maps.exists()
    errors = _error_lines(err)
    assert len(errors) == 3 and "corrupt.png" in errors[0] and "holds no image files" in errors[1]
    assert "nothing was predicted" in errors[2] and "Traceback" not in err


def test_predict_inputs_expand_folders_in_order_without_reading_images(tmp_path, capsys):
    from tal.cli import _predict_inputs

    folder = tmp_path / "f"
    (folder / "sub.png").mkdir(parents=True)  # a folder named like an image is still a folder
    for name in ("z.jpg", "a.tif", "readme.md", ".DS_Store"):
        (folder / name).write_bytes(b"x")
    (tmp_path / "no-images").mkdir()
    inputs = _predict_inputs([tmp_path / "one.png", folder, tmp_path / "no-images"])
    assert inputs[:3] == [(tmp_path / "one.png", None), (folder / "a.tif", None), (folder / "z.jpg", None)]
    assert inputs[3][0] == tmp_path / "no-images" and "holds no image files" in inputs[3][1]
    assert capsys.readouterr().err == f"tal: note: {folder}: left out 1 file(s) not named like an image (readme.md)\n"


@pytest.mark.parametrize("args, fragment", [
    (["train", "--epochs", "0"], "epochs=0"),
    (["train", "--feature-mode", "mask"], "feature_mode='mask'"),
    (["train", "--stage-filters", "a,b"], "comma-separated integers"),
    (["train", "--bogus"], "unrecognized arguments"),
    (["train", "--config", "missing.json"], "config file not found"),
    (["train", "--data-dir", "/nonexistent/mnist", "--epochs", "1"], "/nonexistent/mnist"),
    (["evaluate", "no-such-run"], "No complete run called 'no-such-run'"),
    # bad input the library finds deeper down, raised as its own ValueError subclasses
    (["train", "--name", "///"], "needs at least one letter or digit"),
    (["train", "--backbone", "densenet121", "--dataset", "synthetic", "--train-size", "10", "--test-size", "10"],
     "densenet121 needs inputs of at least 32x32"),
    (["ablate", "--preset", "bogus"], "Unknown preset 'bogus'"),
    (["ablate", "--seeds", "0"], "Expected seeds >= 1"),
    (["ablate", "--preset", "branches", "--seeds", "5"], "would train 45 models"),
])
def test_bad_arguments_give_one_line_and_exit_2_without_writing(args, fragment, tmp_path, monkeypatch, capsys):
    # in this process (TensorFlow is imported once for all cases); the real `python -m tal` entry point is
    # the same function, run as a fresh interpreter in the test below
    runs = tmp_path / "runs"
    monkeypatch.setenv("TAL_RUNS_DIR", str(runs))
    monkeypatch.chdir(tmp_path)
    code, stderr = _main_in_process(args, capsys)
    assert code == 2, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("tal")]
    assert len(errors) == 1 and fragment in errors[0], stderr
    assert not runs.exists() or not any(runs.iterdir())
    assert "Traceback" not in stderr


def _main_in_process(args, capsys) -> tuple[int, str]:
    """`tal.cli.main(args)`'s exit code and what it wrote to stderr."""
    from tal.cli import main

    capsys.readouterr()
    try:
        code = main([str(a) for a in args])
    except SystemExit as exc:  # argparse's own exits
        code = exc.code
    return code, capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("args, fragment", [
    (["train", "--epochs", "0"], "epochs=0"),
    (["train", "--bogus"], "unrecognized arguments"),
])
def test_bad_arguments_in_a_fresh_interpreter_give_one_line_and_exit_2(args, fragment, tmp_path):
    runs = tmp_path / "runs"
    proc = tal_cli(*args, env_extra={"TAL_RUNS_DIR": str(runs)}, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("tal")]
    assert len(errors) == 1 and fragment in errors[0], proc.stderr
    assert not runs.exists() or not any(runs.iterdir())
    assert "Traceback" not in proc.stderr


def test_help_lists_every_config_field():
    from tal.cli import build_parser

    text = io.StringIO()
    parser = build_parser()
    train = parser._subparsers._group_actions[0].choices["train"]
    train.print_help(text)
    for flag in ("--scale", "--no-channel", "--aux-weight", "--element-width", "--feature-mode",
                 "--reduction-ratio", "--dataset", "--train-size", "--learning-rate", "--seed"):
        assert flag in text.getvalue()


def _train_help(monkeypatch) -> str:
    from tal.cli import build_parser

    monkeypatch.setenv("COLUMNS", "100000")  # one line per flag: no hyphenated words split

    text = io.StringIO()
    parser = build_parser()
    parser._subparsers._group_actions[0].choices["train"].print_help(text)
    return " ".join(text.getvalue().split())


def test_help_shows_each_fields_label_help_and_bounds(monkeypatch):
    from tal.core import config

    text = _train_help(monkeypatch)
    assert "--aux-weight AUX_WEIGHT λ: auxiliary loss weight. L = CE(main) + λ·CE(softmax(score))" in text
    assert "Range: aux_weight >= 0. (default: 0.5)" in text
    assert "Range: 0 <= val_fraction < 0.9." in text and "Range: learning_rate > 0." in text
    assert 'Range: train_size >= 10, or "all". (default: all)' in text
    assert "One of: residual, gate, none. (default: residual)" in text
    for cls in (config.ModelConfig, config.TrainConfig, config.DataConfig):
        for spec in config.specs(cls):
            if spec.name not in ("input_shape", "num_classes", "multi_label", "data"):
                assert f"{spec.label}. {spec.help}" in text, spec.name


def test_help_follows_the_metadata(monkeypatch):
    from tal.core import config

    f = config.TrainConfig.__dataclass_fields__["epochs"]
    monkeypatch.setattr(f, "metadata", types.MappingProxyType({**f.metadata, "label": "Passes", "max": 50}))
    monkeypatch.setattr(config, "EXTRA_ATTENTION", (*config.EXTRA_ATTENTION, "fancy"))
    text = _train_help(monkeypatch)
    assert "--epochs EPOCHS Passes." in text and "Range: 1 <= epochs <= 50. (default: 8)" in text
    assert "mhsa, eca, fancy. (default: none)" in text


def test_an_out_of_bounds_flag_names_the_bound(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TAL_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.chdir(tmp_path)
    code, stderr = _main_in_process(["train", "--val-fraction", "0.95"], capsys)
    assert code == 2
    errors = [line for line in stderr.splitlines() if line.startswith("tal")]
    assert errors == ["tal: error: Expected 0 <= val_fraction < 0.9. Received: val_fraction=0.95"]


@pytest.fixture(scope="module")
def multidigit_run(tmp_path_factory, mnist_dir_module):
    runs = tmp_path_factory.mktemp("cli-md") / "runs"
    proc = tal_cli("train", "--dataset", "multidigit", "--train-size", "400", "--test-size", "60", "--epochs", "1",
                   "--batch-size", "32", "--data-dir", mnist_dir_module, "--name", "md", "--runs-dir", runs)
    assert proc.returncode == 0, proc.stderr
    return runs, json.loads(proc.stdout)


@pytest.mark.slow
def test_multidigit_train_evaluate_and_localize(multidigit_run):
    runs, out = multidigit_run
    assert 0 <= out["mean_auc"] <= 1 and "exact_match" in out and "micro_f1" in out
    evaluated = json.loads(tal_cli("evaluate", "md", "--runs-dir", runs, "--test-size", "40").stdout)
    assert evaluated["test_images"] == 40 and len(evaluated["per_class_auc"]) == 10

    proc = tal_cli("localize", "md", "--runs-dir", runs, "--images", "30", "--method", "A,gradcam")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["images"] == 30 and set(result["methods"]) == {"A", "gradcam"}
    for scores in result["methods"].values():
        assert 0 <= scores["pointing"]["overall"] <= 1 and 0 < scores["pointing"]["chance"] < 1
        assert 0 < scores["energy"]["chance"] < 1 and "spearman" in scores["randomisation"]
    assert result["tolerance_px"] == 2.0  # half a cell of the 16x16 grid over 64 pixels

    digit = _digit_png(runs.parent / "seven.png")
    predicted = json.loads(tal_cli("predict", "md", digit, "--runs-dir", runs).stdout)["results"][0]
    assert all(predicted["probabilities"][c] > 0.5 for c in predicted["present"])  # sigmoid: each class alone


@pytest.mark.slow
def test_localize_names_what_it_cannot_score_and_exits_2(multidigit_run):
    runs, _ = multidigit_run
    proc = tal_cli("localize", "md", "--runs-dir", runs, "--images", "10", "--method", "A,cbam_spatial",
                   "--no-sanity")
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "cbam_spatial" in proc.stderr
    assert set(json.loads(proc.stdout)["methods"]) == {"A"}  # what it can score is still scored
    missing = tal_cli("localize", "no-such-run", "--runs-dir", runs)
    assert missing.returncode == 2 and "no-such-run" in missing.stderr and not missing.stdout


def _stale_staging(root: Path) -> tuple[Path, Path]:
    """A staging folder two hours old (a killed training's) and one being written now."""
    import os
    import time

    stale, fresh = root / ".staging-killed-x1", root / ".staging-saving-x2"
    for path in (stale, fresh):
        path.mkdir(parents=True)
    then = time.time() - 7200
    os.utime(stale, (then, then))
    return stale, fresh


def test_train_removes_stale_staging_folders_before_training(tmp_path, monkeypatch, capsys):
    from tal import cli
    from tal.engine import startup, training

    runs = tmp_path / "runs"
    stale, fresh = _stale_staging(runs)
    seen = {}

    def fake_train(*args, **kwargs):  # what the command would train on: no TensorFlow in this test
        seen["stale_left"] = stale.exists()
        return types.SimpleNamespace(run=types.SimpleNamespace(path=runs / "r"), metrics={"status": "completed"})

    monkeypatch.setattr(startup, "import_tensorflow_quietly", lambda: None)
    monkeypatch.setattr(training, "train", fake_train)
    assert cli.main(["train", "--runs-dir", str(runs), "--quiet"]) == 0
    assert seen == {"stale_left": False} and fresh.exists()
    assert json.loads(capsys.readouterr().out)["status"] == "completed"


def _fake_run(runs: Path, name: str, mark: str = "old") -> Path:
    """A complete run folder (no real model: nothing here loads it)."""
    from tal.engine import registry

    class Model:
        def save(self, path):
            Path(path).write_bytes(mark.encode())

    return registry.write_run(name, config={"mark": mark}, history={}, metrics={"status": "completed"},
                              model=Model(), root=runs).path


def test_train_refuses_a_taken_name_before_loading_data(tmp_path, monkeypatch, capsys):
    from tal import cli
    from tal.engine import startup, training

    runs = tmp_path / "runs"
    _fake_run(runs, "cli1")
    _fake_run(runs, "cli1")  # cli1-2: the suggestion is a free name
    called = []
    monkeypatch.setattr(startup, "import_tensorflow_quietly", lambda: None)
    monkeypatch.setattr(training, "train", lambda *a, **k: called.append(1))
    code, err = _main_in_process(["train", "--name", "cli1", "--runs-dir", runs, "--data-dir", "/nonexistent"],
                                 capsys)
    assert code == 2 and not called
    assert err == (f"tal: error: a run called 'cli1' already exists in {runs}; choose another --name "
                   "(e.g. --name cli1-3), or add --replace to replace that run once the new one is saved\n")
    code, err = _main_in_process(["train", "--replace", "--runs-dir", runs], capsys)
    assert code == 2 and err == "tal: error: --replace needs --name, the run to replace\n" and not called
    (runs / "notes").mkdir()
    code, err = _main_in_process(["train", "--name", "notes", "--replace", "--runs-dir", runs], capsys)
    assert code == 2 and "is not a complete run, so it is not replaced" in err and not called
    assert sorted(p.name for p in runs.iterdir()) == ["cli1", "cli1-2", "notes"]


@pytest.mark.slow
def test_train_replace_replaces_the_run_once_the_new_one_is_saved(mnist_dir_module, tmp_path, capsys):
    runs = tmp_path / "runs"
    _fake_run(runs, "cli1")
    tiny = ["--train-size", "200", "--test-size", "100", "--epochs", "1", "--batch-size", "32"]
    code, err = _main_in_process(["train", *tiny, "--data-dir", mnist_dir_module, "--name", "cli1", "--replace",
                                  "--runs-dir", runs, "--quiet"], capsys)
    assert code == 0, err
    assert sorted(p.name for p in runs.iterdir()) == ["cli1"]  # replaced in place: no cli1-2, no staging left
    config = json.loads((runs / "cli1" / "config.json").read_text())
    assert "mark" not in config and config["train"]["data"]["train_size"] == 200
    from tal.engine.registry import load_run

    assert load_run("cli1", runs).load_model() is not None


def test_demos_prune_their_output_folder_and_listing_prunes_nothing(tmp_path, monkeypatch):
    from tal import cli
    from tal.engine import startup

    monkeypatch.setattr(startup, "import_tensorflow_quietly", lambda: None)
    out = tmp_path / "models"
    stale, fresh = _stale_staging(out)
    assert cli.main(["demos", "--out", str(out), "--list"]) == 0
    assert stale.exists()  # --list writes nothing, so it cleans nothing
    assert cli.main(["demos", "--out", str(out), "--only", "no-such-demo"]) == 2  # fails before training
    assert not stale.exists() and fresh.exists()


def test_an_unexpected_value_error_is_a_bug_and_shows_its_traceback(monkeypatch, capsys):
    """Only the project's own error types are bad input; a ValueError from deep inside is not."""
    from tal import cli
    from tal.engine import registry

    def broken(*args, **kwargs):
        raise ValueError("something inside went wrong")

    monkeypatch.setattr(registry, "list_runs", broken)
    assert cli.main(["runs"]) == cli.EXIT_BUG == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "in broken" in err
    assert "ValueError: something inside went wrong" in err
    assert err.strip().splitlines()[-1].startswith("tal: internal error: ValueError") and "tal: error:" not in err


def test_a_project_error_from_deep_inside_is_one_line(monkeypatch, capsys):
    from tal import cli
    from tal.core.config import ConfigError
    from tal.engine import registry

    def refuses(*args, **kwargs):
        raise ConfigError("Expected something else.\nReceived: this")

    monkeypatch.setattr(registry, "list_runs", refuses)
    assert cli.main(["runs"]) == cli.EXIT_USAGE
    assert capsys.readouterr().err == "tal: error: Expected something else. Received: this\n"


def test_python_dash_m_tal_runs_the_cli(monkeypatch, capsys):
    import runpy

    monkeypatch.setattr("sys.argv", ["tal", "--help"])
    with pytest.raises(SystemExit) as done:
        runpy.run_module("tal", run_name="__main__")
    assert done.value.code == 0 and "train" in capsys.readouterr().out


def _noise_png(path: Path) -> Path:
    pixels = (np.random.default_rng(0).random((56, 56)) * 255).astype("uint8")
    Image.fromarray(pixels, "L").save(path)
    return path


def test_predict_says_which_inputs_look_unlike_the_training_images(tmp_path, capsys, mnist_dir_module, monkeypatch):
    """On a shipped demo (no training): noise is flagged, a drawn 7 is not; --no-novelty leaves it out."""
    monkeypatch.setenv("TAL_DATA_DIR", str(mnist_dir_module))
    noise, seven = _noise_png(tmp_path / "noise.png"), _digit_png(tmp_path / "seven.png")
    code, out, err = _predict_in_process(["mnist-scale_channel_element", noise, seven], capsys)
    assert code == 0, err
    flagged, usual = json.loads(out)["results"]
    assert flagged["novelty"]["unusual"] and flagged["novelty"]["share_closer"] >= 0.99
    assert not usual["novelty"]["unusual"] and usual["novelty"]["distance"] < flagged["novelty"]["distance"]
    notes = [line for line in err.splitlines() if line.startswith("tal: note:")]
    assert len(notes) == 1 and notes[0].startswith(f"tal: note: {noise}: looks unlike the training images")

    code, out, err = _predict_in_process(["mnist-scale_channel_element", seven, "--no-novelty"], capsys)
    assert code == 0 and "novelty" not in json.loads(out)["results"][0] and "tal: note" not in err

    monkeypatch.setenv("TAL_DATA_DIR", str(tmp_path / "nothing-here"))  # and no Keras cache, no download (demos)
    monkeypatch.setenv("HOME", str(tmp_path))
    code, out, err = _predict_in_process(["mnist-scale_channel_element", seven], capsys)
    assert code == 0 and json.loads(out)["results"][0]["novelty"] is None
    assert "are not here, so no input is compared with them" in err
