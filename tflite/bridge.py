"""Rebuild a Keras 3 model in `tf_keras` (Keras 2) with the same layers and weights.

`tensorflow-model-optimization` (QAT, pruning) only works on `tf_keras`
models. `to_tf_keras` walks the Keras 3 functional graph node by node (the
way Keras 3 itself runs it) and creates, for every layer, the `tf_keras`
layer with the same name, the same configuration (the arguments that change
what the layer computes; initializers and regularizers are not needed since
the weights are copied) and the same weights.

Two activations differ between the libraries: Keras 3's `hard_sigmoid` is
`relu6(x + 3) / 6` while `tf_keras`' is `clip(0.2 x + 0.5, 0, 1)`, and
`tf_keras` has no `hard_swish`. They become the small `tf_keras` layers
`HardSigmoid` and `HardSwish` below, which compute exactly what Keras 3
computes; the TFLite converter turns them into the same integer ops as for
the Keras 3 model (`HARD_SWISH`; `ADD`/`MUL` with a fused ReLU6 for the
hard sigmoid).

`tf_keras` is imported on the first call only (about 4 s).
"""

from __future__ import annotations

import functools

import numpy as np

# Activation names whose `tf_keras` function computes what Keras 3's does.
_SAME_ACTIVATIONS = ("linear", "relu", "relu6", "sigmoid", "softmax", "tanh", "elu", "swish", "silu")
# Activation names that need one of the layers of `custom_layers()`.
_CUSTOM_ACTIVATIONS = {"hard_swish": "HardSwish", "hard_silu": "HardSwish", "hard_sigmoid": "HardSigmoid"}


class BridgeError(ValueError):
    """A Keras 3 model cannot be rebuilt in `tf_keras`.

    The message names the layer (name and class) and lists what is supported.

    Example:

    >>> try:
    ...     to_tf_keras(model_with_lstm)  # doctest: +SKIP
    ... except BridgeError as e:
    ...     print(e)  # doctest: +SKIP
    """


@functools.lru_cache(maxsize=None)
def custom_layers() -> dict:
    """The `tf_keras` layers the bridge adds for Keras 3 activations.

    Returns:
        `{"HardSwish": cls, "HardSigmoid": cls}`; both are registered as
        serializable (package `keras_nas`), so `tf_keras.models.clone_model`
        and tfmot's `quantize_apply` can rebuild them.

    Example:

    >>> layer = custom_layers()["HardSwish"](name="act")  # doctest: +SKIP
    """
    import tensorflow as tf
    import tf_keras

    register = tf_keras.saving.register_keras_serializable(package="keras_nas")

    @register
    class HardSigmoid(tf_keras.layers.Layer):
        """`relu6(x + 3) / 6`, as Keras 3's `hard_sigmoid`."""

        def call(self, inputs):
            return tf.nn.relu6(inputs + 3.0) / 6.0

    @register
    class HardSwish(tf_keras.layers.Layer):
        """`x * relu6(x + 3) / 6`, as Keras 3's `hard_swish`."""

        def call(self, inputs):
            return inputs * (tf.nn.relu6(inputs + 3.0) / 6.0)

    return {"HardSigmoid": HardSigmoid, "HardSwish": HardSwish}


def _activation_name(value) -> str:
    name = value if isinstance(value, str) else getattr(value, "__name__", repr(value))
    return {"silu": "swish"}.get(name, name)


def _plain_activation(layer, config: dict) -> str:
    """Activation of a conv/dense layer, which must be one `tf_keras` computes alike."""
    name = _activation_name(config.get("activation", "linear") or "linear")
    if name not in _SAME_ACTIVATIONS:
        raise BridgeError(
            f"Layer {layer.name!r} ({type(layer).__name__}) has activation {name!r}, which "
            f"tf_keras does not compute like Keras 3 inside this layer. Supported fused "
            f"activations: {', '.join(_SAME_ACTIVATIONS)}; use a separate "
            "Activation layer for hard_swish / hard_sigmoid."
        )
    return name


def _pick(config: dict, *keys) -> dict:
    return {k: config[k] for k in keys if k in config}


def _as_int_tuple(value):
    if isinstance(value, (list, tuple)):
        return tuple(_as_int_tuple(v) for v in value)
    return value


_CONV = ("filters", "kernel_size", "strides", "padding", "data_format", "dilation_rate", "groups", "use_bias")
_DEPTHWISE = ("kernel_size", "strides", "padding", "depth_multiplier", "data_format", "dilation_rate", "use_bias")
_SEPARABLE = ("filters", "kernel_size", "strides", "padding", "depth_multiplier", "data_format", "dilation_rate", "use_bias")
_POOL = ("pool_size", "strides", "padding", "data_format")
_GLOBAL_POOL = ("data_format", "keepdims")


def _builders(tf_keras) -> dict:
    """Keras 3 class name -> function(layer, config) -> new `tf_keras` layer."""
    L = tf_keras.layers

    def with_activation(cls, keys):
        return lambda layer, c: cls(activation=_plain_activation(layer, c), **_pick(c, *keys))

    def plain(cls, keys=()):
        return lambda layer, c: cls(**_pick(c, *keys))

    def activation(layer, c):
        name = _activation_name(c["activation"])
        if name in _CUSTOM_ACTIVATIONS:
            return custom_layers()[_CUSTOM_ACTIVATIONS[name]]()
        if name not in _SAME_ACTIVATIONS:
            raise BridgeError(
                f"Layer {layer.name!r} (Activation) uses activation {name!r}, which the "
                "tf_keras bridge does not support. Supported activations: "
                + ", ".join(sorted(set(_SAME_ACTIVATIONS) | set(_CUSTOM_ACTIVATIONS)))
                + "."
            )
        return L.Activation(name)

    def normalization(layer, c):
        import keras

        mean = np.asarray(keras.ops.convert_to_numpy(layer.mean), dtype=np.float32)
        variance = np.asarray(keras.ops.convert_to_numpy(layer.variance), dtype=np.float32)
        axis = c.get("axis", -1)
        axis = tuple(axis) if isinstance(axis, (list, tuple)) else axis
        keep = [a % len(layer.input.shape) for a in (axis if isinstance(axis, tuple) else (axis,))]
        shape = [int(layer.input.shape[a]) for a in keep]
        return L.Normalization(
            axis=axis,
            mean=mean.reshape(shape),
            variance=variance.reshape(shape),
            invert=c.get("invert", False),
        )

    def relu(layer, c):
        return L.ReLU(
            max_value=c.get("max_value"),
            negative_slope=c.get("negative_slope", 0.0),
            threshold=c.get("threshold", 0.0),
        )

    def batch_norm(layer, c):
        axis = c.get("axis", -1)
        return L.BatchNormalization(
            axis=axis,
            momentum=c.get("momentum", 0.99),
            epsilon=c.get("epsilon", 1e-3),
            center=c.get("center", True),
            scale=c.get("scale", True),
        )

    def reshape(layer, c):
        return L.Reshape(tuple(c["target_shape"]))

    def zero_padding(cls):
        return lambda layer, c: cls(padding=_as_int_tuple(c["padding"]), **_pick(c, "data_format"))

    return {
        "Conv1D": with_activation(L.Conv1D, _CONV),
        "Conv2D": with_activation(L.Conv2D, _CONV),
        "DepthwiseConv1D": with_activation(L.DepthwiseConv1D, _DEPTHWISE),
        "DepthwiseConv2D": with_activation(L.DepthwiseConv2D, _DEPTHWISE),
        "SeparableConv1D": with_activation(L.SeparableConv1D, _SEPARABLE),
        "SeparableConv2D": with_activation(L.SeparableConv2D, _SEPARABLE),
        "Dense": with_activation(L.Dense, ("units", "use_bias")),
        "BatchNormalization": batch_norm,
        "Normalization": normalization,
        "Rescaling": plain(L.Rescaling, ("scale", "offset")),
        "ReLU": relu,
        "Activation": activation,
        "Softmax": plain(L.Softmax, ("axis",)),
        "Add": plain(L.Add),
        "Subtract": plain(L.Subtract),
        "Multiply": plain(L.Multiply),
        "Average": plain(L.Average),
        "Maximum": plain(L.Maximum),
        "Minimum": plain(L.Minimum),
        "Concatenate": plain(L.Concatenate, ("axis",)),
        "GlobalAveragePooling1D": plain(L.GlobalAveragePooling1D, _GLOBAL_POOL),
        "GlobalAveragePooling2D": plain(L.GlobalAveragePooling2D, _GLOBAL_POOL),
        "GlobalMaxPooling1D": plain(L.GlobalMaxPooling1D, _GLOBAL_POOL),
        "GlobalMaxPooling2D": plain(L.GlobalMaxPooling2D, _GLOBAL_POOL),
        "AveragePooling1D": plain(L.AveragePooling1D, _POOL),
        "AveragePooling2D": plain(L.AveragePooling2D, _POOL),
        "MaxPooling1D": plain(L.MaxPooling1D, _POOL),
        "MaxPooling2D": plain(L.MaxPooling2D, _POOL),
        "Flatten": plain(L.Flatten, ("data_format",)),
        # keras_nas.blocks.ops.FlattenToVector (one RESHAPE in int8; Flatten in tf_keras).
        "FlattenToVector": plain(L.Flatten),
        "Dropout": plain(L.Dropout, ("rate", "noise_shape", "seed")),
        "Reshape": reshape,
        "ZeroPadding1D": zero_padding(L.ZeroPadding1D),
        "ZeroPadding2D": zero_padding(L.ZeroPadding2D),
    }


SUPPORTED_LAYERS = (
    "InputLayer", "Conv1D", "Conv2D", "DepthwiseConv1D", "DepthwiseConv2D", "SeparableConv1D",
    "SeparableConv2D", "Dense", "BatchNormalization", "Normalization", "Rescaling", "ReLU",
    "Activation", "Softmax", "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum",
    "Concatenate", "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalMaxPooling1D",
    "GlobalMaxPooling2D", "AveragePooling1D", "AveragePooling2D", "MaxPooling1D", "MaxPooling2D",
    "Flatten", "FlattenToVector", "Dropout", "Reshape", "ZeroPadding1D", "ZeroPadding2D",
)
"""Keras 3 layer classes `to_tf_keras` can rebuild."""


def _unsupported(layer) -> BridgeError:
    return BridgeError(
        f"Cannot rebuild layer {layer.name!r} of class {type(layer).__name__} in tf_keras: "
        f"the bridge supports only these layer classes: {', '.join(SUPPORTED_LAYERS)}. "
        "Replace the layer with supported ones, or skip QAT/pruning for this model."
    )


def _check_model(model) -> None:
    import keras

    if not isinstance(model, keras.Model):
        raise TypeError(
            f"to_tf_keras expects a Keras 3 `keras.Model`, got {type(model).__name__}."
        )
    if not hasattr(model, "_nodes_by_depth") or not getattr(model, "inputs", None):
        raise BridgeError(
            f"Model {model.name!r} ({type(model).__name__}) is not a functional or "
            "Sequential model with known inputs; build it with keras.Input(...) first "
            "(subclassed models cannot be rebuilt layer by layer)."
        )
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise BridgeError(
            f"to_tf_keras supports single-input, single-output models; {model.name!r} has "
            f"{len(model.inputs)} inputs and {len(model.outputs)} outputs."
        )


def to_tf_keras(model):
    """Rebuild a Keras 3 functional model in `tf_keras`, same names and weights.

    Every layer becomes the `tf_keras` layer of the same class and name with
    the arguments that define its computation; weights are copied with
    `set_weights`. `hard_swish` and `hard_sigmoid` activation layers become
    the `HardSwish` / `HardSigmoid` layers of `custom_layers()`, which
    compute exactly Keras 3's formulas. The result computes the same function
    (outputs equal to about 1e-6) and can be given to
    `tensorflow_model_optimization`.

    Args:
        model: A built Keras 3 functional (or Sequential) model with one
            input and one output.

    Returns:
        A `tf_keras.Model` with the same name, layer names and weights.

    Raises:
        TypeError: `model` is not a `keras.Model`.
        BridgeError: The model is subclassed, has several inputs/outputs, or
            contains a layer (or a fused activation) the bridge cannot
            rebuild; the message names the layer, its class and the list of
            supported layers.

    Example:

    >>> tf_model = to_tf_keras(keras_model)  # doctest: +SKIP
    >>> np.allclose(tf_model.predict(x), keras_model.predict(x), atol=1e-5)  # doctest: +SKIP
    True
    """
    _check_model(model)
    import keras

    try:
        import tf_keras
    except ImportError as e:
        raise ImportError(
            "to_tf_keras (QAT, pruning) needs `tf-keras`, part of the `qat` extra of keras-nas: "
            "pip install 'keras-nas[qat]'"
        ) from e

    builders = _builders(tf_keras)
    # Check every layer before building anything, so the error names the first
    # unsupported layer even if it sits deep in the graph.
    for layer in model.layers:
        name = type(layer).__name__
        if name != "InputLayer" and name not in builders:
            raise _unsupported(layer)

    source_input = model.inputs[0]
    tensors = {
        id(source_input): tf_keras.Input(
            shape=tuple(source_input.shape[1:]),
            name=source_input.name if isinstance(source_input.name, str) else "input",
            dtype=source_input.dtype,
        )
    }
    built = {}
    for depth in sorted(model._nodes_by_depth, reverse=True):
        for node in model._nodes_by_depth[depth]:
            if not node.operation or node.is_input:
                continue
            if any(id(x) not in tensors for x in node.input_tensors):
                continue
            layer = node.operation
            if id(layer) not in built:
                builder = builders.get(type(layer).__name__)
                if builder is None or not isinstance(layer, keras.layers.Layer):
                    raise _unsupported(layer)
                new = builder(layer, layer.get_config())
                new._name = layer.name
                built[id(layer)] = (layer, new)
            new = built[id(layer)][1]
            args, kwargs = node.arguments.fill_in(tensors)
            kwargs = {k: v for k, v in kwargs.items() if k != "training"}
            outputs = new(*args, **kwargs)
            flat = outputs if isinstance(outputs, (list, tuple)) else [outputs]
            for x, y in zip(node.outputs, flat):
                tensors[id(x)] = y
    output = tensors.get(id(model.outputs[0]))
    if output is None:
        raise BridgeError(f"The output of model {model.name!r} is not connected to its input.")
    result = tf_keras.Model(tensors[id(source_input)], output, name=model.name)
    for layer, new in built.values():
        weights = layer.get_weights()
        if type(layer).__name__ == "Normalization":
            continue  # mean and variance are constants of the new layer
        try:
            new.set_weights(weights)
        except ValueError as e:
            raise BridgeError(
                f"Weights of layer {layer.name!r} ({type(layer).__name__}) do not fit its "
                f"tf_keras counterpart: {e}"
            ) from e
    return result
