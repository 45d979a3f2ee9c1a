"""The anomaly task's score of a sample and the AUC it is ranked by; no Keras.

Shared by `keras_nas.tasks` (which scores a model's outputs with them) and
`keras_nas.task_training` (whose `ValidationAUC` callback logs `val_auc`
during training). They live here, below both, so that neither reaches back up
to the other; `keras_nas.tasks` re-exports them under their old paths.
"""

from __future__ import annotations

import numpy as np


def reconstruction_errors(outputs: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The mean squared error of each sample's reconstruction (the anomaly score)."""
    outputs = np.asarray(outputs, dtype="float64").reshape(len(outputs), -1)
    return np.mean((outputs - np.asarray(x, dtype="float64").reshape(len(x), -1)) ** 2, axis=1)


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve of `scores` for binary `labels` (1: positive), ties averaged.

    Example:

    >>> roc_auc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1]))
    0.75
    """
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(np.asarray(labels).reshape(-1), np.asarray(scores).reshape(-1)))
