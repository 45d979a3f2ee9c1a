"""ResNet basic block (rank-generic: 1D temporal conv or 2D conv)."""

from __future__ import annotations

import keras
import keras_tuner

from . import hp_utils, ops
from .base import Block
from .conv import FILTERS, IntArg, StrArg, conv_choices


class ResidualBlock(Block):
    """ResNet basic block: two conv-BN(-act) layers and a shortcut.

    conv `k` (stride `s`) - BN - act - conv `k` - BN, added to the shortcut,
    then act. The shortcut is the identity when the output has the input's
    shape, otherwise a 1x1 conv (stride `s`) - BN projection.

    Default space: filters `[8, 16, 24, 32, 48, 64]`, kernel size `[3, 5]`
    (1D: `[3, 5, 7]`), strides `[1, 2]`, activation `ACTIVATIONS`.

    Args:
        filters: Output channels. `None` searches the default space, a list
            searches these values, an int fixes it.
        kernel_size: Kernel size of both convs (same rules).
        strides: Stride of the first conv (same rules).
        activation: One of `ACTIVATIONS` (same rules).
        name: Block name.

    Example:

    ```python
    hp = keras_tuner.HyperParameters()
    y = ResidualBlock(strides=1, name="res").build(hp, keras.Input((40, 8)))
    sorted(hp.values)  # ['res/activation', 'res/filters', 'res/kernel_size']
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
        """Builds the residual block on `inputs`.

        Args:
            hp: The hyperparameters.
            inputs: Rank-3 or rank-4 Keras tensor.

        Returns:
            The output tensor.
        """
        filters, kernel_size, strides, activation = conv_choices(self, hp, inputs, FILTERS)
        if hp_utils.any_none(filters, kernel_size, strides, activation):
            return inputs
        return residual(inputs, filters, kernel_size, strides, activation, name=self.name)


def residual(inputs, filters: int, kernel_size: int, strides: int, activation: str, *, name: str):
    """Builds a ResNet basic block with fixed values (see `ResidualBlock`).

    Args:
        inputs: Rank-3 or rank-4 Keras tensor.
        filters: Output channels.
        kernel_size: Kernel size of both convs.
        strides: Stride of the first conv (guarded by `ops.effective_strides`).
        activation: One of `ACTIVATIONS`.
        name: Prefix of the layer names.

    Returns:
        The output tensor.
    """
    strides = ops.effective_strides(inputs, strides)
    x = ops.conv(inputs, filters, kernel_size, strides, name=f"{name}_conv_1")
    x = ops.batch_norm(x, name=f"{name}_bn_1")
    x = ops.activation(x, activation, name=f"{name}_act_1")
    x = ops.conv(x, filters, kernel_size, name=f"{name}_conv_2")
    x = ops.batch_norm(x, name=f"{name}_bn_2")
    shortcut = inputs
    if not ops.is_unit_stride(strides) or inputs.shape[-1] != filters:
        with_batch_norm = ops.conventions().shortcut_batch_norm
        shortcut = ops.conv(inputs, filters, 1, strides, name=f"{name}_proj_conv",
                            use_bias=None if with_batch_norm else True)
        if with_batch_norm:
            shortcut = ops.batch_norm(shortcut, name=f"{name}_proj_bn")
    x = keras.layers.Add(name=f"{name}_add")([x, shortcut])
    return ops.activation(x, activation, name=f"{name}_act_2")
