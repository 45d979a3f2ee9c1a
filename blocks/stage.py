"""MnasNet-style stage: one set of hyperparameters for a stack of blocks."""

from __future__ import annotations

import keras_tuner

from . import hp_utils, ops
from .base import Block
from .conv import (
    EXPANSIONS,
    FILTERS,
    SE_RATIOS,
    STRIDES,
    ConvBNAct,
    DepthwiseSeparable,
    FloatArg,
    IntArg,
    MBConv,
    StrArg,
)
from .pooling import local_pool
from .residual import residual

# "conv": plain conv-BN-act (the hand-written CNN, VGG); "ds": depthwise-separable
# (DS-CNN, MobileNetV1); "mbconv": inverted bottleneck (MobileNetV2/V3);
# "residual": ResNet basic block (the MLPerf Tiny ResNet-8).
BLOCK_TYPES = ["conv", "ds", "mbconv", "residual"]
# Downsampling before a stage's blocks: none, or a 2-wide max/average pool.
POOLS = ["none", "max", "avg"]


def check_block_types(block_type) -> list:
    """Validates a `block_type` argument (None, one type or a list of types).

    Args:
        block_type: The argument as given.

    Returns:
        The argument as a list.
    """
    types = list(block_type) if isinstance(block_type, (list, tuple)) else [block_type]
    for t in types:
        if t is not None and t not in BLOCK_TYPES:
            raise ValueError(f"Unsupported block_type {t!r}; expected one of {BLOCK_TYPES}.")
    return types


MIN_DEPTH = 1
MAX_DEPTH = 3


class Stage(Block):
    """A stack of `depth` identical blocks sharing one set of hyperparameters.

    As in MnasNet's factorized hierarchical search space, the stage declares
    its hyperparameters once (block type, depth, filters, kernel size,
    strides, activation and, only under
    `hp.conditional_scope("block_type", ["mbconv"])`, expansion, se_ratio and
    skip), then builds `depth` concrete blocks with all values fixed: the
    first block uses the stage stride, the others stride 1. Concrete blocks
    are named `f"{stage_name}_{i}"` (`i` from 0) and declare nothing.

    Block types: `"conv"` is a plain conv-BN-act layer (the CNN an engineer
    writes by hand; batch norm folds into the conv when converted), `"ds"` is
    `DepthwiseSeparable` (the DS-CNN / MobileNetV1 block, no residual),
    `"mbconv"` is `MBConv` (residual where shapes allow when `skip` is on,
    optional squeeze-excitation), `"residual"` is the ResNet basic block
    (`ResidualBlock`, as in the MLPerf Tiny ResNet-8).

    Before its blocks, a stage may downsample with a 2-wide pool (`pool`:
    `"none"`, `"max"` or `"avg"`), as in conv-pool-conv designs.

    Default space: block_type `["conv", "ds", "mbconv", "residual"]`, pool
    `["none", "max", "avg"]`, depth `Int(1, 3)`, filters
    `[8, 16, 24, 32, 48, 64]`, kernel size `[3, 5]` (1D: `[3, 5, 7]`), strides
    `[1, 2]`, activation `ACTIVATIONS`; for mbconv: expansion `[1, 2, 4, 6]`,
    se_ratio `[0.0, 0.25]`, skip `Boolean` (default `True`).

    Args:
        depth: Number of blocks. `None` searches the default space, a list
            searches these values, an int fixes it.
        block_type: `"conv"`, `"ds"`, `"mbconv"` or `"residual"` (same rules).
        pool: `"none"`, `"max"` or `"avg"` pooling before the blocks (same rules).
        filters: Output channels of every block (same rules).
        kernel_size: Depthwise kernel size (same rules).
        expansion: MBConv expansion factor (same rules; mbconv only).
        strides: Stride of the first block (same rules).
        se_ratio: MBConv squeeze-excitation ratio (same rules; mbconv only).
        skip: MBConv residual switch (`None` searches it; mbconv only).
        activation: One of `ACTIVATIONS` (same rules).
        name: Stage name.

    Example:

    ```python
    hp = keras_tuner.HyperParameters()
    x = keras.Input((40, 8))
    y = Stage(name="stage_1").build(hp, x)
    [p.name for p in hp.space]
    # ['stage_1/block_type', 'stage_1/pool', 'stage_1/depth', 'stage_1/filters',
    #  'stage_1/kernel_size', 'stage_1/strides', 'stage_1/activation',
    #  'stage_1/expansion', 'stage_1/se_ratio', 'stage_1/skip']
    ```
    """

    def __init__(
        self,
        depth: IntArg = None,
        block_type: StrArg = None,
        filters: IntArg = None,
        kernel_size: IntArg = None,
        expansion: IntArg = None,
        strides: IntArg = None,
        se_ratio: FloatArg = None,
        skip: bool | None = None,
        activation: StrArg = None,
        pool: StrArg = None,
        name: str | None = None,
    ):
        super().__init__(name=name)
        ops.check_activation(activation)
        types = check_block_types(block_type)
        for p in pool if isinstance(pool, (list, tuple)) else [pool]:
            if p is not None and p not in POOLS:
                raise ValueError(f"Unsupported pool {p!r}; expected one of {POOLS}.")
        if types and all(t is not None and t != "mbconv" for t in types):
            given = {
                k: v
                for k, v in dict(
                    expansion=expansion, se_ratio=se_ratio, skip=skip
                ).items()
                if v is not None
            }
            if given:
                raise ValueError(
                    f"{sorted(given)} only apply to block_type='mbconv', but "
                    f"block_type={block_type!r} was given."
                )
        self.depth = depth
        self.block_type = block_type
        self.filters = filters
        self.kernel_size = kernel_size
        self.expansion = expansion
        self.strides = strides
        self.se_ratio = se_ratio
        self.skip = skip
        self.activation = activation
        self.pool = pool

    def _mbconv_values(self, hp: keras_tuner.HyperParameters):
        expansion = hp_utils.choice(hp, "expansion", self.expansion, EXPANSIONS)
        se_ratio = hp_utils.choice(hp, "se_ratio", self.se_ratio, SE_RATIOS)
        skip = hp_utils.boolean(hp, "skip", self.skip, default=True)
        return expansion, se_ratio, skip

    def build(self, hp: keras_tuner.HyperParameters, inputs):
        """Declares the stage hyperparameters and builds its blocks.

        Args:
            hp: The hyperparameters.
            inputs: Rank-3 or rank-4 Keras tensor.

        Returns:
            The output tensor (`inputs` itself when the stage is built under an
            inactive conditional scope).
        """
        rank = ops.spatial_rank(inputs)
        block_type = hp_utils.choice(hp, "block_type", self.block_type, BLOCK_TYPES)
        pool = hp_utils.choice(hp, "pool", self.pool, POOLS)
        depth = hp_utils.integer(hp, "depth", self.depth, MIN_DEPTH, MAX_DEPTH)
        filters = hp_utils.choice(hp, "filters", self.filters, FILTERS)
        kernel_size = hp_utils.choice(
            hp, "kernel_size", self.kernel_size, ops.kernel_sizes(rank)
        )
        strides = hp_utils.choice(hp, "strides", self.strides, STRIDES)
        activation = hp_utils.choice(
            hp, "activation", self.activation, ops.ACTIVATIONS
        )

        expansion = se_ratio = skip = None
        allowed = (
            BLOCK_TYPES
            if self.block_type is None
            else list(self.block_type)
            if isinstance(self.block_type, (list, tuple))
            else [self.block_type]
        )
        if "mbconv" in allowed:
            if hp_utils.is_searched(self.block_type):
                with hp.conditional_scope("block_type", ["mbconv"]):
                    expansion, se_ratio, skip = self._mbconv_values(hp)
            else:
                expansion, se_ratio, skip = self._mbconv_values(hp)

        if hp_utils.any_none(block_type, pool, depth, filters, kernel_size, strides):
            return inputs  # Inactive conditional scope: declare only.
        if activation is None:
            return inputs
        if block_type == "mbconv" and hp_utils.any_none(expansion, se_ratio, skip):
            return inputs

        x = inputs if pool == "none" else local_pool(inputs, pool, 2, name=f"{self.name}_pool")
        for i in range(depth):
            block_strides = strides if i == 0 else 1
            block_name = f"{self.name}_{i}"
            if block_type == "conv":
                block = ConvBNAct(filters, kernel_size, block_strides, activation, name=block_name)
                x = block.build(hp, x)
                continue
            if block_type == "residual":
                x = residual(x, filters, kernel_size, block_strides, activation, name=block_name)
                continue
            if block_type == "ds":
                block = DepthwiseSeparable(
                    filters=filters,
                    kernel_size=kernel_size,
                    strides=block_strides,
                    activation=activation,
                    name=block_name,
                )
            else:
                block = MBConv(
                    filters=filters,
                    kernel_size=kernel_size,
                    expansion=expansion,
                    strides=block_strides,
                    se_ratio=se_ratio,
                    skip=skip,
                    activation=activation,
                    name=block_name,
                )
            x = block.build(hp, x)
        return x
