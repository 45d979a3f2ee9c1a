"""What a `keras.layers.Normalization` holds, and whether a file's normalization entry applies.

The two facts `keras_nas.tflite.metadata` (which writes and reads a file's
entries) and `keras_nas.tflite.standardization` (which decides when an integer
file takes or gives standardized values) share. They live here, below both, so
that standardization can read a file's metadata without metadata reaching back
up; both modules re-export them under their old paths.
"""

from __future__ import annotations

import numpy as np


def layer_statistics(layer) -> tuple[np.ndarray, np.ndarray]:
    """The per-feature mean and standard deviation a `keras.layers.Normalization` holds (float64)."""
    import keras

    mean = np.asarray(keras.ops.convert_to_numpy(layer.mean), dtype=np.float64).ravel()
    variance = np.asarray(keras.ops.convert_to_numpy(layer.variance), dtype=np.float64).ravel()
    return mean, np.sqrt(np.maximum(variance, 0.0))


def applies(entry: dict | None) -> bool:
    """Whether a file's `"normalization"` / `"output_normalization"` entry says it is standardized outside."""
    return bool(entry) and entry.get("in_model", True) is False and "mean" in entry
