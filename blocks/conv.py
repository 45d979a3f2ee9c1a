"""Convolutional building blocks: conv-BN-act stem, depthwise-separable, MBConv.

All blocks work on 1D `(batch, steps, channels)` and 2D
`(batch, height, width, channels)` inputs and only use standard Keras layers,
so every candidate converts to int8 TFLite and runs under TFLite Micro.
"""

from __future__ import annotations

from collections.abc import Sequence as _Seq

import keras
import keras_tuner

from . import hp_utils, ops
from .base import Block

STEM_FILTERS = [8, 16, 24, 32]
FILTERS = [8, 16, 24, 32, 48, 64]
STRIDES = [1, 2]
EXPANSIONS = [1, 2, 4, 6]
SE_RATIOS = [0.0, 0.25]

IntArg = int | _Seq[int] | None
FloatArg = float | _Seq[float] | None
StrArg = str | _Seq[str] | None


def conv_choices(block, hp, inputs, default_filters):
    """Declares (or takes fixed) filters, kernel size, strides and activation of a conv block."""
    rank = ops.spatial_rank(inputs)
    return (
        hp_utils.choice(hp, "filters", block.filters, default_filters),
        hp_utils.choice(hp, "kernel_size", block.kernel_size, ops.kernel_sizes(rank)),
        hp_utils.choice(hp, "strides", block.strides, STRIDES),
        hp_utils.choice(hp, "activation", block.activation, ops.ACTIVATIONS),
    )


class ConvBNAct(Block):
    """Convolution, batch normalization, activation: the stem of a network.

    Default space: filters `[8, 16, 24, 32]`, kernel size `[3, 5]`
    (1D: `[3, 5, 7]`), strides `[1, 2]`, activation `ACTIVATIONS`.

    Args:
        filters: Number of output channels. `None` searches the default space,
            a list searches these values, an int fixes it.
        kernel_size: Kernel size (same rules).
        strides: Stride (same rules).
        activation: One of `ACTIVATIONS` (same rules).
        name: Block name (hyperparameter scope and layer-name prefix).

    Example:

    ```python
    hp = keras_tuner.HyperParameters()
    x = ConvBNAct(strides=1, name="stem").build(hp, keras.Input((40, 1)))
    sorted(hp.values)
    # ['stem/activation', 'stem/filters', 'stem/kernel_size']
    ```
    """

    def __init__(
        self,
        filters: IntArg = None,
        kernel_size: IntArg = None,
        strides: IntArg = None,
        activation: StrArg = None,
        name: str | None = None,
    ):
        super().__init__(name=name)
        ops.check_activation(activation)
        self.filters = filters
        self.kernel_size = kernel_size
        self.strides = strides
        self.activation = activation

    def build(self, hp: keras_tuner.HyperParameters, inputs):
        """Builds conv-BN-act on `inputs`.

        Args:
            hp: The hyperparameters.
            inputs: Rank-3 or rank-4 Keras tensor.

        Returns:
            The output tensor.
        """
        filters, kernel_size, strides, activation = conv_choices(
            self, hp, inputs, STEM_FILTERS
        )
        if hp_utils.any_none(filters, kernel_size, strides, activation):
            return inputs  # Inactive conditional scope: declare only.
        x = ops.conv(
            inputs,
            filters,
            kernel_size,
            ops.effective_strides(inputs, strides),
            name=f"{self.name}_conv",
        )
        x = ops.batch_norm(x, name=f"{self.name}_bn")
        return ops.activation(x, activation, name=f"{self.name}_act")


class DepthwiseSeparable(Block):
    """Depthwise-separable convolution (MobileNetV1 / DS-CNN block).

    Depthwise conv `k` - BN - act - pointwise 1x1 conv - BN - act.

    Default space: filters `[8, 16, 24, 32, 48, 64]`, kernel size `[3, 5]`
    (1D: `[3, 5, 7]`), strides `[1, 2]`, activation `ACTIVATIONS`.

    Args:
        filters: Output channels of the pointwise conv. `None` searches the
            default space, a list searches these values, an int fixes it.
        kernel_size: Depthwise kernel size (same rules).
        strides: Depthwise stride (same rules).
        activation: One of `ACTIVATIONS` (same rules).
        name: Block name.

    Example:

    ```python
    hp = keras_tuner.HyperParameters()
    block = DepthwiseSeparable(64, 3, 1, "relu", name="ds_1")
    y = block.build(hp, keras.Input((8, 8, 16)))  # declares nothing
    ```
    """

    def __init__(
        self,
        filters: IntArg = None,
        kernel_size: IntArg = None,
        strides: IntArg = None,
        activation: StrArg = None,
        name: str | None = None,
    ):
        super().__init__(name=name)
        ops.check_activation(activation)
        self.filters = filters
        self.kernel_size = kernel_size
        self.strides = strides
        self.activation = activation

    def build(self, hp: keras_tuner.HyperParameters, inputs):
        """Builds the depthwise-separable block on `inputs`.

        Args:
            hp: The hyperparameters.
            inputs: Rank-3 or rank-4 Keras tensor.

        Returns:
            The output tensor.
        """
        filters, kernel_size, strides, activation = conv_choices(
            self, hp, inputs, FILTERS
        )
        if hp_utils.any_none(filters, kernel_size, strides, activation):
            return inputs
        n = self.name
        x = ops.depthwise_conv(
            inputs,
            kernel_size,
            ops.effective_strides(inputs, strides),
            name=f"{n}_dw_conv",
        )
        x = ops.batch_norm(x, name=f"{n}_dw_bn")
        x = ops.activation(x, activation, name=f"{n}_dw_act")
        x = ops.conv(x, filters, 1, name=f"{n}_pw_conv")
        x = ops.batch_norm(x, name=f"{n}_pw_bn")
        return ops.activation(x, activation, name=f"{n}_pw_act")


class MBConv(Block):
    """Mobile inverted bottleneck (MobileNetV2/V3, MnasNet, EfficientNet).

    Expand 1x1 conv - BN - act (only if `expansion > 1`), depthwise conv `k` -
    BN - act, optional squeeze-excitation (only if `se_ratio > 0`), project
    1x1 conv - BN (linear), and a residual `Add` when `skip` is set and the
    output has the input's shape (effective stride 1, same channel count).

    Squeeze-excitation: `GlobalAveragePooling(keepdims=True)` - 1x1 conv with
    `max(1, int(expanded_channels * se_ratio))` filters and ReLU - 1x1 conv
    back to `expanded_channels` - `Activation("hard_sigmoid")` - `Multiply`.

    Default space: filters `[8, 16, 24, 32, 48, 64]`, kernel size `[3, 5]`
    (1D: `[3, 5, 7]`), expansion `[1, 2, 4, 6]`, strides `[1, 2]`, se_ratio
    `[0.0, 0.25]`, skip `Boolean` (default `True`), activation `ACTIVATIONS`.

    Args:
        filters: Output channels. `None` searches the default space, a list
            searches these values, an int fixes it.
        kernel_size: Depthwise kernel size (same rules).
        expansion: Expansion factor of the inverted bottleneck (same rules).
        strides: Depthwise stride (same rules).
        se_ratio: Squeeze-excitation ratio, `0.0` disables it (same rules).
        skip: Whether to add the identity residual when shapes allow.
            `None` searches `True`/`False`.
        activation: One of `ACTIVATIONS` (same rules).
        name: Block name.

    Example:

    ```python
    hp = keras_tuner.HyperParameters()
    block = MBConv(filters=16, kernel_size=3, strides=1, skip=True,
                   activation="hard_swish", name="mb_1")
    y = block.build(hp, keras.Input((40, 16)))
    sorted(hp.values)  # ['mb_1/expansion', 'mb_1/se_ratio']
    ```
    """

    def __init__(
        self,
        filters: IntArg = None,
        kernel_size: IntArg = None,
        expansion: IntArg = None,
        strides: IntArg = None,
        se_ratio: FloatArg = None,
        skip: bool | None = None,
        activation: StrArg = None,
        name: str | None = None,
    ):
        super().__init__(name=name)
        ops.check_activation(activation)
        self.filters = filters
        self.kernel_size = kernel_size
        self.expansion = expansion
        self.strides = strides
        self.se_ratio = se_ratio
        self.skip = skip
        self.activation = activation

    def build(self, hp: keras_tuner.HyperParameters, inputs):
        """Builds the MBConv block on `inputs`.

        Args:
            hp: The hyperparameters.
            inputs: Rank-3 or rank-4 Keras tensor.

        Returns:
            The output tensor.
        """
        rank = ops.spatial_rank(inputs)
        filters = hp_utils.choice(hp, "filters", self.filters, FILTERS)
        kernel_size = hp_utils.choice(
            hp, "kernel_size", self.kernel_size, ops.kernel_sizes(rank)
        )
        expansion = hp_utils.choice(hp, "expansion", self.expansion, EXPANSIONS)
        strides = hp_utils.choice(hp, "strides", self.strides, STRIDES)
        se_ratio = hp_utils.choice(hp, "se_ratio", self.se_ratio, SE_RATIOS)
        skip = hp_utils.boolean(hp, "skip", self.skip, default=True)
        activation = hp_utils.choice(
            hp, "activation", self.activation, ops.ACTIVATIONS
        )
        if hp_utils.any_none(
            filters, kernel_size, expansion, strides, se_ratio, skip, activation
        ):
            return inputs
        n = self.name
        in_channels = inputs.shape[-1]
        expanded = in_channels * expansion
        x = inputs
        if expansion > 1:
            x = ops.conv(x, expanded, 1, name=f"{n}_expand_conv")
            x = ops.batch_norm(x, name=f"{n}_expand_bn")
            x = ops.activation(x, activation, name=f"{n}_expand_act")
        strides = ops.effective_strides(x, strides)
        x = ops.depthwise_conv(x, kernel_size, strides, name=f"{n}_dw_conv")
        x = ops.batch_norm(x, name=f"{n}_dw_bn")
        x = ops.activation(x, activation, name=f"{n}_dw_act")
        if se_ratio > 0:
            x = squeeze_excite(x, se_ratio, name=n)
        x = ops.conv(x, filters, 1, name=f"{n}_project_conv")
        x = ops.batch_norm(x, name=f"{n}_project_bn")
        if skip and ops.is_unit_stride(strides) and in_channels == filters:
            x = keras.layers.Add(name=f"{n}_add")([x, inputs])
        return x


def squeeze_excite(x, se_ratio: float, *, name: str):
    """Squeeze-excitation with TFLite-Micro friendly ops.

    Args:
        x: Rank-3 or rank-4 input tensor.
        se_ratio: Ratio of the squeezed width to the channels of `x`.
        name: Prefix of the layer names.

    Returns:
        `x` rescaled channel-wise.
    """
    channels = x.shape[-1]
    squeezed = max(1, int(channels * se_ratio))
    s = ops.global_pool(x, "avg", keepdims=True, name=f"{name}_se_squeeze")
    s = ops.conv(
        s, squeezed, 1, use_bias=True, activation="relu", name=f"{name}_se_reduce"
    )
    s = ops.conv(s, channels, 1, use_bias=True, name=f"{name}_se_expand")
    s = keras.layers.Activation("hard_sigmoid", name=f"{name}_se_gate")(s)
    return keras.layers.Multiply(name=f"{name}_se_excite")([x, s])

