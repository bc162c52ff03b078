"""Test-set scores: multi-label AUC, exact match and micro-F1 against hand-computed values."""
from __future__ import annotations

import numpy as np
import pytest

from tal.engine.evaluation import headline, multi_label_scores, per_class_auc, single_label_scores

Y = np.array([[1, 0], [0, 1], [1, 1], [0, 0]])
P = np.array([[0.9, 0.3], [0.8, 0.6], [0.4, 0.7], [0.1, 0.2]])


def test_per_class_auc_by_hand():
    # class 0: positives 0.9, 0.4 vs negatives 0.8, 0.1 -> 3 of 4 pairs ranked right
    # class 1: positives 0.6, 0.7 vs negatives 0.3, 0.2 -> 4 of 4
    assert per_class_auc(Y, P) == [pytest.approx(0.75), pytest.approx(1.0)]


def test_auc_is_undefined_for_a_class_always_absent():
    assert per_class_auc(np.array([[1, 0], [0, 0]]), np.array([[0.9, 0.1], [0.2, 0.3]]))[1] is None


def test_exact_match_and_micro_f1_by_hand():
    scores = multi_label_scores(Y, P)
    # predicted at 0.5: [1,0], [1,1], [0,1], [0,0] -> rows 0 and 3 exactly right
    assert scores["exact_match"] == pytest.approx(0.5)
    # TP = 3 (r0c0, r1c1, r2c1), FP = 1 (r1c0), FN = 1 (r2c0): F1 = 2*3 / (2*3 + 1 + 1)
    assert scores["micro_f1"] == pytest.approx(6 / 8)
    assert scores["mean_auc"] == pytest.approx(0.875)


def test_single_label_scores_and_headline():
    scores = single_label_scores([0, 1, 1], np.array([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8]]), 2)
    assert scores["test_accuracy"] == pytest.approx(2 / 3)
    assert scores["confusion_matrix"] == [[1, 0], [1, 1]]
    assert headline(scores) == ("test accuracy", pytest.approx(2 / 3))
    assert headline(multi_label_scores(Y, P)) == ("mean AUC", pytest.approx(0.875))
