"""Per-op MAC and parameter counts read from a `.tflite` flatbuffer.

How the counts are obtained
---------------------------
The model is parsed with the TFLite flatbuffer schema that ships with
`tflite_micro` (`schema_py_generated`, the same reader `model_ops` uses), not
with a LiteRT interpreter: no tensors are allocated, the graph is read as
stored (before any delegate rewrites it), and the builtin options (pool
window sizes) are available. Shapes are the static shapes stored in the file
(batch 1 for models from `to_tflite`).

MAC conventions (one multiply-accumulate = 2 FLOPs):

| op | MACs |
| --- | --- |
| `CONV_2D` | `out_elements * kh * kw * cin` (filter `[cout, kh, kw, cin]`) |
| `DEPTHWISE_CONV_2D` | `out_elements * kh * kw` (filter `[1, kh, kw, c]`) |
| `TRANSPOSE_CONV` | `in_elements * kh * kw * cout` |
| `FULLY_CONNECTED` | `out_elements * in_features` (weights `[units, in]`) |
| `BATCH_MATMUL` | `out_elements * k` |
| `AVERAGE_POOL_2D`, `MAX_POOL_2D`, `L2_POOL_2D` | `out_elements * fh * fw` |
| `MEAN`, `SUM`, `REDUCE_MAX`, ... | `in_elements` |
| `ADD`, `SUB`, `MUL`, `SQUARED_DIFFERENCE`, ... | `out_elements` |
| `SOFTMAX`, `LOGISTIC`, `TANH`, ... | `in_elements` |
| data movement (`RESHAPE`, `PAD`, `CONCATENATION`, `QUANTIZE`, ...) | 0 |

A Keras `Conv1D` converts to `CONV_2D` with a height-1 kernel (between two
`RESHAPE`s), so it is counted by the `CONV_2D` rule.

Parameters are the elements of constant tensors (tensors whose buffer holds
data): weights, biases and also small constant operands such as the axes of
`MEAN` or a `RESHAPE` target shape. `OpMacs.params` counts the constant
inputs of each op; `MacReport.params` counts each constant tensor once.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .errors import InvalidModelError
from .interpreter import ModelSource, as_model_bytes

KINDS = ("conv", "depthwise", "fc", "elementwise", "pool", "reduce", "activation", "other")
"""Op kinds a `MacReport` groups ops into (the cost models price each kind)."""

_KIND_OF = {
    "CONV_2D": "conv",
    "CONV_3D": "conv",
    "TRANSPOSE_CONV": "conv",
    "DEPTHWISE_CONV_2D": "depthwise",
    "FULLY_CONNECTED": "fc",
    "BATCH_MATMUL": "fc",
    "AVERAGE_POOL_2D": "pool",
    "MAX_POOL_2D": "pool",
    "L2_POOL_2D": "pool",
    "MEAN": "reduce",
    "SUM": "reduce",
    "REDUCE_MAX": "reduce",
    "REDUCE_MIN": "reduce",
    "REDUCE_PROD": "reduce",
}
_ELEMENTWISE = {
    "ADD", "SUB", "MUL", "DIV", "SQUARED_DIFFERENCE", "MAXIMUM", "MINIMUM", "ADD_N",
    "POW", "FLOOR_DIV", "FLOOR_MOD",
}  # fmt: skip
_ACTIVATIONS = {
    "SOFTMAX", "LOG_SOFTMAX", "LOGISTIC", "TANH", "RELU", "RELU6", "RELU_N1_TO_1",
    "LEAKY_RELU", "PRELU", "HARD_SWISH", "ELU", "GELU", "EXP", "LOG", "SQRT", "RSQRT",
    "SQUARE", "ABS", "NEG", "L2_NORMALIZATION",
}  # fmt: skip

# TFLite TensorType enum -> numpy-style name (schema.TensorType values).
_TYPE_NAMES = {
    0: "float32", 1: "float16", 2: "int32", 3: "uint8", 4: "int64", 5: "string",
    6: "bool", 7: "int16", 8: "complex64", 9: "int8", 10: "float64", 11: "complex128",
    12: "uint64", 13: "resource", 14: "variant", 15: "uint32", 16: "uint16", 17: "int4",
}  # fmt: skip


@dataclass(frozen=True)
class TensorInfo:
    """A tensor of the graph as stored in the flatbuffer.

    Attributes:
        index: Tensor index in subgraph 0.
        name: Tensor name.
        shape: Static shape.
        dtype: Type name such as `"int8"` or `"float32"`.
        constant: Whether the tensor's buffer holds data (weights, biases).
    """

    index: int
    name: str
    shape: tuple[int, ...]
    dtype: str
    constant: bool

    @property
    def elements(self) -> int:
        """Number of elements (1 for a scalar)."""
        return int(np.prod(self.shape)) if self.shape else 1


@dataclass(frozen=True)
class OpMacs:
    """MACs and parameters of one operator.

    Attributes:
        index: Position of the op in the graph (execution order).
        op: TFLite builtin name, e.g. `"CONV_2D"`.
        kind: One of `KINDS`, e.g. `"conv"` or `"depthwise"`.
        macs: Multiply-accumulates of one inference.
        params: Elements of the op's constant inputs.
        output_shape: Shape of the first output.
        input_dtypes: Types of the non-constant inputs.
        output_dtypes: Types of the outputs.
        weight_dtypes: Types of the constant inputs (weights, biases).
    """

    index: int
    op: str
    kind: str
    macs: int
    params: int
    output_shape: tuple[int, ...]
    input_dtypes: tuple[str, ...] = ()
    output_dtypes: tuple[str, ...] = ()
    weight_dtypes: tuple[str, ...] = ()


@dataclass(frozen=True)
class MacReport:
    """MACs and parameters of a whole model.

    Attributes:
        ops: One `OpMacs` per operator, in execution order.
        macs: Total multiply-accumulates of one inference.
        params: Total elements of constant tensors (each counted once).
        macs_by_kind: Total MACs per op kind (every kind in `KINDS`).
        ops_by_kind: Number of ops per op kind.
        input_dtypes: Types of the model inputs.
        output_dtypes: Types of the model outputs.
    """

    ops: tuple[OpMacs, ...]
    macs: int
    params: int
    macs_by_kind: dict[str, int] = field(default_factory=dict)
    ops_by_kind: dict[str, int] = field(default_factory=dict)
    input_dtypes: tuple[str, ...] = ()
    output_dtypes: tuple[str, ...] = ()

    @property
    def flops(self) -> int:
        """`2 * macs` (a multiply and an add per MAC)."""
        return 2 * self.macs

    def to_dict(self) -> dict[str, Any]:
        """JSON-serializable dict (ops as a list of dicts, `flops` included)."""
        result = asdict(self)
        result["ops"] = [asdict(op) for op in self.ops]
        result["flops"] = self.flops
        return result


def op_kind(op: str) -> str:
    """The kind (see `KINDS`) the cost models use for a TFLite op.

    Args:
        op: TFLite builtin op name such as `"DEPTHWISE_CONV_2D"`.

    Returns:
        One of `KINDS`; `"other"` for data-movement and unknown ops.

    Example:

    >>> op_kind("FULLY_CONNECTED")
    'fc'
    """
    if op in _KIND_OF:
        return _KIND_OF[op]
    if op in _ELEMENTWISE:
        return "elementwise"
    if op in _ACTIVATIONS:
        return "activation"
    return "other"


def _schema():
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

    return schema


def _pool_window(schema, operator) -> tuple[int, int]:
    table = operator.BuiltinOptions()
    if table is None:
        return 1, 1
    options = schema.Pool2DOptions()
    options.Init(table.Bytes, table.Pos)
    return max(1, options.FilterHeight()), max(1, options.FilterWidth())


def _op_macs(name: str, kind: str, inputs: list[TensorInfo | None], outputs, window) -> int:
    out_elements = outputs[0].elements if outputs else 0
    first = inputs[0] if inputs and inputs[0] is not None else None
    weights = inputs[1] if len(inputs) > 1 and inputs[1] is not None else None
    if name in ("CONV_2D", "CONV_3D") and weights is not None:
        # filter [cout, kh, kw, cin] (3D: [kd, kh, kw, cin, cout]); per output: kernel volume * cin.
        per_output = weights.elements // (weights.shape[0] if name == "CONV_2D" else weights.shape[-1])
        return out_elements * per_output
    if name == "TRANSPOSE_CONV" and len(inputs) > 2 and inputs[1] is not None and inputs[2] is not None:
        # inputs: output_shape, filter [cout, kh, kw, cin], input.
        flt, x = inputs[1], inputs[2]
        return x.elements * flt.shape[0] * flt.shape[1] * flt.shape[2]
    if name == "DEPTHWISE_CONV_2D" and weights is not None:
        return out_elements * int(np.prod(weights.shape[1:3]))
    if name == "FULLY_CONNECTED" and weights is not None:
        return out_elements * weights.shape[-1]
    if name == "BATCH_MATMUL" and first is not None:
        return out_elements * first.shape[-1]
    if kind == "pool":
        return out_elements * window[0] * window[1]
    if kind == "reduce" and first is not None:
        return first.elements
    if kind == "elementwise":
        return out_elements
    if kind == "activation" and first is not None:
        return first.elements
    return 0


def read_graph(model_content: ModelSource) -> MacReport:
    """Count MACs and parameters per op of a TFLite model (subgraph 0).

    Args:
        model_content: The `.tflite` flatbuffer as bytes, or a file path.

    Returns:
        A `MacReport` with one `OpMacs` row per operator and the totals.

    Raises:
        InvalidModelError: The bytes are not a TFLite flatbuffer or cannot
            be parsed (truncated, corrupted).

    Example:

    >>> report = count_macs(model_bytes)  # doctest: +SKIP
    >>> report.macs, report.params  # doctest: +SKIP
    (19328, 1066)
    >>> [(row.op, row.macs) for row in report.ops][:2]  # doctest: +SKIP
    [('CONV_2D', 4608), ('DEPTHWISE_CONV_2D', 4608)]
    """
    data = as_model_bytes(model_content)
    schema = _schema()
    builtin_names = {
        value: name for name, value in vars(schema.BuiltinOperator).items() if not name.startswith("_")
    }
    try:
        model = schema.Model.GetRootAsModel(data, 0)
        if model.SubgraphsLength() < 1:
            raise ValueError("the model has no subgraph")
        graph = model.Subgraphs(0)

        def has_data(buffer_index: int) -> bool:
            if buffer_index <= 0 or buffer_index >= model.BuffersLength():
                return False
            buffer = model.Buffers(buffer_index)
            return buffer.DataLength() > 0 or buffer.Offset() > 1

        tensors = []
        for t in range(graph.TensorsLength()):
            tensor = graph.Tensors(t)
            shape = tuple(int(d) for d in tensor.ShapeAsNumpy()) if tensor.ShapeLength() else ()
            tensors.append(
                TensorInfo(
                    index=t,
                    name=(tensor.Name() or b"").decode("utf-8", "replace"),
                    shape=shape,
                    dtype=_TYPE_NAMES.get(tensor.Type(), f"type{tensor.Type()}"),
                    constant=has_data(tensor.Buffer()),
                )
            )

        def tensor_list(indices) -> list[TensorInfo | None]:
            return [tensors[int(i)] if 0 <= int(i) < len(tensors) else None for i in indices]

        rows = []
        for o in range(graph.OperatorsLength()):
            operator = graph.Operators(o)
            code = model.OperatorCodes(operator.OpcodeIndex())
            builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
            if builtin == schema.BuiltinOperator.CUSTOM:
                custom = code.CustomCode()
                name = custom.decode("utf-8", "replace") if custom else "CUSTOM"
            else:
                name = builtin_names.get(builtin, f"BUILTIN_{builtin}")
            kind = op_kind(name)
            inputs = tensor_list(operator.InputsAsNumpy()) if operator.InputsLength() else []
            outputs = [t for t in tensor_list(operator.OutputsAsNumpy()) if t is not None] if operator.OutputsLength() else []
            window = _pool_window(schema, operator) if kind == "pool" else (1, 1)
            rows.append(
                OpMacs(
                    index=o,
                    op=name,
                    kind=kind,
                    macs=int(_op_macs(name, kind, inputs, outputs, window)),
                    params=int(sum(t.elements for t in inputs if t is not None and t.constant)),
                    output_shape=outputs[0].shape if outputs else (),
                    input_dtypes=tuple(t.dtype for t in inputs if t is not None and not t.constant),
                    output_dtypes=tuple(t.dtype for t in outputs),
                    weight_dtypes=tuple(t.dtype for t in inputs if t is not None and t.constant),
                )
            )
        graph_inputs = tensor_list(graph.InputsAsNumpy()) if graph.InputsLength() else []
        graph_outputs = tensor_list(graph.OutputsAsNumpy()) if graph.OutputsLength() else []
    except InvalidModelError:
        raise
    except Exception as e:  # struct.error, IndexError, UnicodeDecodeError... on corrupt data
        raise InvalidModelError(
            f"Cannot read the graph of the model ({len(data)} bytes): {type(e).__name__}: {e}. "
            "The flatbuffer is probably truncated or corrupted; re-export it with `to_tflite()`."
        ) from e
    macs_by_kind = {kind: 0 for kind in KINDS}
    ops_by_kind = {kind: 0 for kind in KINDS}
    for row in rows:
        macs_by_kind[row.kind] += row.macs
        ops_by_kind[row.kind] += 1
    return MacReport(
        ops=tuple(rows),
        macs=int(sum(row.macs for row in rows)),
        params=int(sum(t.elements for t in tensors if t.constant)),
        macs_by_kind=macs_by_kind,
        ops_by_kind=ops_by_kind,
        input_dtypes=tuple(t.dtype for t in graph_inputs if t is not None),
        output_dtypes=tuple(t.dtype for t in graph_outputs if t is not None),
    )


count_macs = read_graph
"""Alias of `read_graph`: `count_macs(model_bytes) -> MacReport`."""


def float_ops(report: MacReport) -> tuple[OpMacs, ...]:
    """Ops that keep an otherwise integer model from being fully integer.

    In a model with integer tensors (int8/int16 activations or weights),
    these are the ops that compute in float (any float non-constant input or
    output, e.g. the hybrid ops of a dynamic-range model) or convert between
    float and integer in the middle of the graph. A `QUANTIZE` that only turns a
    float model input into int8, and a `DEQUANTIZE` that only turns the last
    int8 result into a float output, are boundary conversions and are not
    listed. A float32 model (no integer ops at all) gives an empty tuple: it
    is not an integer model to begin with.

    Args:
        report: The `MacReport` of the model (`read_graph`).

    Returns:
        The offending `OpMacs` rows, in graph order.

    Example:

    >>> [row.op for row in float_ops(count_macs(model_bytes))]  # doctest: +SKIP
    []
    """
    floats = {"float32", "float16", "float64"}
    integer_ops = [
        row for row in report.ops
        if any(d in ("int8", "uint8", "int16") for d in row.input_dtypes + row.output_dtypes + row.weight_dtypes)
    ]  # fmt: skip
    if not integer_ops:
        return ()
    rows = list(report.ops)
    result = []
    for position, row in enumerate(rows):
        dtypes = set(row.input_dtypes + row.output_dtypes)
        if not dtypes & floats:
            continue
        boundary = (row.op == "QUANTIZE" and position == 0) or (
            row.op == "DEQUANTIZE" and position == len(rows) - 1
        )
        if not boundary:
            result.append(row)
    return tuple(result)
