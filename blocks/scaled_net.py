"""A fixed network shape whose scaling knobs are searched: width, depth, kernel, stride, resolution."""

from __future__ import annotations

from collections.abc import Sequence as _Seq

import keras_tuner

from . import hp_utils, ops
from .base import Block
from .conv import ConvBNAct, IntArg, StrArg
from .presets import _staged, make_divisible, searched_resolution
from .stage import Stage, check_block_types


class ScaledNetSpace(Block):
    """A published network's macro-architecture with its scaling knobs searched.

    What an engineer varies to fit a known network to a smaller board
    (MobileNet's width multiplier alpha and resolution multiplier rho, fewer
    blocks or stages, other kernels or a strided stem), with its shape kept:
    a 3x3 conv-BN-act stem with `make_divisible(stem_filters * w, divisor)`
    channels, then stages of one block type (`Stage`: `"ds"` for
    MobileNetV1, `"residual"` for ResNet, ...), stage `i` with
    `make_divisible(stage_filters[i] * w, divisor)` channels, first stride
    `stage_strides[i]` and 1 to `stage_depths[i]` blocks, every stage with
    the same kernel. Global pooling is left to the head.

    Declared hyperparameters (block name `"scaled_net_space"` by default),
    each only when it has several values:

    - `resolution` (images only, when `resolution_scales` is given): input
      heights `round(h * s)`; a `Resizing` layer when not the input height;
    - `width_multiplier`: `width_multipliers`;
    - `stem/strides`: `stem_strides`;
    - `kernel_size`: `kernel_sizes`;
    - `num_stages`: `Int(min_stages, len(stage_filters))`; stage `i` past
      `min_stages` is declared under `conditional_scope("num_stages", ...)`;
    - `stage_{i}/depth`: `1..stage_depths[i - 1]`.

    Args:
        block_type: The stages' block type (one of `Stage`'s).
        stem_filters: Stem width at multiplier 1.
        stage_filters: Stage widths at multiplier 1.
        stage_depths: Most blocks of each stage.
        stage_strides: Stride of the first block of each stage.
        width_multipliers: Multipliers of every width.
        stem_strides: Stride of the stem (same rules as block arguments).
        kernel_sizes: Kernel sizes of the stages' blocks.
        resolution_scales: Input resolution multipliers (images); `None`
            keeps the input resolution.
        min_stages: Fewest stages kept (default: all of them).
        activation: One of `ACTIVATIONS` (same rules).
        divisor: Widths are rounded to multiples of it (`make_divisible`).
        name: Block name.

    Example:

    ```python
    hp = keras_tuner.HyperParameters()
    resnet8 = ScaledNetSpace("residual", 16, (16, 32, 64), (1, 1, 1), (1, 2, 2),
                             width_multipliers=[0.5, 1.0], stem_strides=1)
    inputs = keras.Input((32, 32, 3))
    outputs = ClassifierHead(10).build(hp, resnet8.build(hp, inputs))
    ```
    """

    def __init__(
        self,
        block_type: str,
        stem_filters: int,
        stage_filters: _Seq[int],
        stage_depths: _Seq[int],
        stage_strides: _Seq[int],
        width_multipliers: _Seq[float],
        stem_strides: IntArg = 2,
        kernel_sizes: _Seq[int] = (3,),
        resolution_scales: _Seq[float] | None = None,
        min_stages: int | None = None,
        activation: StrArg = "relu",
        divisor: int = 4,
        name: str | None = None,
    ):
        super().__init__(name=name)
        if not isinstance(block_type, str):
            raise ValueError(f"block_type must be one block type (a string), got {block_type!r}.")
        check_block_types(block_type)
        ops.check_activation(activation)
        if not stage_filters or not len(stage_filters) == len(stage_depths) == len(stage_strides):
            raise ValueError(
                f"stage_filters, stage_depths and stage_strides must be non-empty and of the same length, "
                f"got {list(stage_filters)}, {list(stage_depths)} and {list(stage_strides)}."
            )
        if min(stage_depths) < 1:
            raise ValueError(f"stage_depths must be >= 1, got {list(stage_depths)}.")
        if not width_multipliers or not all(0 < float(m) <= 4 for m in width_multipliers):
            raise ValueError(f"width_multipliers must be in (0, 4], got {list(width_multipliers)}.")
        max_stages = len(stage_filters)
        self.min_stages = max_stages if min_stages is None else int(min_stages)
        if not 1 <= self.min_stages <= max_stages:
            raise ValueError(f"min_stages must be in 1..{max_stages}, got {min_stages!r}.")
        self.block_type = block_type
        self.stem_filters = int(stem_filters)
        self.stage_filters = tuple(int(f) for f in stage_filters)
        self.stage_depths = tuple(int(d) for d in stage_depths)
        self.stage_strides = tuple(int(s) for s in stage_strides)
        self.width_multipliers = [float(m) for m in width_multipliers]
        self.stem_strides = stem_strides
        self.kernel_sizes = [int(k) for k in kernel_sizes]
        self.resolution_scales = None if resolution_scales is None else tuple(resolution_scales)
        self.activation = activation
        self.divisor = int(divisor)

    def build(self, hp: keras_tuner.HyperParameters, inputs):
        """Builds resizing, stem and stages on `inputs`.

        Args:
            hp: The hyperparameters.
            inputs: Rank-3 or rank-4 Keras tensor (resolution searched for rank 4).

        Returns:
            The feature map of the last active stage.
        """
        x, resolution = inputs, 0
        if ops.spatial_rank(inputs) == 2 and self.resolution_scales is not None:
            x, resolution = searched_resolution(self, hp, inputs, None, self.resolution_scales)
        multiplier = hp_utils.choice(hp, "width_multiplier", self.width_multipliers, [])
        kernel_size = hp_utils.choice(hp, "kernel_size", self.kernel_sizes, [])
        activation = hp_utils.choice(hp, "activation", self.activation, ops.ACTIVATIONS)
        inactive = hp_utils.any_none(resolution, multiplier, kernel_size, activation)
        w = 1.0 if inactive else float(multiplier)
        act, kernel = activation or "relu", kernel_size or self.kernel_sizes[0]

        def width(filters: int) -> int:
            return make_divisible(filters * w, self.divisor)

        x = ConvBNAct(width(self.stem_filters), 3, self.stem_strides, act, name="stem").build(hp, x)
        max_stages = len(self.stage_filters)
        num_stages = hp_utils.integer(hp, "num_stages", None, self.min_stages, max_stages)
        stages = [
            Stage(
                depth=list(range(1, depth + 1)),
                block_type=self.block_type,
                filters=width(filters),
                kernel_size=kernel,
                strides=strides,
                activation=act,
                pool="none",
                name=f"stage_{i + 1}",
            )
            for i, (filters, depth, strides) in enumerate(
                zip(self.stage_filters, self.stage_depths, self.stage_strides)
            )
        ]
        x = _staged(hp, stages, x, self.min_stages < max_stages, self.min_stages, num_stages)
        return inputs if inactive else x
