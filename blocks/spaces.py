"""Ready-made search spaces mapping inputs to features (add a head yourself)."""

from __future__ import annotations

import re
from collections.abc import Sequence as _Seq

import keras_tuner

from . import hp_utils, ops
from .base import Block
from .conv import ConvBNAct, StrArg
from .head import DenseBlock
from .stage import Stage, check_block_types

# Widths from 4 channels up in steps of about 1.5x: the narrow end is where the
# designs for boards with a few KB of RAM live (a conv8-pool-conv16 CNN fits
# 8.5 KB of flash and 3 KB of arena on 8x8 digits).
CONV_SPACE_FILTERS = [4, 6, 8, 12, 16, 24, 32, 48, 64]
CONV_SPACE_STEM_FILTERS = [4, 6, 8, 12, 16, 24, 32]


def conv_space_kernels(rank: int) -> list[int]:
    """Kernel sizes of `ConvSpace`: 3-9 for 1D signals, 3 and 5 for images."""
    return [3, 5, 7, 9] if rank == 1 else [3, 5]


class ConvSpace(Block):
    """Stem plus 1..`max_stages` MnasNet-style stages, for 1D signals and images.

    The space holds what engineers hand-design for small MCU tasks as points:
    a stride-1 (or stride-2) conv stem, then stages of plain conv-BN-act layers
    (the conv-pool-conv CNN), DS-CNN style depthwise-separable stacks,
    MobileNetV2/V3 MBConv stacks with optional squeeze-excitation, or ResNet
    basic blocks (ResNet-8), each stage optionally preceded by a 2-wide max or
    average pool; the head (`ClassifierHead`) pools globally (average or max)
    or flattens. Widths go from 4 channels up (`CONV_SPACE_FILTERS`), kernels
    are 3-9 in 1D and 3/5 in 2D.

    Declared hyperparameters (block name `"conv_space"` by default):

    - `conv_space/activation`: one activation shared by every block;
    - `conv_space/num_stages`: `Int(min_stages, max_stages)`;
    - `conv_space/stem/{filters, kernel_size, strides}` (default stem);
    - `conv_space/stage_{i}/...` for `i` in `1..max_stages`, see `Stage`;
      stage `i` is declared under
      `hp.conditional_scope("num_stages", [i, ..., max_stages])`.

    Args:
        max_stages: Maximum number of stages after the stem.
        stem: Optional stem block; defaults to `ConvBNAct(name="stem")` with
            the shared activation.
        min_stages: Minimum number of stages (default 1).
        activation: Shared activation; `None` searches `ACTIVATIONS`, a list
            searches these values, a string fixes it.
        block_type: Restricts the stages' block types (`"conv"`, `"ds"`,
            `"mbconv"`, `"residual"` or a list); `None` searches all.
        filters: Widths searched for every stage.
        stem_filters: Widths searched for the stem.
        name: Block name.

    Example:

    ```python
    hp = keras_tuner.HyperParameters()
    inputs = keras.Input((40, 1))
    features = ConvSpace(max_stages=3).build(hp, inputs)
    outputs = ClassifierHead(10).build(hp, features)
    model = keras.Model(inputs, outputs)
    ```
    """

    def __init__(
        self,
        max_stages: int = 3,
        stem: Block | None = None,
        min_stages: int = 1,
        activation: StrArg = None,
        block_type: StrArg | _Seq[str] = None,
        filters: _Seq[int] = tuple(CONV_SPACE_FILTERS),
        stem_filters: _Seq[int] = tuple(CONV_SPACE_STEM_FILTERS),
        name: str | None = None,
    ):
        super().__init__(name=name)
        if not 0 <= int(min_stages) <= int(max_stages):
            raise ValueError(
                f"Expected 0 <= min_stages <= max_stages, got "
                f"min_stages={min_stages}, max_stages={max_stages}."
            )
        if stem is not None and not isinstance(stem, Block):
            raise TypeError(f"stem must be a Block, got {stem!r}.")
        if stem is not None and re.fullmatch(r"stage_\d+", stem.name):
            raise ValueError(f"stem name {stem.name!r} clashes with a stage name.")
        ops.check_activation(activation)
        check_block_types(block_type)
        self.max_stages = int(max_stages)
        self.min_stages = int(min_stages)
        self.stem = stem
        self.activation = activation
        self.block_type = block_type
        self.filters = [int(f) for f in filters]
        self.stem_filters = [int(f) for f in stem_filters]

    def build(self, hp: keras_tuner.HyperParameters, inputs):
        """Builds stem and stages on `inputs`.

        Args:
            hp: The hyperparameters.
            inputs: Keras tensor of shape `(batch, steps, channels)` or
                `(batch, height, width, channels)`.

        Returns:
            The feature map of the last active stage.
        """
        kernels = conv_space_kernels(ops.spatial_rank(inputs))
        activation = hp_utils.choice(
            hp, "activation", self.activation, ops.ACTIVATIONS
        )
        if activation is None:
            return inputs  # The whole space is under an inactive scope.
        stem = self.stem or ConvBNAct(
            self.stem_filters, kernels, activation=activation, name="stem"
        )
        x = stem.build(hp, inputs)

        num_stages = hp_utils.integer(
            hp, "num_stages", None, self.min_stages, self.max_stages
        )
        searched = self.min_stages != self.max_stages
        for i in range(self.max_stages):
            stage = Stage(
                block_type=self.block_type,
                filters=self.filters,
                kernel_size=kernels,
                activation=activation,
                name=f"stage_{i + 1}",
            )
            if searched and i >= self.min_stages:
                active_values = list(range(i + 1, self.max_stages + 1))
                with hp.conditional_scope("num_stages", active_values):
                    y = stage.build(hp, x)
            else:
                y = stage.build(hp, x)
            if num_stages is not None and i < num_stages:
                x = y
        return x


class MLPSpace(Block):
    """The default space for rank-1 (tabular) inputs: one `DenseBlock`.

    Declared hyperparameters (block name `"mlp_space"` by default):
    `mlp_space/dense_block/{num_layers, units_0, units_1, units_2,
    use_batchnorm, activation, dropout}`, `units_1`/`units_2` conditional on
    `num_layers`.

    Args:
        units: See `DenseBlock`.
        num_layers: See `DenseBlock`.
        dropout: See `DenseBlock`.
        activation: See `DenseBlock`.
        use_batchnorm: See `DenseBlock`.
        name: Block name.

    Example:

    ```python
    hp = keras_tuner.HyperParameters()
    inputs = keras.Input((64,))
    outputs = ClassifierHead(10).build(hp, MLPSpace().build(hp, inputs))
    ```
    """

    def __init__(
        self,
        units=None,
        num_layers=None,
        dropout=None,
        activation: StrArg = None,
        use_batchnorm: bool | None = None,
        name: str | None = None,
    ):
        super().__init__(name=name)
        self.dense = DenseBlock(
            units=units,
            num_layers=num_layers,
            dropout=dropout,
            activation=activation,
            use_batchnorm=use_batchnorm,
            name="dense_block",
        )

    def build(self, hp: keras_tuner.HyperParameters, inputs):
        """Builds the dense stack on `inputs`.

        Args:
            hp: The hyperparameters.
            inputs: Keras tensor of shape `(batch, features)`.

        Returns:
            The output features, shape `(batch, units)`.
        """
        return self.dense.build(hp, inputs)

    def initial_architectures(self, input_shape: tuple) -> list[dict]:
        """The MLP an engineer writes first: two hidden layers of 32, ReLU, no batch norm or dropout.

        Only when the whole dense block is searched (its point is then in the
        space); see `Block.initial_architectures`.
        """
        dense = self.dense
        if any(v is not None for v in (dense.units, dense.num_layers, dense.dropout, dense.activation,
                                        dense.use_batchnorm)):
            return []
        scope = f"{self.name}/{dense.name}"
        design = {"num_layers": 2, "units_0": 32, "units_1": 32, "use_batchnorm": False, "activation": "relu",
                  "dropout": 0.0}
        return [{f"{scope}/{key}": value for key, value in design.items()}]


def default_space(input_shape: _Seq[int | None]) -> Block:
    """Returns the default search space for an input shape (without batch).

    Args:
        input_shape: Shape of one example, e.g. `(40, 1)` for a 1D signal,
            `(8, 8, 1)` for an image, `(64,)` for tabular data.

    Returns:
        `ConvSpace()` for rank-2 or rank-3 shapes, `MLPSpace()` for rank 1.

    Raises:
        ValueError: For any other shape.

    Example:

    ```python
    space = default_space((8, 8, 1))  # ConvSpace
    ```
    """
    try:
        shape = tuple(input_shape)
    except TypeError:
        raise ValueError(
            f"input_shape must be a tuple without the batch dimension, got "
            f"{input_shape!r}."
        ) from None
    if len(shape) in (2, 3):
        return ConvSpace()
    if len(shape) == 1:
        return MLPSpace()
    raise ValueError(
        f"No default search space for input shape {shape} (rank {len(shape)}, "
        f"batch dimension excluded). Supported: rank 1 (features,) -> MLPSpace, "
        f"rank 2 (steps, channels) -> ConvSpace (1D), rank 3 "
        f"(height, width, channels) -> ConvSpace (2D)."
    )
