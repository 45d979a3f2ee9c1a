"""A per-op cost table for differentiable search, calibrated on measured subnets.

FBNet and ProxylessNAS add the *expected* latency of the mixed network to the
loss, from a table of per-op costs. Here the per-op table is the supernet's
exact count of each op's MACs and weight bytes (`SuperNet.expected_cost`,
which matches the converted model's count), and a linear fit per cost turns
it into the target's unit: latency in ms from MACs and the number of blocks,
flash in KB from weight bytes and blocks. The fit is made on subnets that are
really converted and measured (LiteRT latency, file size), so it carries the
target's fixed costs (interpreter overhead per op, quantization parameters
per channel) without modelling them by hand.
"""

from __future__ import annotations

import dataclasses

import numpy as np

FEATURES = {"latency_ms": ("macs", "blocks"), "flash_kb": ("weight_bytes", "blocks")}


@dataclasses.dataclass
class CostModel:
    """Linear models `cost = w . (features, 1)` for latency (ms) and flash (KB).

    Attributes:
        coefficients: `{cost name: [w_feature_1, w_feature_2, intercept]}`.
        r2: Coefficient of determination of each fit on its calibration subnets.
        samples: Number of measured subnets the fits used.
    """

    coefficients: dict
    r2: dict
    samples: int

    def predict(self, expected: dict) -> dict:
        """Costs in their units from `SuperNet.expected_cost` figures (tensors or floats).

        Args:
            expected: `{"macs", "weight_bytes", "blocks"}`.

        Returns:
            `{"latency_ms": ..., "flash_kb": ...}`, of the same type as the inputs.
        """
        result = {}
        for name, features in FEATURES.items():
            weights = self.coefficients[name]
            value = weights[-1]
            for w, feature in zip(weights, features):
                value = value + w * expected[feature]
            result[name] = value
        return result

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "CostModel":
        return cls(**values)


def fit_cost_model(expected: list[dict], measured: list[dict]) -> CostModel:
    """Least-squares fit of measured costs on the supernet's op counts.

    Args:
        expected: `SuperNet.expected_cost` of each calibration subnet (one-hot, as floats).
        measured: The measured costs of the same subnets (`latency_ms`, `flash_kb`).

    Returns:
        The `CostModel`.

    Raises:
        ValueError: With fewer than 4 subnets, or lists of different lengths.

    Example:

    ```python
    model = fit_cost_model([{"macs": 2e5, "weight_bytes": 8e3, "blocks": 5}, ...],
                           [{"latency_ms": 0.03, "flash_kb": 33.1}, ...])
    ```
    """
    if len(expected) != len(measured):
        raise ValueError(f"{len(expected)} op counts but {len(measured)} measurements.")
    if len(expected) < 4:
        raise ValueError(f"A cost model needs at least 4 measured subnets, got {len(expected)}.")
    coefficients, r2 = {}, {}
    for name, features in FEATURES.items():
        a = np.array([[float(e[f]) for f in features] + [1.0] for e in expected])
        b = np.array([float(m[name]) for m in measured])
        scale = np.abs(a).max(axis=0)
        scale[scale == 0] = 1.0
        solution, *_ = np.linalg.lstsq(a / scale, b, rcond=None)
        weights = solution / scale
        residual = b - a @ weights
        total = float(np.sum((b - b.mean()) ** 2))
        coefficients[name] = [float(w) for w in weights]
        r2[name] = 1.0 - float(np.sum(residual**2)) / total if total > 0 else 1.0
    return CostModel(coefficients=coefficients, r2=r2, samples=len(expected))
