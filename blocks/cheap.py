"""Cheap convolution blocks: SqueezeNet Fire and GhostNet ghost modules.

Both are rank-generic: a `(batch, steps, channels)` input gives `Conv1D` /
`DepthwiseConv1D` layers (temporal convolution for audio and sensor signals),
a `(batch, height, width, channels)` input the 2D layers. Only conv,
depthwise conv, batch norm, activations and `Concatenate` are used; all run
as int8 under TFLite Micro.
"""

from __future__ import annotations

import math

import keras
import keras_tuner

from . import hp_utils, ops
from .base import Block
from .conv import FILTERS, STRIDES, IntArg, StrArg

SQUEEZE_FILTERS = [4, 8, 16]
EXPAND_FILTERS = [8, 16, 32]
GHOST_RATIOS = [2, 3]


class FireBlock(Block):
    """SqueezeNet Fire module: squeeze 1x1, then expand 1x1 and `k` in parallel.

    squeeze: 1x1 conv (`squeeze_filters`) - BN - act; expand: a 1x1 conv and
    a `kernel_size` conv (`expand_filters` each) - BN - act, concatenated along
    channels, so the output has `2 * expand_filters` channels. A stride, if
    any, is applied by the squeeze conv.

    Default space: squeeze_filters `[4, 8, 16]`, expand_filters
    `[8, 16, 32]`, kernel_size `[3]` (fixed, as in SqueezeNet), strides `1`
    (fixed), activation `ACTIVATIONS`.

    Args:
        squeeze_filters: Channels of the squeeze conv. `None` searches the
            default space, a list searches these values, an int fixes it.
        expand_filters: Channels of each expand branch (same rules).
        kernel_size: Kernel of the wide expand branch (default 3, fixed).
        strides: Stride of the squeeze conv (default 1, fixed; same rules).
        activation: One of `ACTIVATIONS` (same rules).
        name: Block name.

    Example:

    ```python
    hp = keras_tuner.HyperParameters()
    y = FireBlock(name="fire").build(hp, keras.Input((8, 8, 16)))
    sorted(hp.values)
    # ['fire/activation', 'fire/expand_filters', 'fire/squeeze_filters']
    ```
    """

    def __init__(
        self,
        squeeze_filters: IntArg = None,
        expand_filters: IntArg = None,
        kernel_size: IntArg = 3,
        strides: IntArg = 1,
        activation: StrArg = None,
        name: str | None = None,
    ):
        super().__init__(name=name)
        ops.check_activation(activation)
        self.squeeze_filters = squeeze_filters
        self.expand_filters = expand_filters
        self.kernel_size = kernel_size
        self.strides = strides
        self.activation = activation

    def build(self, hp: keras_tuner.HyperParameters, inputs):
        """Builds the Fire module on `inputs`.

        Args:
            hp: The hyperparameters.
            inputs: Rank-3 or rank-4 Keras tensor.

        Returns:
            The output tensor (`2 * expand_filters` channels).
        """
        rank = ops.spatial_rank(inputs)
        squeeze = hp_utils.choice(hp, "squeeze_filters", self.squeeze_filters, SQUEEZE_FILTERS)
        expand = hp_utils.choice(hp, "expand_filters", self.expand_filters, EXPAND_FILTERS)
        kernel_size = hp_utils.choice(hp, "kernel_size", self.kernel_size, ops.kernel_sizes(rank))
        strides = hp_utils.choice(hp, "strides", self.strides, STRIDES)
        activation = hp_utils.choice(hp, "activation", self.activation, ops.ACTIVATIONS)
        if hp_utils.any_none(squeeze, expand, kernel_size, strides, activation):
            return inputs
        n = self.name
        s = ops.conv(inputs, squeeze, 1, ops.effective_strides(inputs, strides), name=f"{n}_squeeze_conv")
        s = ops.batch_norm(s, name=f"{n}_squeeze_bn")
        s = ops.activation(s, activation, name=f"{n}_squeeze_act")
        branches = []
        for label, k in (("expand_1", 1), ("expand_k", kernel_size)):
            b = ops.conv(s, expand, k, name=f"{n}_{label}_conv")
            b = ops.batch_norm(b, name=f"{n}_{label}_bn")
            branches.append(ops.activation(b, activation, name=f"{n}_{label}_act"))
        return keras.layers.Concatenate(name=f"{n}_concat")(branches)


class GhostBlock(Block):
    """GhostNet's ghost module: a few real features plus cheap depthwise ones.

    primary: 1x1 conv (stride `s`) to `m = ceil(filters / ratio)` channels -
    BN - act; cheap: depthwise `kernel_size` conv of the primary features with
    depth multiplier `ratio - 1` - BN - act; output: both concatenated,
    `m * ratio` channels (`filters` rounded up to a multiple of `ratio`).
    A 1x1 conv costs `C_in * m` MACs per position instead of
    `C_in * filters`.

    Default space: filters `[8, 16, 24, 32, 48, 64]`, ratio `[2, 3]`,
    kernel_size `[3]` (fixed, as in GhostNet), strides `[1, 2]`, activation
    `ACTIVATIONS`.

    Args:
        filters: Output channels (rounded up to a multiple of `ratio`).
            `None` searches the default space, a list searches these values,
            an int fixes it.
        ratio: Total / primary channels (same rules; integer >= 2).
        kernel_size: Kernel of the cheap depthwise conv (default 3, fixed).
        strides: Stride of the primary conv (same rules).
        activation: One of `ACTIVATIONS` (same rules).
        name: Block name.

    Example:

    ```python
    hp = keras_tuner.HyperParameters()
    y = GhostBlock(filters=32, ratio=2, name="ghost").build(
        hp, keras.Input((40, 8)))
    y.shape  # (None, ..., 32)
    ```
    """

    def __init__(
        self,
        filters: IntArg = None,
        ratio: IntArg = None,
        kernel_size: IntArg = 3,
        strides: IntArg = None,
        activation: StrArg = None,
        name: str | None = None,
    ):
        super().__init__(name=name)
        ops.check_activation(activation)
        ratios = ratio if isinstance(ratio, (list, tuple)) else [ratio]
        for r in ratios:
            if r is not None and (int(r) != r or int(r) < 2):
                raise ValueError(f"GhostBlock ratio must be an integer >= 2, got {r!r}.")
        self.filters = filters
        self.ratio = ratio
        self.kernel_size = kernel_size
        self.strides = strides
        self.activation = activation

    def build(self, hp: keras_tuner.HyperParameters, inputs):
        """Builds the ghost module on `inputs`.

        Args:
            hp: The hyperparameters.
            inputs: Rank-3 or rank-4 Keras tensor.

        Returns:
            The output tensor (`ceil(filters / ratio) * ratio` channels).
        """
        rank = ops.spatial_rank(inputs)
        filters = hp_utils.choice(hp, "filters", self.filters, FILTERS)
        ratio = hp_utils.choice(hp, "ratio", self.ratio, GHOST_RATIOS)
        kernel_size = hp_utils.choice(hp, "kernel_size", self.kernel_size, ops.kernel_sizes(rank))
        strides = hp_utils.choice(hp, "strides", self.strides, STRIDES)
        activation = hp_utils.choice(hp, "activation", self.activation, ops.ACTIVATIONS)
        if hp_utils.any_none(filters, ratio, kernel_size, strides, activation):
            return inputs
        n = self.name
        primary_filters = math.ceil(filters / ratio)
        x = ops.conv(inputs, primary_filters, 1, ops.effective_strides(inputs, strides), name=f"{n}_primary_conv")
        x = ops.batch_norm(x, name=f"{n}_primary_bn")
        x = ops.activation(x, activation, name=f"{n}_primary_act")
        layer = keras.layers.DepthwiseConv1D if rank == 1 else keras.layers.DepthwiseConv2D
        cheap = layer(
            kernel_size,
            padding="same",
            depth_multiplier=int(ratio) - 1,
            use_bias=ops.conventions().conv_bias,
            depthwise_initializer=ops.depthwise_initializer(),
            name=f"{n}_cheap_conv",
        )(x)
        cheap = ops.batch_norm(cheap, name=f"{n}_cheap_bn")
        cheap = ops.activation(cheap, activation, name=f"{n}_cheap_act")
        return keras.layers.Concatenate(name=f"{n}_concat")([x, cheap])
