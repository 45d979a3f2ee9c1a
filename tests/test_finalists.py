"""Judging finalists: k-fold folds, the tie rule towards the smaller model (keras_nas.finalists)."""

import numpy as np
import pytest

from keras_nas.finalists import (
    CROSS_VALIDATION, KFOLD_BELOW_SAMPLES, FinalistScores, fold_indices, uses_cross_validation,
)


def test_folds_cover_every_sample_once_and_keep_class_proportions():
    y = np.repeat(np.arange(10), [30, 28, 31, 29, 30, 27, 33, 30, 29, 30])
    folds = fold_indices(y, 3, seed=0, stratify=True)
    joined = np.concatenate(folds)
    assert sorted(joined.tolist()) == list(range(len(y)))
    for fold in folds:
        counts = np.bincount(y[fold], minlength=10)
        # Each class is dealt in turn: every fold holds a third of it, give or take one.
        assert np.all(np.abs(counts - np.bincount(y) / 3) <= 1), counts
    assert abs(len(folds[0]) - len(folds[2])) <= 1
    # One-hot labels are stratified the same way; the same seed gives the same folds.
    one_hot = np.eye(10)[y]
    assert all(np.array_equal(a, b) for a, b in zip(folds, fold_indices(one_hot, 3, seed=0, stratify=True)))
    assert not all(np.array_equal(a, b) for a, b in zip(folds, fold_indices(y, 3, seed=1, stratify=True)))


def test_a_smaller_finalist_within_noise_of_the_best_wins():
    # Trial "b" is 0.3 points better on average but loses a fold: within noise, and "a" is smaller.
    scores = FinalistScores(CROSS_VALIDATION, {"a": [0.96, 0.97, 0.95], "b": [0.97, 0.96, 0.96]},
                            flash_kb={"a": 5.0, "b": 8.0})
    assert scores.best_by_mean() == "b"
    assert scores.tied_with_best() == ["a", "b"]
    assert scores.winner() == "a"
    # Better on every fold by a clear margin: no tie, the larger model wins.
    clear = FinalistScores(CROSS_VALIDATION, {"a": [0.95, 0.94, 0.95], "b": [0.97, 0.97, 0.98]},
                           flash_kb={"a": 5.0, "b": 8.0})
    assert clear.tied_with_best() == ["b"] and clear.winner() == "b"
    # A loss objective is minimised.
    loss = FinalistScores(CROSS_VALIDATION, {"a": [0.30, 0.31, 0.29], "b": [0.20, 0.21, 0.22]},
                          flash_kb={"a": 5.0, "b": 8.0}, direction="min")
    assert loss.winner() == "b"
    summary = scores.to_dict()
    assert summary["method"] == CROSS_VALIDATION and summary["winner"] == "a"
    assert summary["trials"]["b"]["mean"] == pytest.approx(0.9633333)
    assert summary["trials"]["a"]["spread"] == pytest.approx(0.01)


def test_cross_validation_only_where_folds_can_be_trusted():
    x, y = np.zeros((100, 4)), np.zeros(100)
    small = (np.zeros((KFOLD_BELOW_SAMPLES - 1, 4)), np.zeros(KFOLD_BELOW_SAMPLES - 1))
    large = (np.zeros((KFOLD_BELOW_SAMPLES, 4)), np.zeros(KFOLD_BELOW_SAMPLES))
    assert uses_cross_validation((x, y), small, "classification", {"batch_size": 32})
    assert uses_cross_validation((x, y), small, "regression", {})
    assert not uses_cross_validation((x, y), large, "classification", {})
    assert not uses_cross_validation((object(),), object(), "classification", {})  # a dataset
    assert not uses_cross_validation((x, y), small, "anomaly", {})  # its AUC is scored on fixed labels
    assert not uses_cross_validation((x, y), small, "classification", {"sample_weight": y})
