"""Quantize inputs and dequantize outputs of int8/uint8 TFLite tensors.

Both runtimes (LiteRT and TFLite Micro) describe a tensor with a `dtype` and
`quantization_parameters` (`scales`, `zero_points`); these helpers apply the
affine mapping `real = scale * (q - zero_point)` in either direction.
"""


from __future__ import annotations

import numpy as np

_INTEGER_TYPES = (np.int8, np.uint8, np.int16)


def tensor_quantization(details: dict) -> tuple[float, int]:
    """Per-tensor `(scale, zero_point)` of a tensor; `(0.0, 0)` when float.

    Args:
        details: A tensor-details dict from `get_input_details()` /
            `get_output_details()` of LiteRT or TFLite Micro.

    Returns:
        `(scale, zero_point)`; scale 0.0 means the tensor is not quantized.

    Example:

    >>> tensor_quantization({"dtype": np.int8, "quantization_parameters":
    ...     {"scales": np.array([0.5]), "zero_points": np.array([-128])}})
    (0.5, -128)
    """
    params = details.get("quantization_parameters") or {}
    scales = np.asarray(params.get("scales", []), dtype=np.float64).ravel()
    zero_points = np.asarray(params.get("zero_points", []), dtype=np.int64).ravel()
    if scales.size == 0:
        legacy = details.get("quantization") or (0.0, 0)
        return float(legacy[0]), int(legacy[1])
    return float(scales[0]), int(zero_points[0]) if zero_points.size else 0


def quantize(x: np.ndarray, details: dict) -> np.ndarray:
    """Convert float data to the tensor's dtype (quantizing if needed).

    Args:
        x: Float data.
        details: The input tensor's details dict.

    Returns:
        `x` in the tensor's dtype: `round(x / scale + zero_point)` clipped to
        the integer range for quantized tensors, a plain cast otherwise.

    Example:

    >>> details = {"dtype": np.int8, "quantization_parameters":
    ...     {"scales": np.array([1 / 255]), "zero_points": np.array([-128])}}
    >>> quantize(np.array([0.0, 1.0]), details)
    array([-128,  127], dtype=int8)
    """
    dtype = np.dtype(details["dtype"])
    x = np.asarray(x)
    scale, zero_point = tensor_quantization(details)
    if dtype.type in _INTEGER_TYPES and scale > 0:
        info = np.iinfo(dtype)
        q = np.round(x.astype(np.float64) / scale + zero_point)
        return np.clip(q, info.min, info.max).astype(dtype)
    return x.astype(dtype)


def dequantize(q: np.ndarray, details: dict) -> np.ndarray:
    """Convert a tensor's data to float32 (dequantizing if needed).

    Args:
        q: Data as read from the output tensor.
        details: The output tensor's details dict.

    Returns:
        `scale * (q - zero_point)` as float32 for quantized tensors, a plain
        float32 cast otherwise.

    Example:

    >>> details = {"dtype": np.int8, "quantization_parameters":
    ...     {"scales": np.array([1 / 256]), "zero_points": np.array([-128])}}
    >>> dequantize(np.array([-128, 127], dtype=np.int8), details)
    array([0.        , 0.99609375], dtype=float32)
    """
    q = np.asarray(q)
    scale, zero_point = tensor_quantization(details)
    if q.dtype.type in _INTEGER_TYPES and scale > 0:
        return (scale * (q.astype(np.float64) - zero_point)).astype(np.float32)
    return q.astype(np.float32)


def check_batch(x, input_shape, what: str = "x") -> np.ndarray:
    """Validate a batch `(n, *input_shape)` and return it as a numpy array.

    Args:
        x: The batch (array-like).
        input_shape: The model's input shape without the batch dimension.
        what: Name used in the error message.

    Returns:
        `x` as a numpy array.

    Raises:
        ValueError: `x` does not have shape `(n, *input_shape)`.

    Example:

    >>> check_batch(np.zeros((3, 8, 8, 1)), (8, 8, 1)).shape
    (3, 8, 8, 1)
    """
    x = np.asarray(x)
    expected = tuple(int(d) for d in input_shape)
    if x.ndim != len(expected) + 1 or tuple(x.shape[1:]) != expected:
        raise ValueError(
            f"{what} must have shape (n, {', '.join(map(str, expected))}) for this "
            f"model (a batch of inputs of shape {expected}), got {x.shape}."
        )
    return x
