"""Macro search-space presets: `KWSSpace`, `MicroSpace`, `MobileSpace`.

Each preset maps an input tensor to a feature map; the classifier
(`ClassifierHead`: global pooling, dropout, dense) is added by the caller,
e.g. `NASHyperModel`. Layer names are prefixed with the preset name.
"""

from __future__ import annotations

from collections.abc import Sequence as _Seq

import keras
import keras_tuner

from . import hp_utils, ops
from .base import Block
from .conv import ConvBNAct, DepthwiseSeparable, IntArg, StrArg
from .stage import Stage

KWS_WIDTHS = [16, 24, 32, 40, 48, 64, 96, 128]
# "Hello Edge"'s DS-CNN (also MLPerf Tiny's): a 10x4 first conv of 64 with stride 2 in time and
# frequency, then four depthwise-separable layers of 64 (3x3).
KWS_DS_CNN = dict(width=64, num_layers=4, stem_kernel=10, stem_strides=2, freq_strides=2, kernel_size=3)
KWS_STEM_KERNELS = [3, 5, 10]
KWS_MIN_LAYERS, KWS_MAX_LAYERS = 2, 6

MICRO_STEM_FILTERS = [8, 16]
MICRO_STAGE_FILTERS = ([8, 16, 24], [16, 24, 32], [24, 32, 48, 64])
MICRO_EXPANSIONS = [1, 2, 3]
MICRO_DEPTHS = [1, 2]

MOBILE_WIDTH_MULTIPLIERS = [0.25, 0.5, 0.75, 1.0]
MOBILE_STEM_FILTERS = 32
MOBILE_STAGE_FILTERS = (16, 24, 40, 64)
MOBILE_STAGE_STRIDES = (1, 2, 2, 1)
MOBILE_DEPTHS = [1, 2, 3]
MOBILE_KERNELS = [3, 5, 7]
MOBILE_EXPANSIONS = [1, 3, 6]
MOBILE_SE_RATIOS = [0.0, 0.25]
MOBILE_RESOLUTION_SCALES = (0.75, 1.0, 1.25)


def make_divisible(value: float, divisor: int = 8) -> int:
    """Rounds a channel count to a multiple of `divisor` (MobileNet rule).

    Never goes below `divisor` nor more than 10% below `value`.

    Args:
        value: The scaled channel count.
        divisor: The multiple.

    Returns:
        The rounded channel count.
    """
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


class KWSSpace(Block):
    """DS-CNN keyword-spotting space (Zhang et al., "Hello Edge", 2017).

    A conv - BN - act first layer (stride 1 or 2 along time, and on a 2D map
    along frequency; kernel `stem_kernel x min(4, freq)` on a 2D
    `(time, freq, 1)` MFCC or log-mel map, kernel `stem_kernel` on a 1D
    `(time, features)` signal), then `num_layers`
    depthwise-separable layers (stride 1) sharing one width and one kernel
    size. Global average pooling is left to the head.

    Declared hyperparameters (block name `"kws_space"` by default):

    - `kws_space/width`: `[16, 24, 32, 40, 48, 64, 96, 128]` (first layer
      and every DS layer; steps of 8 up to 48, so a design shrunk to a
      board loses little);
    - `kws_space/num_layers`: `Int(2, 6)`;
    - `kws_space/stem_kernel`: `[3, 5, 10]` (time extent of the first conv);
    - `kws_space/stem_strides`: `[1, 2]` (time stride of the first conv);
    - `kws_space/freq_strides`: `[1, 2]` (frequency stride of the first conv;
      2D inputs only): stride 2 halves every activation, so a wide DS-CNN
      fits a small arena (the MLPerf Tiny DS-CNN strides 2 along both);
    - `kws_space/kernel_size`: `[3, 5]` (1D: `[3, 5, 7]`);
    - `kws_space/activation`: only if `activation` is `None` or a list
      (default fixed `"relu"`, as in the paper).

    Args:
        width: DS-CNN width. `None` searches the default space, a list
            searches these values, an int fixes it.
        num_layers: Number of DS layers (same rules).
        stem_kernel: Time extent of the first conv kernel (same rules).
        stem_strides: Time stride of the first conv (same rules).
        freq_strides: Frequency stride of the first conv on a 2D input
            (same rules; default searched; not declared on a 1D signal). The
            MLPerf Tiny DS-CNN strides 2 along both.
        kernel_size: Kernel of the depthwise convs (same rules).
        activation: One of `ACTIVATIONS`; default `"relu"`.
        name: Block name.

    Example:

    ```python
    hp = keras_tuner.HyperParameters()
    inputs = keras.Input((49, 10, 1))  # 49 frames x 10 MFCC
    outputs = ClassifierHead(12).build(hp, KWSSpace().build(hp, inputs))
    ```
    """

    def __init__(
        self,
        width: IntArg = None,
        num_layers: IntArg = None,
        stem_kernel: IntArg = None,
        stem_strides: IntArg = None,
        kernel_size: IntArg = None,
        activation: StrArg = "relu",
        name: str | None = None,
        freq_strides: IntArg = None,
    ):
        super().__init__(name=name)
        ops.check_activation(activation)
        self.width = width
        self.num_layers = num_layers
        self.stem_kernel = stem_kernel
        self.stem_strides = stem_strides
        self.freq_strides = freq_strides
        self.kernel_size = kernel_size
        self.activation = activation

    def build(self, hp: keras_tuner.HyperParameters, inputs):
        """Builds the DS-CNN on `inputs`.

        Args:
            hp: The hyperparameters.
            inputs: `(batch, time, features)` or `(batch, time, freq, channels)`.

        Returns:
            The feature map of the last DS layer.
        """
        rank = ops.spatial_rank(inputs)
        width = hp_utils.choice(hp, "width", self.width, KWS_WIDTHS)
        num_layers = hp_utils.integer(hp, "num_layers", self.num_layers, KWS_MIN_LAYERS, KWS_MAX_LAYERS)
        stem_kernel = hp_utils.choice(hp, "stem_kernel", self.stem_kernel, KWS_STEM_KERNELS)
        stem_strides = hp_utils.choice(hp, "stem_strides", self.stem_strides, [1, 2])
        # Only a 2D map has a frequency axis to stride along.
        freq_strides = hp_utils.choice(hp, "freq_strides", self.freq_strides, [1, 2]) if rank == 2 else 1
        kernel_size = hp_utils.choice(hp, "kernel_size", self.kernel_size, ops.kernel_sizes(rank))
        activation = hp_utils.choice(hp, "activation", self.activation, ops.ACTIVATIONS)
        if hp_utils.any_none(width, num_layers, stem_kernel, stem_strides, freq_strides, kernel_size, activation):
            return inputs
        n = self.name
        time_steps = inputs.shape[1]
        time_stride = 1 if time_steps == 1 else stem_strides
        if rank == 1:
            kernel, strides = stem_kernel, time_stride
            layer = keras.layers.Conv1D
        else:
            kernel = (stem_kernel, min(4, inputs.shape[2] or 4))
            strides = (time_stride, 1 if inputs.shape[2] == 1 else freq_strides)
            layer = keras.layers.Conv2D
        x = layer(
            width,
            kernel,
            strides=strides,
            padding="same",
            use_bias=ops.conventions().conv_bias,
            kernel_initializer=ops.CONV_INITIALIZER,
            name=f"{n}_stem_conv",
        )(inputs)
        x = ops.batch_norm(x, name=f"{n}_stem_bn")
        x = ops.activation(x, activation, name=f"{n}_stem_act")
        for i in range(num_layers):
            x = DepthwiseSeparable(width, kernel_size, 1, activation, name=f"{n}_ds_{i + 1}").build(hp, x)
        return x

    def initial_architectures(self, input_shape: tuple) -> list[dict]:
        """The DS-CNN of "Hello Edge" (and MLPerf Tiny), when it is a point of this space.

        Width 64, four depthwise-separable layers (3x3), a 10x4 first conv
        with stride 2 in time and (on a 2D map) frequency. `NASModel` scales
        its width to the user's limits before the search measures it. See
        `Block.initial_architectures`.
        """
        rank = len(input_shape) - 1
        args = {"width": (self.width, KWS_WIDTHS), "stem_kernel": (self.stem_kernel, KWS_STEM_KERNELS),
                "stem_strides": (self.stem_strides, [1, 2]), "kernel_size": (self.kernel_size, ops.kernel_sizes(rank)),
                "num_layers": (self.num_layers, range(KWS_MIN_LAYERS, KWS_MAX_LAYERS + 1)),
                "activation": (self.activation, ops.ACTIVATIONS)}
        if rank == 2:
            args["freq_strides"] = (self.freq_strides, [1, 2])
        design = {**{key: value for key, value in KWS_DS_CNN.items() if key in args}, "activation": "relu"}
        for key, (arg, defaults) in args.items():
            if hp_utils.is_searched(arg):
                if design[key] not in (defaults if arg is None else arg):
                    return []  # the DS-CNN is not in this space
            elif design.pop(key) != hp_utils.fixed_value(arg):  # a fixed value is not a hyperparameter
                return []  # e.g. a user who fixed the width at 32
        return [{f"{self.name}/{key}": value for key, value in design.items()}]


def _staged(hp, stages, inputs, searched: bool, min_stages: int, num_stages):
    """Builds stages `stages[i]` under `conditional_scope("num_stages", ...)`."""
    x = inputs
    max_stages = len(stages)
    for i, stage in enumerate(stages):
        if searched and i >= min_stages:
            with hp.conditional_scope("num_stages", list(range(i + 1, max_stages + 1))):
                y = stage.build(hp, x)
        else:
            y = stage.build(hp, x)
        if num_stages is not None and i < num_stages:
            x = y
    return x


class MicroSpace(Block):
    """MCUNet / µNAS-like space for microcontrollers with 16-256 KB of RAM.

    A conv stem with few channels (stride 1 or 2), then 1..3 stages, each
    either depthwise-separable or MBConv with a small expansion (1-3), no
    squeeze-excitation, 1 or 2 blocks, and small widths (8-64) growing with
    depth. Aimed at boards with 16-256 KB RAM and 32-1024 KB flash: on an
    8x8 image or a 40-step signal most samples fit 64 KB flash / 32 KB RAM
    as int8.

    Declared hyperparameters (block name `"micro_space"` by default):

    - `micro_space/activation`: `ACTIVATIONS` (shared by every block);
    - `micro_space/stem/{filters [8, 16], strides [1, 2]}` (kernel 3);
    - `micro_space/num_stages`: `Int(1, 3)`;
    - `micro_space/stage_{i}/{block_type ["ds", "mbconv"], depth [1, 2],
      filters, kernel_size [3, 5] (1D [3, 5, 7]), strides [1, 2]}` with
      filters `[8, 16, 24]`, `[16, 24, 32]`, `[24, 32, 48, 64]` for stages
      1, 2, 3, and `micro_space/stage_{i}/{expansion [1, 2, 3], skip}` under
      `conditional_scope("stage_{i}/block_type", ["mbconv"])`; stage `i > 1`
      is declared under `conditional_scope("num_stages", [i, ..., 3])`.

    Args:
        max_stages: Maximum number of stages (1..3).
        activation: Shared activation; `None` searches `ACTIVATIONS`.
        name: Block name.

    Example:

    ```python
    hp = keras_tuner.HyperParameters()
    inputs = keras.Input((40, 1))
    outputs = ClassifierHead(10).build(hp, MicroSpace().build(hp, inputs))
    ```
    """

    def __init__(self, max_stages: int = 3, activation: StrArg = None, name: str | None = None):
        super().__init__(name=name)
        if not 1 <= int(max_stages) <= len(MICRO_STAGE_FILTERS):
            raise ValueError(
                f"MicroSpace max_stages must be in 1..{len(MICRO_STAGE_FILTERS)}, got {max_stages!r}."
            )
        ops.check_activation(activation)
        self.max_stages = int(max_stages)
        self.activation = activation

    def build(self, hp: keras_tuner.HyperParameters, inputs):
        """Builds stem and stages on `inputs`.

        Args:
            hp: The hyperparameters.
            inputs: Rank-3 or rank-4 Keras tensor.

        Returns:
            The feature map of the last active stage.
        """
        ops.spatial_rank(inputs)
        activation = hp_utils.choice(hp, "activation", self.activation, ops.ACTIVATIONS)
        stem = ConvBNAct(MICRO_STEM_FILTERS, 3, [1, 2], activation or "relu", name="stem")
        x = stem.build(hp, inputs)
        num_stages = hp_utils.integer(hp, "num_stages", None, 1, self.max_stages)
        stages = [
            Stage(
                depth=MICRO_DEPTHS,
                filters=MICRO_STAGE_FILTERS[i],
                expansion=MICRO_EXPANSIONS,
                se_ratio=0.0,
                activation=activation or "relu",
                name=f"stage_{i + 1}",
            )
            for i in range(self.max_stages)
        ]
        out = _staged(hp, stages, x, self.max_stages > 1, 1, num_stages)
        return inputs if activation is None else out


def searched_resolution(block: Block, hp: keras_tuner.HyperParameters, inputs, resolutions, scales):
    """Declares `resolution` and resizes an image input to it (MobileNet's resolution multiplier).

    Args:
        block: The block declaring it (names the `Resizing` layer and errors).
        hp: The hyperparameters.
        inputs: Rank-4 Keras tensor of known height and width.
        resolutions: The block argument: `None` searches `round(height * s)`
            for `s` in `scales`, a list searches these heights, an int fixes it.
        scales: Default resolution multipliers.

    Returns:
        `(tensor, resolution)`: `inputs` resized to `resolution` rows (width
        scaled alike; no layer when it equals the input height), and the
        resolution (`None` under an inactive conditional scope).

    Raises:
        ValueError: If the input height or width is unknown.
    """
    height, width = inputs.shape[1], inputs.shape[2]
    if height is None or width is None:
        raise ValueError(
            f"{type(block).__name__} needs a known input size to search the resolution, got "
            f"{tuple(inputs.shape)}; pass resolutions=<height> or a fixed input shape."
        )
    default = sorted({max(1, round(height * s)) for s in scales})
    resolution = hp_utils.choice(hp, "resolution", resolutions, default, default=height)
    if resolution is None or resolution == height:
        return inputs, resolution
    new_width = max(1, round(width * resolution / height))
    resized = keras.layers.Resizing(resolution, new_width, name=f"{block.name}_resize")(inputs)
    return resized, resolution


class MobileSpace(Block):
    """MobileNetV2 / MnasNet-like space with a searched input resolution.

    Input `Resizing` (images only; none when the resolution equals the
    input's), conv 3x3 stem (stride 2) with `make_divisible(32 * w)`
    channels, then 4 MBConv stages with base widths `(16, 24, 40, 64)` x `w`
    and strides `(1, 2, 2, 1)`; each stage searches its depth, kernel,
    expansion, squeeze-excitation and residual.

    Declared hyperparameters (block name `"mobile_space"` by default):

    - `mobile_space/resolution`: images only: the input height after
      resizing, default choices `round(h * s)` for s in `(0.75, 1.0, 1.25)`
      (width scaled alike); `8x8` inputs: `[6, 8, 10]`;
    - `mobile_space/width_multiplier`: `[0.25, 0.5, 0.75, 1.0]`;
    - `mobile_space/activation`: `ACTIVATIONS` (shared);
    - `mobile_space/stage_{i}/{depth [1, 2, 3], kernel_size [3, 5, 7],
      expansion [1, 3, 6], se_ratio [0.0, 0.25], skip}` for `i` in 1..4.

    Args:
        resolutions: Input heights to search (images); `None` uses the
            default scales of the input height; an int fixes it.
        width_multiplier: Width multiplier (same rules as block arguments).
        activation: One of `ACTIVATIONS`; `None` searches them.
        stage_filters: Base output channels of the stages (before `w`).
        stage_strides: Stride of the first block of each stage.
        name: Block name.

    Example:

    ```python
    hp = keras_tuner.HyperParameters()
    inputs = keras.Input((8, 8, 1))
    outputs = ClassifierHead(10).build(hp, MobileSpace().build(hp, inputs))
    ```
    """

    def __init__(
        self,
        resolutions: IntArg = None,
        width_multiplier: float | _Seq[float] | None = None,
        activation: StrArg = None,
        stage_filters: _Seq[int] = MOBILE_STAGE_FILTERS,
        stage_strides: _Seq[int] = MOBILE_STAGE_STRIDES,
        name: str | None = None,
    ):
        super().__init__(name=name)
        ops.check_activation(activation)
        if len(stage_filters) != len(stage_strides) or not stage_filters:
            raise ValueError(
                f"stage_filters and stage_strides must be non-empty and of the same "
                f"length, got {list(stage_filters)} and {list(stage_strides)}."
            )
        multipliers = width_multiplier if isinstance(width_multiplier, (list, tuple)) else [width_multiplier]
        for m in multipliers:
            if m is not None and not 0 < float(m) <= 4:
                raise ValueError(f"width_multiplier must be in (0, 4], got {m!r}.")
        self.resolutions = resolutions
        self.width_multiplier = width_multiplier
        self.activation = activation
        self.stage_filters = tuple(int(f) for f in stage_filters)
        self.stage_strides = tuple(int(s) for s in stage_strides)

    def build(self, hp: keras_tuner.HyperParameters, inputs):
        """Builds resizing, stem and stages on `inputs`.

        Args:
            hp: The hyperparameters.
            inputs: Rank-3 or rank-4 Keras tensor (resolution searched for rank 4).

        Returns:
            The feature map of the last stage.
        """
        rank = ops.spatial_rank(inputs)
        x, resolution = (
            searched_resolution(self, hp, inputs, self.resolutions, MOBILE_RESOLUTION_SCALES)
            if rank == 2
            else (inputs, 0)
        )
        multiplier = hp_utils.choice(hp, "width_multiplier", self.width_multiplier, MOBILE_WIDTH_MULTIPLIERS)
        activation = hp_utils.choice(hp, "activation", self.activation, ops.ACTIVATIONS)
        inactive = hp_utils.any_none(resolution, multiplier, activation)
        w = 1.0 if inactive else float(multiplier)
        act = activation or "relu"
        x = ConvBNAct(make_divisible(MOBILE_STEM_FILTERS * w), 3, 2, act, name=f"{self.name}_stem").build(hp, x)
        for i, (filters, strides) in enumerate(zip(self.stage_filters, self.stage_strides)):
            stage = Stage(
                depth=MOBILE_DEPTHS,
                block_type="mbconv",
                filters=make_divisible(filters * w),
                kernel_size=MOBILE_KERNELS,
                expansion=MOBILE_EXPANSIONS,
                strides=strides,
                se_ratio=MOBILE_SE_RATIOS,
                activation=act,
                name=f"stage_{i + 1}",
            )
            x = stage.build(hp, x)
        return inputs if inactive else x
