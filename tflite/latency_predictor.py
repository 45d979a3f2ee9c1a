"""A cheap latency predictor fitted on measured candidates.

Measuring every candidate of a search costs an interpreter and tens of runs;
once a few candidates have been measured, `LatencyPredictor` predicts the
others from their MAC counts alone (`keras_nas.tflite.macs`):

    latency_ms ~= intercept + sum_kind coef[kind] * MACs[kind] + per_op * n_ops

fitted by non-negative least squares (`scipy.optimize.nnls`) over the op
kinds that occur in the training models, so every term is a cost (no
negative milliseconds per MAC). `score()` reports the Spearman rank
correlation between predictions and measurements, which is what matters for
ranking candidates.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

from .macs import KINDS, MacReport, read_graph

_MACS_SCALE = 1e6  # features in millions of MACs, for conditioning


def _report(model) -> MacReport:
    return model if isinstance(model, MacReport) else read_graph(model)


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
    """Spearman rank correlation of two equal-length sequences (ties get average ranks).

    Example:

    >>> round(spearman([1, 2, 3, 4], [10, 20, 30, 25]), 3)
    0.8
    """
    from scipy.stats import spearmanr

    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape or a.ndim != 1 or len(a) < 2:
        raise ValueError(f"spearman needs two 1-D sequences of the same length >= 2, got {a.shape} and {b.shape}.")
    if np.all(a == a[0]) or np.all(b == b[0]):
        return 0.0
    return float(spearmanr(a, b).statistic)


class LatencyPredictor:
    """Per-op-kind linear latency model on MACs, fitted with NNLS.

    Attributes (after `fit`):
        coef_ms_per_mmac: Milliseconds per million MACs, per op kind.
        ms_per_op: Milliseconds per op (dispatch overhead).
        intercept_ms: Fixed milliseconds per inference.
        kinds: Op kinds used as features.

    Example:

    >>> predictor = LatencyPredictor().fit(measured_models, measured_ms)  # doctest: +SKIP
    >>> predictor.predict(candidate_bytes)  # doctest: +SKIP
    0.042
    >>> predictor.score(other_models, other_ms)  # doctest: +SKIP
    0.93
    """

    def __init__(self) -> None:
        self.kinds: list[str] = []
        self.coef_ms_per_mmac: dict[str, float] = {}
        self.ms_per_op: float = 0.0
        self.intercept_ms: float = 0.0
        self._fitted = False

    def _features(self, report: MacReport) -> np.ndarray:
        row = [report.macs_by_kind.get(kind, 0) / _MACS_SCALE for kind in self.kinds]
        return np.array(row + [float(len(report.ops)), 1.0])

    def fit(self, models: Iterable, latencies_ms: Sequence[float]) -> "LatencyPredictor":
        """Fit on measured models.

        Args:
            models: `.tflite` bytes, file paths or `MacReport`s.
            latencies_ms: Their measured latencies (e.g. medians), in ms.

        Returns:
            `self`.

        Raises:
            ValueError: Fewer than 2 models, length mismatch, or non-finite /
                negative latencies.
            InvalidModelError: A model cannot be parsed.
        """
        reports = [_report(m) for m in models]
        y = np.asarray(latencies_ms, dtype=float)
        if len(reports) < 2 or y.shape != (len(reports),):
            raise ValueError(
                f"fit needs at least 2 models and one latency per model; got {len(reports)} models "
                f"and latencies of shape {y.shape}."
            )
        if not np.all(np.isfinite(y)) or np.any(y < 0):
            raise ValueError(f"latencies_ms must be finite and >= 0, got {y.tolist()}.")
        self.kinds = [k for k in KINDS if any(r.macs_by_kind.get(k, 0) > 0 for r in reports)]
        x = np.stack([self._features(r) for r in reports])
        from scipy.optimize import nnls

        coef, _ = nnls(x, y)
        self.coef_ms_per_mmac = {k: float(c) for k, c in zip(self.kinds, coef[: len(self.kinds)])}
        self.ms_per_op = float(coef[-2])
        self.intercept_ms = float(coef[-1])
        self._fitted = True
        return self

    def predict(self, model) -> float:
        """Predicted latency (ms) of one model (bytes, path or `MacReport`).

        Raises:
            RuntimeError: `fit` has not been called.
        """
        if not self._fitted:
            raise RuntimeError("LatencyPredictor.predict called before fit(models, latencies_ms).")
        return float(self._features(_report(model)) @ self._coefficients())

    def predict_many(self, models: Iterable) -> np.ndarray:
        """Predicted latencies (ms) of several models."""
        return np.array([self.predict(m) for m in models])

    def _coefficients(self) -> np.ndarray:
        return np.array([self.coef_ms_per_mmac[k] for k in self.kinds] + [self.ms_per_op, self.intercept_ms])

    def score(self, models: Iterable, latencies_ms: Sequence[float]) -> float:
        """Spearman rank correlation between predictions and measured latencies.

        Args:
            models: Models (bytes, paths or `MacReport`s).
            latencies_ms: Their measured latencies.

        Returns:
            The rank correlation in [-1, 1] (1 = the predictor ranks them
            exactly as the measurements do).
        """
        models = list(models)
        return spearman(self.predict_many(models), latencies_ms)

    def to_dict(self) -> dict[str, object]:
        """The fitted coefficients as a JSON-serializable dict."""
        return {
            "coef_ms_per_mmac": dict(self.coef_ms_per_mmac),
            "ms_per_op": self.ms_per_op,
            "intercept_ms": self.intercept_ms,
        }
