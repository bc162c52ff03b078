"""Studies: run identity, reuse of finished runs, resume after a stop, the time estimate, the CLI."""
from __future__ import annotations

import json
import types

import pytest

import tal
from tal.engine import identity, study
from tal.engine.ablation import build_trials
from tal.engine.training import TrainingControl


def _configs(**changes):
    model = tal.ModelConfig(**changes.pop("model", {}))
    data = tal.DataConfig(**changes.pop("data", {}))
    return model, tal.TrainConfig(**changes, data=data)


def test_same_settings_and_seed_give_the_same_identity_and_any_change_another():
    base = identity.run_identity(*_configs())
    assert len(base) == identity.LENGTH and base == identity.run_identity(*_configs())
    # what does not change the trained model: where the data is, the timeline, shapes that follow from the data
    for same in (dict(data={"data_dir": "/elsewhere"}), dict(data={"allow_download": False}), dict(timeline=False),
                 dict(model={"input_shape": (48, 48, 1)})):
        assert identity.run_identity(*_configs(**same)) == base, same
    changed = [dict(seed=1), dict(epochs=3), dict(aux_weight=1.0), dict(model={"element": False}),
               dict(model={"reduction_ratio": 8}), dict(data={"train_size": 500}), dict(data={"dataset": "translated"}),
               dict(data={"subset_seed": 2})]
    identities = {identity.run_identity(*_configs(**c)) for c in changed}
    assert base not in identities and len(identities) == len(changed)


def test_an_older_run_gets_its_identity_from_its_config():
    model, train = _configs(seed=4)
    config = json.loads(json.dumps({"model": model.to_dict(), "train": train.to_dict()}))  # as read from disk
    run = types.SimpleNamespace(config=config)
    assert identity.identity_of_run(run) == identity.run_identity(model, train)
    assert identity.identity_of_run(types.SimpleNamespace(config={})) is None


def _run(status="completed", **metrics):
    return types.SimpleNamespace(config={"train": {"aux_weight": 0.5}},
                                 metrics={"status": status, "final_aux_weight": 0.5, **metrics})


def test_only_finished_runs_with_an_unmoved_lambda_are_reused():
    assert identity.why_not_reusable(_run()) is None
    assert identity.why_not_reusable(_run(aux_weight_changed=False)) is None
    assert "stopped" in identity.why_not_reusable(_run("stopped"))
    assert "λ was changed" in identity.why_not_reusable(_run(aux_weight_changed=True))
    assert "λ was changed" in identity.why_not_reusable(_run(final_aux_weight=1.0))  # older runs: no flag


def test_a_grid_without_runs_or_too_large_is_refused():
    with pytest.raises(ValueError, match="no runs"):
        study.check_size([])
    with pytest.raises(ValueError, match="41 models"):
        study.check_size([object()] * 41)
    study.check_size([object()] * 41, confirmed=True)


def test_the_estimate_uses_measured_speed_once_per_architecture_and_skips_reused_trials():
    trials = build_trials("demo", seeds=2, study="e", train_overrides={"epochs": 2})
    plan = study.Plan("e", "demo", trials, [None, object(), None, None])  # baseline seed 1 is done
    calls = []

    def measure(model_config, batch_size):
        calls.append((model_config.label, batch_size))
        return 100.0  # images/s

    sizes = {"train": 1000, "val": 100, "test": 300, "input_shape": [28, 28, 1], "num_classes": 10,
             "multi_label": False}
    guess = study.estimate(plan, sizes, runs_dir="/nonexistent", measure=measure)
    # 2 epochs × 1000 images at 100 images/s, plus (2 × 100 + 300) / 3 inference images, plus 4 s
    per = (2 * 1000 + (2 * 100 + 300) / 3) / 100 + 4
    assert guess.per_trial_s == pytest.approx([per, 0.0, per, per])
    assert guess.seconds == pytest.approx(3 * per) and guess.reused == 1
    assert calls == [("baseline", 128), ("scale+channel+element", 128)]
    assert guess.measured == ["measured now", "reused", "measured now", "measured now"]


# ---------------------------------------------------------------------------------------------- trainings


def _tiny_trials(mnist_path, name="tiny"):
    return build_trials("demo", seeds=1, study=name, train_overrides={"epochs": 1},
                        data_overrides={"train_size": 300, "test_size": 100, "data_dir": str(mnist_path)})


class _StopInTrial:
    """Presses Stop after the first batch of the `n`-th training (1-based)."""

    def __init__(self, control, n):
        self.control, self.n, self.seen = control, n, 0

    def __call__(self, trial):
        self.seen += 1
        outer = self

        class Stopper:
            def on_batch_end(self, progress):
                if outer.seen == outer.n:
                    outer.control.stop()

        return [Stopper()]


@pytest.mark.slow
def test_a_stopped_study_resumes_where_it_stopped_and_a_rerun_reuses_everything(mnist_path, tmp_path):
    from tal.engine.registry import list_runs

    trials = _tiny_trials(mnist_path)
    control = TrainingControl()
    plan = study.make_plan("tiny", "demo", trials, runs_dir=tmp_path)
    assert plan.to_train == trials
    results = study.run_study(plan, runs_dir=tmp_path, control=control, callbacks_for=_StopInTrial(control, 2))
    assert [r["variant"] for r in results] == ["baseline"]  # the stopped full model is left out
    # and leaves no run behind: no half-trained run in the pickers or `tal runs`
    assert [r.name for r in list_runs(tmp_path)] == [results[0]["run"]]
    summary = json.loads((tmp_path / "_ablations" / "tiny" / "summary.json").read_text())
    assert summary["planned"] == 2 and summary["complete"] is False and len(summary["trials"]) == 1

    preset, design = study.load_design("tiny", tmp_path)
    assert preset == "demo" and design == trials
    resumed = study.make_plan("tiny", preset, design, runs_dir=tmp_path)
    assert resumed.reused[0] is not None and resumed.reused[0].name == results[0]["run"]
    assert resumed.reused[1] is None  # its stopped run cannot stand in for a finished one
    started = []
    results = study.run_study(resumed, runs_dir=tmp_path, on_trial_start=lambda i, t, r: started.append(r))
    assert [r.get("reused", False) for r in results] == [True, False]
    assert results[1]["run"] == trials[1].run_name  # resumed under its own name, not "…-2"
    summary = json.loads((tmp_path / "_ablations" / "tiny" / "summary.json").read_text())
    assert summary["complete"] is True and [r["seeds"] for r in summary["rows"]] == [1, 1]

    # the same study again, under another name: nothing trains, every run is reused
    before = sorted(r.name for r in list_runs(tmp_path))
    again = study.make_plan("again", "demo", _tiny_trials(mnist_path, "again"), runs_dir=tmp_path)
    assert again.to_train == []
    records = study.run_study(again, runs_dir=tmp_path)
    assert sorted(r.name for r in list_runs(tmp_path)) == before
    assert [r["run"] for r in records] == [r["run"] for r in results]
    assert [r["test_accuracy"] for r in records] == [r["test_accuracy"] for r in results]
    # --no-reuse plans every training
    assert study.make_plan("x", "demo", trials, runs_dir=tmp_path, reuse=False).to_train == trials
    # a deleted run is named as missing
    from tal.engine.registry import delete_run

    delete_run(results[0]["run"], tmp_path)
    assert study.missing_runs(summary, tmp_path) == [results[0]["run"]]


def test_resume_of_an_unknown_study_says_which_can_be_resumed(tmp_path):
    with pytest.raises(FileNotFoundError, match="No study named 'nope'"):
        study.load_design("nope", tmp_path)


@pytest.mark.slow
def test_cli_dry_run_reuse_and_resume_messages(mnist_path, tmp_path):
    from test_cli import tal_cli

    common = ["--preset", "demo", "--seeds", "1", "--train-size", "300", "--test-size", "100", "--epochs", "1",
              "--data-dir", mnist_path, "--runs-dir", tmp_path]
    proc = tal_cli("ablate", *common, "--name", "first", "--quiet")
    assert proc.returncode == 0, proc.stderr
    proc = tal_cli("ablate", *common, "--name", "second", "--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert "2 reuse finished runs with the same settings and seed, 0 to train" in proc.stderr
    assert "reuses first-baseline-s0" in proc.stdout and "Estimated time on this machine: 0 s" in proc.stdout
    proc = tal_cli("ablate", *common, "--name", "third")
    assert proc.returncode == 0 and proc.stderr.count("reusing") == 2, proc.stderr
    proc = tal_cli("ablate", "--resume", "nope", "--runs-dir", tmp_path)
    assert proc.returncode == 2 and "No study named 'nope'" in proc.stderr and "first" in proc.stderr
    proc = tal_cli("ablate", "--resume", "first", "--epochs", "3", "--runs-dir", tmp_path)
    assert proc.returncode == 2 and "leave out --epochs" in proc.stderr


def test_a_new_study_cannot_take_the_name_of_another_one(tmp_path):
    trials = build_trials("demo", seeds=1, study="same")
    study.write_design(study.Plan("same", "demo", trials, [None, None]), runs_dir=tmp_path)
    study.write_design(study.Plan("same", "demo", trials, [None, None]), runs_dir=tmp_path)  # its own: fine
    other = build_trials("demo", seeds=2, study="same")
    with pytest.raises(ValueError, match="already exists with other settings"):
        study.write_design(study.Plan("same", "demo", other, [None] * 4), runs_dir=tmp_path)
