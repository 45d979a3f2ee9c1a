"""Operators of a TFLite model, and the TFLite Micro op-resolver calls they need."""


from __future__ import annotations

from .errors import InvalidModelError
from .interpreter import ModelSource, as_model_bytes

# TFLite builtin operator name (or custom op code) -> `MicroMutableOpResolver`
# method, from tensorflow/lite/micro/micro_mutable_op_resolver.h (TFLM main).
RESOLVER_METHODS = {
    "ABS": "AddAbs",
    "ADD": "AddAdd",
    "ADD_N": "AddAddN",
    "ARG_MAX": "AddArgMax",
    "ARG_MIN": "AddArgMin",
    "ASSIGN_VARIABLE": "AddAssignVariable",
    "AVERAGE_POOL_2D": "AddAveragePool2D",
    "BATCH_MATMUL": "AddBatchMatMul",
    "BATCH_TO_SPACE_ND": "AddBatchToSpaceNd",
    "BROADCAST_ARGS": "AddBroadcastArgs",
    "BROADCAST_TO": "AddBroadcastTo",
    "CALL_ONCE": "AddCallOnce",
    "CAST": "AddCast",
    "CEIL": "AddCeil",
    "CIRCULAR_BUFFER": "AddCircularBuffer",
    "CONCATENATION": "AddConcatenation",
    "CONV_2D": "AddConv2D",
    "COS": "AddCos",
    "CUMSUM": "AddCumSum",
    "DEPTH_TO_SPACE": "AddDepthToSpace",
    "DEPTHWISE_CONV_2D": "AddDepthwiseConv2D",
    "DEQUANTIZE": "AddDequantize",
    "DIV": "AddDiv",
    "DYNAMIC_UPDATE_SLICE": "AddDynamicUpdateSlice",
    "ELU": "AddElu",
    "EMBEDDING_LOOKUP": "AddEmbeddingLookup",
    "EQUAL": "AddEqual",
    "EXP": "AddExp",
    "EXPAND_DIMS": "AddExpandDims",
    "FILL": "AddFill",
    "FLOOR": "AddFloor",
    "FLOOR_DIV": "AddFloorDiv",
    "FLOOR_MOD": "AddFloorMod",
    "FULLY_CONNECTED": "AddFullyConnected",
    "GATHER": "AddGather",
    "GATHER_ND": "AddGatherNd",
    "GREATER": "AddGreater",
    "GREATER_EQUAL": "AddGreaterEqual",
    "HARD_SWISH": "AddHardSwish",
    "IF": "AddIf",
    "L2_NORMALIZATION": "AddL2Normalization",
    "L2_POOL_2D": "AddL2Pool2D",
    "LEAKY_RELU": "AddLeakyRelu",
    "LESS": "AddLess",
    "LESS_EQUAL": "AddLessEqual",
    "LOG": "AddLog",
    "LOG_SOFTMAX": "AddLogSoftmax",
    "LOGICAL_AND": "AddLogicalAnd",
    "LOGICAL_NOT": "AddLogicalNot",
    "LOGICAL_OR": "AddLogicalOr",
    "LOGISTIC": "AddLogistic",
    "MAX_POOL_2D": "AddMaxPool2D",
    "MAXIMUM": "AddMaximum",
    "MEAN": "AddMean",
    "MINIMUM": "AddMinimum",
    "MIRROR_PAD": "AddMirrorPad",
    "MUL": "AddMul",
    "NEG": "AddNeg",
    "NOT_EQUAL": "AddNotEqual",
    "PACK": "AddPack",
    "PAD": "AddPad",
    "PADV2": "AddPadV2",
    "PRELU": "AddPrelu",
    "QUANTIZE": "AddQuantize",
    "READ_VARIABLE": "AddReadVariable",
    "REDUCE_ALL": "AddReduceAll",
    "REDUCE_MAX": "AddReduceMax",
    "REDUCE_MIN": "AddReduceMin",
    "RELU": "AddRelu",
    "RELU6": "AddRelu6",
    "RESHAPE": "AddReshape",
    "RESIZE_BILINEAR": "AddResizeBilinear",
    "RESIZE_NEAREST_NEIGHBOR": "AddResizeNearestNeighbor",
    "REVERSE_V2": "AddReverseV2",
    "ROUND": "AddRound",
    "RSQRT": "AddRsqrt",
    "SELECT_V2": "AddSelectV2",
    "SHAPE": "AddShape",
    "SIN": "AddSin",
    "SLICE": "AddSlice",
    "SOFTMAX": "AddSoftmax",
    "SPACE_TO_BATCH_ND": "AddSpaceToBatchNd",
    "SPACE_TO_DEPTH": "AddSpaceToDepth",
    "SPLIT": "AddSplit",
    "SPLIT_V": "AddSplitV",
    "SQRT": "AddSqrt",
    "SQUARE": "AddSquare",
    "SQUARED_DIFFERENCE": "AddSquaredDifference",
    "SQUEEZE": "AddSqueeze",
    "STRIDED_SLICE": "AddStridedSlice",
    "SUB": "AddSub",
    "SUM": "AddSum",
    "SVDF": "AddSvdf",
    "TANH": "AddTanh",
    "TRANSPOSE": "AddTranspose",
    "TRANSPOSE_CONV": "AddTransposeConv",
    "UNIDIRECTIONAL_SEQUENCE_LSTM": "AddUnidirectionalSequenceLSTM",
    "UNPACK": "AddUnpack",
    "VAR_HANDLE": "AddVarHandle",
    "WHILE": "AddWhile",
    "ZEROS_LIKE": "AddZerosLike",
    # Custom ops that TFLite Micro registers under their custom code.
    "TFLite_Detection_PostProcess": "AddDetectionPostprocess",
    "TFLM_DECODE": "AddDecode",
    "SignalDelay": "AddDelay",
    "SignalEnergy": "AddEnergy",
    "SignalFftAutoScale": "AddFftAutoScale",
    "SignalFilterBank": "AddFilterBank",
    "SignalFilterBankLog": "AddFilterBankLog",
    "SignalFilterBankSpectralSubtraction": "AddFilterBankSpectralSubtraction",
    "SignalFilterBankSquareRoot": "AddFilterBankSquareRoot",
    "SignalFramer": "AddFramer",
    "SignalIrfft": "AddIrfft",
    "SignalOverlapAdd": "AddOverlapAdd",
    "SignalPCAN": "AddPCAN",
    "SignalRfft": "AddRfft",
    "SignalStacker": "AddStacker",
    "SignalWindow": "AddWindow",
}


def resolver_method(op: str) -> str | None:
    """The `MicroMutableOpResolver` method that registers an op.

    Args:
        op: A TFLite builtin operator name such as `"CONV_2D"`, or a custom
            op code.

    Returns:
        The method name (e.g. `"AddConv2D"`), or `None` when TFLite Micro
        has no such method (the op is then not supported by TFLite Micro).

    Example:

    >>> resolver_method("DEPTHWISE_CONV_2D")
    'AddDepthwiseConv2D'
    """
    return RESOLVER_METHODS.get(op)


def model_ops(model_content: ModelSource) -> tuple[str, ...]:
    """Sorted names of the distinct operators a TFLite model uses.

    Read from the flatbuffer's operator codes (schema from `tflite_micro`),
    so the names are TFLite builtin names such as `"CONV_2D"`, not the
    `"DELEGATE"` nodes a LiteRT interpreter shows after delegation; custom
    ops appear under their custom code. Only operator codes that some
    operator actually uses are listed.

    Args:
        model_content: The `.tflite` flatbuffer as bytes, or a file path.

    Returns:
        A sorted tuple of op names.

    Raises:
        InvalidModelError: The flatbuffer cannot be parsed.

    Example:

    >>> model_ops(model_bytes)  # doctest: +SKIP
    ('CONV_2D', 'FULLY_CONNECTED', 'MEAN', 'SOFTMAX')
    """
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

    data = as_model_bytes(model_content)
    builtin_names = {
        value: name for name, value in vars(schema.BuiltinOperator).items() if not name.startswith("_")
    }
    try:
        model = schema.Model.GetRootAsModel(data, 0)
        used = set()
        for s in range(model.SubgraphsLength()):
            subgraph = model.Subgraphs(s)
            for o in range(subgraph.OperatorsLength()):
                used.add(subgraph.Operators(o).OpcodeIndex())
        names = set()
        for index in used:
            code = model.OperatorCodes(index)
            builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
            if builtin == schema.BuiltinOperator.CUSTOM:
                custom = code.CustomCode()
                names.add(custom.decode("utf-8", "replace") if custom else "CUSTOM")
            else:
                names.add(builtin_names.get(builtin, f"BUILTIN_{builtin}"))
    except Exception as e:  # struct.error, IndexError, ... on corrupt data
        raise InvalidModelError(
            f"Cannot read the operators of the model ({len(data)} bytes): {e}. "
            "The flatbuffer is probably truncated or corrupted."
        ) from e
    return tuple(sorted(names))


# numpy dtypes of TFLite's TensorType codes (tensorflow/lite/schema/schema.fbs).
_TENSOR_DTYPES = {0: "float32", 1: "float16", 2: "int32", 3: "uint8", 4: "int64", 6: "bool", 7: "int16",
                  9: "int8", 10: "float64", 15: "uint32", 16: "uint16", 12: "uint64"}


def io_tensors(model_content: ModelSource) -> tuple[list[dict], list[dict]]:
    """The first subgraph's input and output tensors, read from the flatbuffer.

    For a file only TFLite Micro runs (custom signal ops), which LiteRT cannot
    load to give its `get_input_details()`.

    Returns:
        `(inputs, outputs)`: per tensor a dict with `name`, `shape` (a numpy
        array, as LiteRT gives it) and `dtype` (a numpy type).

    Raises:
        InvalidModelError: The flatbuffer cannot be parsed, or a tensor type is unknown here.
    """
    import numpy as np
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

    data = as_model_bytes(model_content)
    try:
        subgraph = schema.Model.GetRootAsModel(data, 0).Subgraphs(0)

        def details(index: int) -> dict:
            tensor = subgraph.Tensors(index)
            return {"name": (tensor.Name() or b"").decode("utf-8", "replace"),
                    "shape": np.array(tensor.ShapeAsNumpy(), dtype=np.int32).reshape(-1),
                    "dtype": np.dtype(_TENSOR_DTYPES[tensor.Type()]).type}

        inputs = [details(int(i)) for i in subgraph.InputsAsNumpy()]
        outputs = [details(int(i)) for i in subgraph.OutputsAsNumpy()]
    except Exception as e:  # struct.error, KeyError, ... on corrupt data or an exotic type
        raise InvalidModelError(f"Cannot read the input and output tensors of the model ({len(data)} bytes): {e}.") from e
    return inputs, outputs
