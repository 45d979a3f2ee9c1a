"""Judging a search's finalists: more than one training each, and ties within noise to the smaller model.

One validation score is noisy, more so on a small validation set: a search
that keeps the best of many noisy scores keeps a lucky one (issue 26: a
winner at 98 % on 270 validation images tested at 95.6 %). So the best
candidates of the search, its finalists, are trained again before one wins:

- with a small validation set (under `KFOLD_BELOW_SAMPLES` samples, array
  data, a classification or regression objective), each finalist is trained
  on `FOLDS` folds of the training and validation data together (stratified
  by class) and scored on the held-out fold: every sample is validation once,
  and all finalists see the same folds, so their scores can be compared fold
  by fold;
- otherwise, each finalist is trained once more with another seed, and its
  two scores (the search's and the second) are averaged.

The finalist with the best mean wins, unless a smaller one (flash) is within
noise of it: the mean of the per-fold differences is not more than its
standard error. Ties go to the smaller model.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

# Below this many validation samples, finalists are judged by k-fold cross-validation.
KFOLD_BELOW_SAMPLES = 2000
FOLDS = 3

CROSS_VALIDATION = "cross-validation"
SECOND_TRAINING = "second training"


@dataclasses.dataclass(frozen=True)
class FinalistScores:
    """How the finalists were judged, and each one's scores.

    Attributes:
        method: `"cross-validation"` (`FOLDS` folds of the training and
            validation data) or `"second training"` (the search's score and a
            second training with another seed).
        scores: `{trial_id: [score, ...]}`, one per fold or training, in the
            objective's units.
        flash_kb: `{trial_id: flash}`, to break ties towards the smaller model.
        direction: `"max"` or `"min"`, the objective's.
    """

    method: str
    scores: dict
    flash_kb: dict
    direction: str = "max"

    def mean(self, trial_id: str) -> float:
        return float(np.mean(self.scores[trial_id]))

    def spread(self, trial_id: str) -> float:
        """The standard deviation of `trial_id`'s scores (0 with one score)."""
        values = self.scores[trial_id]
        return float(np.std(values, ddof=1)) if len(values) > 1 else 0.0

    def best_by_mean(self) -> str:
        sign = 1 if self.direction == "max" else -1
        return max(self.scores, key=lambda tid: (sign * self.mean(tid), -self.flash_kb[tid]))

    def tied_with_best(self) -> list[str]:
        """The finalists within noise of the best mean: the best, and each whose paired
        differences to it have a mean no larger than their standard error."""
        best = self.best_by_mean()
        sign = 1 if self.direction == "max" else -1
        tied = []
        for tid in self.scores:
            gaps = sign * (np.asarray(self.scores[best]) - np.asarray(self.scores[tid]))
            error = np.std(gaps, ddof=1) / math.sqrt(len(gaps)) if len(gaps) > 1 else 0.0
            if tid == best or float(np.mean(gaps)) <= error:
                tied.append(tid)
        return tied

    def winner(self) -> str:
        """The smallest (flash) of the finalists tied with the best mean."""
        return min(self.tied_with_best(), key=lambda tid: (self.flash_kb[tid], tid))

    def to_dict(self) -> dict:
        """What `winner.json` and `search_summary()` keep: method, per-trial mean, spread, scores."""
        return {
            "method": self.method,
            "trials": {
                tid: {"mean": self.mean(tid), "spread": self.spread(tid), "scores": [float(s) for s in values]}
                for tid, values in self.scores.items()
            },
            "tied_with_best": self.tied_with_best(),
            "winner": self.winner(),
        }


def uses_cross_validation(train_args: tuple, validation_data, task_name: str, train_kwargs: dict) -> bool:
    """Whether finalists are judged by k-fold cross-validation (see the module docstring).

    Array data only (a dataset cannot be split in folds here), a task whose
    metric Keras computes from `validation_data` (classification, regression),
    no per-sample weights, and fewer than `KFOLD_BELOW_SAMPLES` validation samples.
    """
    if len(train_args) != 2 or not isinstance(validation_data, tuple) or len(validation_data) != 2:
        return False
    if task_name not in ("classification", "regression") or "sample_weight" in train_kwargs:
        return False
    return len(validation_data[0]) < KFOLD_BELOW_SAMPLES


def fold_indices(y: np.ndarray, folds: int, seed: int, stratify: bool) -> list[np.ndarray]:
    """`folds` disjoint index arrays covering `range(len(y))`, stratified by class when `stratify`.

    Each class's samples (or all samples) are shuffled with `seed` and dealt to
    the folds in turn, so every fold has about the same class proportions.
    """
    rng = np.random.default_rng(seed)
    y = np.asarray(y)
    labels = (y.argmax(-1) if y.ndim > 1 and y.shape[-1] > 1 else y.reshape(len(y))) if stratify else np.zeros(len(y))
    parts: list[list[int]] = [[] for _ in range(folds)]
    start = 0
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        for i, index in enumerate(members):
            parts[(start + i) % folds].append(int(index))
        start += len(members)  # the next class starts where this one stopped
    return [np.sort(np.asarray(part, dtype="int64")) for part in parts]
