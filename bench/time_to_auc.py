"""Time to mean AUC 0.98 on multidigit canvases: the full model vs the plain baseline, side by side.

A3Net's own setting is multi-label. Both models train as `tal.train` trains
them on the multidigit canvases (sigmoid heads, β-weighted binary
cross-entropy on both heads, cosine schedule, BatchNorm statistics
recalibrated before each evaluation and counted as training time) and are
evaluated every quarter epoch on 2,000 test canvases (mean per-class ROC
AUC, scikit-learn); evaluation time is excluded. They train in turns, one
evaluation slice each, so a busy spell on the machine slows both. Reported:
the training time to the first evaluation at or above each threshold, the
time from which every later evaluation stays above it, and the ratio full /
baseline.

    python bench/time_to_auc.py [--train-size N] [--epochs N]
"""
from __future__ import annotations

import argparse

from _common import write_result
from time_to_accuracy import race, report, round_robin

THRESHOLDS = (0.95, 0.98, 0.99)


def mean_auc(probs, y_test) -> float:
    from tal.engine.evaluation import multi_label_scores

    return multi_label_scores(y_test, probs)["mean_auc"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-size", type=int, default=None, help="training canvases (default: all)")
    parser.add_argument("--test-size", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=None, help="planned epochs (default: TrainConfig's)")
    parser.add_argument("--evals-per-epoch", type=int, default=4)
    args = parser.parse_args()

    import keras

    import tal
    from tal.core.batchnorm import recalibrate_batchnorm
    from tal.core.losses import multilabel_class_weights
    from tal.core.models import build_model
    from tal.engine.training import compile_model

    data = tal.load_dataset(tal.DataConfig(dataset="multidigit", train_size=args.train_size,
                                           test_size=args.test_size, val_fraction=0.0))
    x, y, x_test, y_test = data.x_train, data.y_train, data.x_test, data.y_test
    train_config = tal.TrainConfig(**({"epochs": args.epochs} if args.epochs else {}))
    races = {}
    for name, toggles in (("tal full", {}), ("tal baseline", dict(scale=False, channel=False, element=False))):
        keras.utils.set_random_seed(0)
        config = tal.ModelConfig(input_shape=data.input_shape, multi_label=True, **toggles)
        model = build_model(config)
        steps = int(-(-len(x) // train_config.batch_size)) * train_config.epochs
        compile_model(model, config, train_config, multilabel_class_weights(y),
                      keras.Variable(train_config.aux_weight, trainable=False), steps)
        outputs = model.output_names
        races[name] = race(name, model, {"batch_size": train_config.batch_size, "epochs": 1,
                                         "targets": lambda yy, o=outputs: {k: yy for k in o}},
                           x, y, x_test, y_test, args.evals_per_epoch, train_config.epochs,
                           recalibrate=lambda m, xx: recalibrate_batchnorm(m, xx),
                           score=mean_auc, thresholds=THRESHOLDS, label="mean AUC")
    results = round_robin(races)
    ratios = report(results, "tal full", "tal baseline", unit="AUC ")
    write_result("time_to_auc", {"train_images": int(len(x)), "test_images": int(len(x_test)),
                                 "train_config": {"batch_size": train_config.batch_size,
                                                  "learning_rate": train_config.learning_rate,
                                                  "epochs": train_config.epochs},
                                 "results": results, "ratio_full_to_baseline": ratios["time_to"],
                                 "ratio_full_to_baseline_stay": ratios["time_to_stay"]})


if __name__ == "__main__":
    main()
