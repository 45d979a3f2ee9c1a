"""Rank-generic layer helpers: pick the 1D or 2D Keras layer from the input rank.

Blocks accept 1D inputs `(batch, steps, channels)` and 2D inputs
`(batch, height, width, channels)`. These helpers choose `Conv1D`/`Conv2D`,
`DepthwiseConv1D`/`DepthwiseConv2D`, `GlobalAveragePooling1D`/`2D`, ... from
the rank of the tensor, always with `padding="same"` and `use_bias=False`
before `BatchNormalization` (unless built under `layer_conventions`). Every
helper takes an explicit layer `name`.

Initialization: convolutions use `"he_normal"` and depthwise convolutions
`VarianceScaling(2.0, "fan_out", "truncated_normal")` (Keras' default Glorot
init computes the fan-in of a depthwise kernel `(k, k, C, 1)` as `k*k*C`, so it
shrinks activations by about `sqrt(C)` per layer). This keeps untrained
candidates' activations at a sane scale, which matters because TFLite Micro's
int8 `SOFTMAX` aborts the process when its input scale is tiny (logits that
vanished through a deep, untrained stack).

Stride guard: a stride larger than 1 along a spatial dimension that is already
of size 1 is replaced by 1 along that dimension (see `effective_strides`), so
deep candidates on small inputs (e.g. 8x8 images) never ask for an impossible
downsampling; such a layer then behaves exactly like a stride-1 layer (and a
residual connection becomes possible).
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses

import keras

ACTIVATIONS = ["relu", "relu6", "hard_swish"]
"""Activations searched by default; all run as int8 under TFLite Micro."""

POOLINGS = ["avg", "flatten", "max"]

CONV_INITIALIZER = "he_normal"


@dataclasses.dataclass(frozen=True)
class LayerConventions:
    """How the helpers build what published models build differently but that folds to the same int8 model.

    Attributes:
        conv_bias: Convolutions followed by a batch norm carry a bias (Keras'
            default, in most published Keras models; the batch norm's shift
            makes it redundant, the converter folds both into one bias).
        shortcut_batch_norm: A ResNet projection shortcut (1x1 conv) has a
            batch norm (as in Keras' ResNets); `False` as in MLPerf Tiny's
            ResNet-8, whose shortcut conv then has a bias.
    """

    conv_bias: bool = False
    shortcut_batch_norm: bool = True


_CONVENTIONS = contextvars.ContextVar("keras_nas_layer_conventions", default=LayerConventions())


def conventions() -> LayerConventions:
    """The `LayerConventions` in effect (the defaults outside `layer_conventions`)."""
    return _CONVENTIONS.get()


@contextlib.contextmanager
def layer_conventions(**changes):
    """Builds the layers inside with other `LayerConventions`, e.g. as a published reference does.

    A preset built around a published model (`keras_nas.blocks.mlperf_tiny`)
    builds under its conventions, so its reference has the published
    parameter count and its designs the same layers.

    Args:
        **changes: Fields of `LayerConventions` to change.

    Example:

    ```python
    with layer_conventions(conv_bias=True):
        x = ConvBNAct(16, 3, 1).build(hp, inputs)  # Conv2D with a bias, then BN
    ```
    """
    token = _CONVENTIONS.set(dataclasses.replace(conventions(), **changes))
    try:
        yield
    finally:
        _CONVENTIONS.reset(token)


def depthwise_initializer():
    """Variance-preserving init for a depthwise kernel (fan = k * k)."""
    return keras.initializers.VarianceScaling(
        scale=2.0, mode="fan_out", distribution="truncated_normal"
    )


def spatial_rank(x) -> int:
    """Returns the number of spatial dimensions of a feature map.

    Args:
        x: A Keras tensor of shape `(batch, steps, channels)` or
            `(batch, height, width, channels)`.

    Returns:
        `1` or `2`.

    Raises:
        ValueError: For any other rank.
    """
    rank = len(x.shape) - 2
    if rank not in (1, 2):
        raise ValueError(
            f"Expected a 1D feature map (batch, steps, channels) or a 2D feature "
            f"map (batch, height, width, channels), got a tensor of shape "
            f"{tuple(x.shape)}."
        )
    return rank


def kernel_sizes(rank: int) -> list[int]:
    """Default kernel sizes searched for a given spatial rank.

    Args:
        rank: `1` or `2`.

    Returns:
        `[3, 5, 7]` for 1D signals, `[3, 5]` for 2D inputs.
    """
    return [3, 5, 7] if rank == 1 else [3, 5]


def effective_strides(x, strides: int) -> int | tuple[int, ...]:
    """Strides to use on `x`, without striding dimensions of size 1.

    Args:
        x: The input Keras tensor (rank 3 or 4).
        strides: The requested stride (same along every spatial dimension).

    Returns:
        `strides` itself when it applies to every spatial dimension, `1` if
        every spatial dimension is of size 1, otherwise a per-dimension tuple.
    """
    dims = x.shape[1:-1]
    per_dim = tuple(1 if d == 1 else int(strides) for d in dims)
    if all(s == per_dim[0] for s in per_dim):
        return per_dim[0]
    return per_dim


def is_unit_stride(strides: int | tuple[int, ...]) -> bool:
    """Returns whether `strides` (as from `effective_strides`) is all ones."""
    if isinstance(strides, tuple):
        return all(s == 1 for s in strides)
    return strides == 1


def conv(
    x,
    filters: int,
    kernel_size: int,
    strides: int | tuple[int, ...] = 1,
    *,
    name: str,
    use_bias: bool | None = None,
    activation: str | None = None,
):
    """Applies a `Conv1D` or `Conv2D` (chosen from the rank of `x`).

    Args:
        x: Input tensor.
        filters: Number of output channels.
        kernel_size: Kernel size (same along every spatial dimension).
        strides: Stride(s).
        name: Layer name.
        use_bias: Whether to use a bias; `None` (before a batch norm): as
            `conventions().conv_bias` says (no bias by default).
        activation: Optional fused activation (only for layers not followed
            by batch norm, e.g. inside squeeze-excitation).

    Returns:
        The output tensor.
    """
    if use_bias is None:
        use_bias = conventions().conv_bias
    layer = conv_layer(
        spatial_rank(x), filters, kernel_size, strides, name=name, use_bias=use_bias, activation=activation
    )
    return layer(x)


def conv_layer(
    rank: int,
    filters: int,
    kernel_size: int,
    strides: int | tuple[int, ...] = 1,
    *,
    name: str,
    use_bias: bool = False,
    activation: str | None = None,
) -> keras.layers.Layer:
    """The `Conv1D` or `Conv2D` layer `conv` applies, for a layer that holds its sublayers (the supernet).

    Args:
        rank: Spatial rank of the input (1 or 2).
        filters, kernel_size, strides, name, use_bias, activation: As for `conv`.

    Returns:
        The layer (not yet called).
    """
    layer = keras.layers.Conv1D if rank == 1 else keras.layers.Conv2D
    return layer(
        filters,
        kernel_size,
        strides=strides,
        padding="same",
        use_bias=use_bias,
        activation=activation,
        kernel_initializer=CONV_INITIALIZER,
        name=name,
    )


def depthwise_conv(
    x,
    kernel_size: int,
    strides: int | tuple[int, ...] = 1,
    *,
    name: str,
):
    """Applies a `DepthwiseConv1D` or `DepthwiseConv2D` (multiplier 1, bias as `conventions()` says).

    Args:
        x: Input tensor.
        kernel_size: Kernel size.
        strides: Stride(s).
        name: Layer name.

    Returns:
        The output tensor.
    """
    if spatial_rank(x) == 1:
        layer = keras.layers.DepthwiseConv1D
    else:
        layer = keras.layers.DepthwiseConv2D
    return layer(
        kernel_size,
        strides=strides,
        padding="same",
        use_bias=conventions().conv_bias,
        depthwise_initializer=depthwise_initializer(),
        name=name,
    )(x)


# Keras' default momentum (0.99) needs a few thousand steps before the moving
# statistics used at validation time catch up; a NAS trial on a small data set
# trains for a few hundred, so candidates would be ranked on stale statistics.
BATCH_NORM_MOMENTUM = 0.9


def batch_norm(x, *, name: str):
    """Applies `BatchNormalization` (folded into the conv by the converter).

    Uses `BATCH_NORM_MOMENTUM` (0.9), suited to the short trainings of a search.

    Args:
        x: Input tensor.
        name: Layer name.

    Returns:
        The output tensor.
    """
    return batch_norm_layer(name=name)(x)


def batch_norm_layer(*, name: str) -> keras.layers.Layer:
    """The `BatchNormalization` layer `batch_norm` applies (not yet called)."""
    return keras.layers.BatchNormalization(momentum=BATCH_NORM_MOMENTUM, name=name)


def activation(x, name_of_activation: str | None, *, name: str):
    """Applies one of `ACTIVATIONS` as a standard Keras layer.

    `"relu"` and `"relu6"` become `ReLU` layers, `"hard_swish"` an
    `Activation("hard_swish")` layer. `None` or `"linear"` is the identity.

    Args:
        x: Input tensor.
        name_of_activation: One of `ACTIVATIONS`, `"linear"` or `None`.
        name: Layer name.

    Returns:
        The output tensor.

    Raises:
        ValueError: For an unsupported activation.
    """
    if name_of_activation in (None, "linear"):
        return x
    if name_of_activation == "relu":
        return keras.layers.ReLU(name=name)(x)
    if name_of_activation == "relu6":
        return keras.layers.ReLU(max_value=6.0, name=name)(x)
    if name_of_activation == "hard_swish":
        return keras.layers.Activation("hard_swish", name=name)(x)
    raise ValueError(
        f"Unsupported activation {name_of_activation!r}; expected one of "
        f"{ACTIVATIONS}."
    )


def check_activation(value) -> None:
    """Raises a `ValueError` if a fixed activation argument is unsupported.

    Args:
        value: `None`, one of `ACTIVATIONS`, or a list of them.
    """
    values = value if isinstance(value, (list, tuple)) else [value]
    for v in values:
        if v is not None and v not in ACTIVATIONS:
            raise ValueError(
                f"Unsupported activation {v!r}; expected one of {ACTIVATIONS}."
            )


@keras.saving.register_keras_serializable(package="keras_nas")
class FlattenToVector(keras.layers.Layer):
    """`Flatten` that converts to a single int8 `RESHAPE`.

    Keras' `Flatten` reshapes to `(batch, -1)` with the batch size read at run
    time; the TFLite converter turns that into SHAPE, STRIDED_SLICE, PACK and
    RESHAPE. This layer reshapes to `(-1, features)` with the number of
    features fixed when it is built: one RESHAPE, which on 8x8 digits saves
    about 450 bytes of TFLite Micro arena and 500 bytes of flash. Any batch
    size still works.

    Example:

    ```python
    y = FlattenToVector(name="flatten")(keras.Input((4, 4, 16)))  # shape (None, 256)
    ```
    """

    def call(self, inputs):
        return keras.ops.reshape(inputs, (-1, _features(inputs.shape)))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], _features(input_shape))


def _features(shape) -> int:
    size = 1
    for d in shape[1:]:
        size *= int(d)
    return size


def global_pool(x, pooling: str, *, name: str, keepdims: bool = False):
    """Reduces the spatial dimensions of `x`.

    Args:
        x: Input tensor of rank 3 or 4.
        pooling: `"avg"` (global average), `"max"` (global max) or
            `"flatten"` (`FlattenToVector`; `keepdims` must be `False`).
        name: Layer name.
        keepdims: Keep the spatial dimensions (with size 1).

    Returns:
        The output tensor.
    """
    rank = spatial_rank(x)
    if pooling == "avg":
        layer = (
            keras.layers.GlobalAveragePooling1D
            if rank == 1
            else keras.layers.GlobalAveragePooling2D
        )
        return layer(keepdims=keepdims, name=name)(x)
    if pooling == "max":
        layer = (
            keras.layers.GlobalMaxPooling1D
            if rank == 1
            else keras.layers.GlobalMaxPooling2D
        )
        return layer(keepdims=keepdims, name=name)(x)
    if pooling == "flatten":
        if keepdims:
            raise ValueError("pooling='flatten' does not support keepdims=True.")
        return FlattenToVector(name=name)(x)
    raise ValueError(f"Unsupported pooling {pooling!r}; expected one of {POOLINGS}.")
