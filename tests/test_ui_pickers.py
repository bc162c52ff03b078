"""Which run the Inspect, Predict and Localization pages show first, and how the run pickers label runs."""
from __future__ import annotations

from types import SimpleNamespace as NS

from tal.ui.pickers import default_run


def run(name, *, shipped=False, element=True, dataset="mnist", status="completed", size=28, branches=("element",)):
    return NS(name=name, path=name, shipped=shipped, metrics={"status": status},
              model_config=NS(element=element, input_shape=(size, size, 1), branches=branches),
              train_config=NS(data=NS(dataset=dataset)))


def test_the_newest_own_run_on_real_digits_comes_first():
    runs = [run("mine-synthetic", dataset="synthetic"), run("mine-stopped", status="stopped"), run("mine"),
            run("demo", shipped=True, branches=("scale", "channel", "element"))]
    assert default_run(runs).name == "mine"


def test_a_synthetic_or_stopped_own_run_gives_way_to_the_fullest_mnist_demo():
    runs = [run("mine-synthetic", dataset="synthetic"), run("mine-stopped", status="stopped"),
            run("demo-element", shipped=True), run("demo-translated", shipped=True, size=48,
                                                   branches=("scale", "channel", "element")),
            run("demo-full", shipped=True, branches=("scale", "channel", "element")),
            run("demo-baseline", shipped=True, element=False, branches=())]
    assert default_run(runs).name == "demo-full"


def test_without_demos_the_own_run_with_maps_is_shown_even_if_synthetic():
    assert default_run([run("plain", element=False), run("mine-synthetic", dataset="synthetic")]).name == \
        "mine-synthetic"
    assert default_run([run("plain", element=False)]).name == "plain"


def test_run_labels_say_how_much_each_run_trained_beside_its_score():
    from tal.ui.pickers import run_label

    def labelled(metrics, data, train, shipped=False):
        return run_label(NS(name="r", shipped=shipped, metrics={"label": "element", **metrics},
                            config={"data": data, "train": train}))

    assert labelled({"test_accuracy": 0.9712, "epochs_completed": 1}, {"train": 270, "val": 30}, {"epochs": 1}) == \
        "r · element · 97.1% test acc. · 300 training images, 1 epoch"
    assert labelled({"mean_auc": 0.7312, "epochs_completed": 2, "status": "stopped"},
                    {"train": 54000, "val": 6000}, {"epochs": 8}, shipped=True) == \
        "r · element · mean AUC 0.731 · 60,000 training images, 2 of 8 epochs · stopped early · shipped demo"
    assert labelled({"test_accuracy": 0.5}, {}, {"epochs": 8, "data": {"train_size": 500}}) == \
        "r · element · 50.0% test acc. · 500 training images, 8 epochs"  # an older run: what its settings say
    assert labelled({}, {}, {}) == "r · element"
