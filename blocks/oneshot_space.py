"""`OneShotSpace`: the convolutional space a weight-sharing supernet covers exactly.

Weight-sharing strategies (one-shot SPOS, DARTS) train one supernet that holds
every choice of the space, so the space must be one the supernet can express:
a fixed macro skeleton (stride-1 stem, a fixed number of stages with fixed
strides, ReLU, global average pooling) with searched widths, depths, block
types, kernel sizes and expansions. Each architecture of the space is also an
ordinary candidate: `build` makes the stand-alone model from the same
hyperparameters, which is what is measured, retrained and exported.

An architecture is seen two ways:

- as Keras Tuner hyperparameter values (what strategies, trials and reports
  use), e.g. `{"oneshot_space/stage_1/block_type": "mbconv", ...}`;
- as one option index per *choice point* (what the supernet uses), e.g.
  `{"stage_1/op": 4, "stage_1/filters": 2, ...}`, where a stage's block type,
  kernel size and expansion form one joint choice `"stage_i/op"`.

`encode` and `decode` convert between the two.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence as _Seq

import keras_tuner
import numpy as np

from . import ops
from .base import Block
from .conv import ConvBNAct
from .stage import Stage

ONESHOT_STEM_FILTERS = [16, 24, 32]
ONESHOT_FILTERS = [16, 24, 32, 48, 64]
ONESHOT_EXPANSIONS = [2, 4]
ONESHOT_DEPTHS = [1, 2, 3]
ONESHOT_STRIDES = (1, 2, 2)


@dataclasses.dataclass(frozen=True)
class ChoicePoint:
    """One categorical decision of the supernet.

    Attributes:
        name: Name relative to the space, e.g. `"stage_2/op"`.
        options: For each option, the hyperparameter values (full names) it
            stands for.
    """

    name: str
    options: tuple[dict, ...]

    def __len__(self) -> int:
        return len(self.options)


class OneShotSpace(Block):
    """Stem plus stages of DS-CNN / MBConv blocks, shaped so a supernet can share weights.

    Fixed: a stride-1 conv stem (kernel 5 for 1D signals, 3 for images), ReLU,
    `len(strides)` stages with the given strides and no pooling, squeeze-excitation off,
    residuals on where shapes allow. Searched per stage: block type (`"ds"`
    or `"mbconv"`), kernel size (1D `[3, 5, 7]`, 2D `[3, 5]`), expansion (for
    mbconv), filters and depth; plus the stem's filters. Every architecture
    is also a valid point of `ConvSpace` in spirit (same blocks and layers),
    built as a plain Functional graph that converts to int8 TFLite.

    Declared hyperparameters (block name `"oneshot_space"` by default):
    `oneshot_space/stem/filters`, and for each stage `i`
    `oneshot_space/stage_{i}/{block_type, depth, filters, kernel_size}` plus
    `expansion` under `conditional_scope("block_type", ["mbconv"])`.

    Args:
        strides: Stride of each stage (its length is the number of stages).
        filters: Widths searched for every stage.
        stem_filters: Widths searched for the stem.
        expansions: MBConv expansion factors searched.
        depths: Numbers of blocks per stage searched.
        kernel_sizes: Depthwise kernel sizes; `None` uses 1D `[3, 5, 7]`, 2D `[3, 5]`.
        name: Block name.

    Example:

    ```python
    space = OneShotSpace()
    hp = keras_tuner.HyperParameters()
    features = space.build(hp, keras.Input((40, 1)))
    points = space.choice_points(rank=1)  # stem/filters, stage_1/op, ...
    ```
    """

    def __init__(
        self,
        strides: _Seq[int] = ONESHOT_STRIDES,
        filters: _Seq[int] = tuple(ONESHOT_FILTERS),
        stem_filters: _Seq[int] = tuple(ONESHOT_STEM_FILTERS),
        expansions: _Seq[int] = tuple(ONESHOT_EXPANSIONS),
        depths: _Seq[int] = tuple(ONESHOT_DEPTHS),
        kernel_sizes: _Seq[int] | None = None,
        name: str | None = None,
    ):
        super().__init__(name=name or "oneshot_space")
        for label, values in dict(
            strides=strides, filters=filters, stem_filters=stem_filters,
            expansions=expansions, depths=depths, kernel_sizes=kernel_sizes or [1],
        ).items():
            values = list(values)
            if not values or any(not isinstance(v, (int, np.integer)) or v < 1 for v in values):
                raise ValueError(
                    f"{label} must be a non-empty list of positive integers, got {values!r}."
                )
        if any(s not in (1, 2) for s in strides):
            raise ValueError(f"Stage strides must be 1 or 2, got {list(strides)!r}.")
        self.strides = tuple(int(s) for s in strides)
        self.filters = sorted(int(f) for f in filters)
        self.stem_filters = sorted(int(f) for f in stem_filters)
        self.expansions = sorted(int(e) for e in expansions)
        self.depths = sorted(int(d) for d in depths)
        self.kernel_sizes = None if kernel_sizes is None else sorted(int(k) for k in kernel_sizes)

    @property
    def num_stages(self) -> int:
        return len(self.strides)

    def stem_kernel(self, rank: int) -> int:
        """Kernel size of the fixed stem: 5 along time for 1D signals, 3 for images."""
        return 5 if rank == 1 else 3

    def kernels(self, rank: int) -> list[int]:
        """The depthwise kernel sizes searched for inputs of this spatial rank."""
        return list(self.kernel_sizes or ops.kernel_sizes(rank))

    def stage_ops(self, rank: int) -> list[dict]:
        """The joint (block type, kernel size, expansion) options of a stage, in a fixed order."""
        options = [{"block_type": "ds", "kernel_size": k} for k in self.kernels(rank)]
        options += [
            {"block_type": "mbconv", "kernel_size": k, "expansion": e}
            for k in self.kernels(rank)
            for e in self.expansions
        ]
        return options

    def build(self, hp: keras_tuner.HyperParameters, inputs):
        """Declares the hyperparameters and builds the stand-alone network on `inputs`.

        Args:
            hp: The hyperparameters.
            inputs: Keras tensor `(batch, steps, channels)` or `(batch, h, w, channels)`.

        Returns:
            The feature map of the last stage.
        """
        rank = ops.spatial_rank(inputs)
        stem = ConvBNAct(
            filters=self.stem_filters if len(self.stem_filters) > 1 else self.stem_filters[0],
            kernel_size=self.stem_kernel(rank), strides=1, activation="relu", name="stem",
        )
        x = stem.build(hp, inputs)
        for i, strides in enumerate(self.strides):
            stage = Stage(
                depth=_arg(self.depths),
                block_type=["ds", "mbconv"],
                # The supernet downsamples by the stage's strides only: no pooling choice.
                pool="none",
                filters=_arg(self.filters),
                kernel_size=_arg(self.kernels(rank)),
                expansion=_arg(self.expansions),
                strides=strides,
                se_ratio=0.0,
                skip=True,
                activation="relu",
                name=f"stage_{i + 1}",
            )
            x = stage.build(hp, x)
        return x

    # -- the supernet's view ------------------------------------------------------------

    def choice_points(self, rank: int) -> list[ChoicePoint]:
        """The supernet's decisions, each with the hyperparameter values of its options.

        Args:
            rank: Spatial rank of the inputs (1 or 2).

        Returns:
            `stem/filters`, then `stage_{i}/op`, `stage_{i}/filters`,
            `stage_{i}/depth` for every stage.
        """
        n = self.name
        points = [ChoicePoint("stem/filters", tuple({f"{n}/stem/filters": f} for f in self.stem_filters))]
        for i in range(1, self.num_stages + 1):
            prefix = f"{n}/stage_{i}"
            points.append(ChoicePoint(f"stage_{i}/op", tuple(
                {f"{prefix}/{key}": value for key, value in option.items()}
                for option in self.stage_ops(rank)
            )))
            points.append(ChoicePoint(f"stage_{i}/filters", tuple(
                {f"{prefix}/filters": f} for f in self.filters)))
            points.append(ChoicePoint(f"stage_{i}/depth", tuple(
                {f"{prefix}/depth": d} for d in self.depths)))
        return points

    def decode(self, indices: dict[str, int], rank: int) -> dict:
        """Hyperparameter values of the architecture given as one option index per choice point.

        Args:
            indices: `{choice point name: option index}` for every choice point.
            rank: Spatial rank of the inputs.

        Returns:
            The hyperparameter values (names with this space's prefix).
        """
        values = {}
        for point in self.choice_points(rank):
            if point.name not in indices:
                raise ValueError(f"No option given for choice point {point.name!r}.")
            index = int(indices[point.name])
            if not 0 <= index < len(point):
                raise ValueError(
                    f"Option {index} of {point.name!r} is out of range (it has {len(point)})."
                )
            values.update(point.options[index])
        return values

    def encode(self, values: dict, rank: int) -> dict[str, int]:
        """One option index per choice point for the architecture in hyperparameter `values`.

        Args:
            values: Hyperparameter values, e.g. a trial's `hyperparameters.values`
                (other keys, such as the learning rate, are ignored).
            rank: Spatial rank of the inputs.

        Returns:
            `{choice point name: option index}`.

        Raises:
            ValueError: If the values are not an architecture of this space.
        """
        indices = {}
        for point in self.choice_points(rank):
            # A choice with one possible value is fixed, not declared: absent from `values`.
            domains = {}
            for option in point.options:
                for key, value in option.items():
                    domains.setdefault(key, set()).add(value)
            fixed = {key: next(iter(d)) for key, d in domains.items() if len(d) == 1}
            for index, option in enumerate(point.options):
                if all(values.get(key, fixed.get(key)) == value for key, value in option.items()):
                    indices[point.name] = index
                    break
            else:
                keys = sorted({key for option in point.options for key in option})
                raise ValueError(
                    f"The values {({k: values.get(k) for k in keys})} are not an option of "
                    f"{point.name!r} in {self.name!r}; expected one of {list(point.options)}."
                )
        return indices

    def largest(self, rank: int) -> dict[str, int]:
        """The largest architecture (MBConv, largest kernel, expansion, widths, depths), as option indices."""
        return {p.name: len(p) - 1 for p in self.choice_points(rank)}

    def sample(self, rng: np.random.Generator, rank: int) -> dict[str, int]:
        """A uniformly random architecture, as option indices."""
        return {p.name: int(rng.integers(len(p))) for p in self.choice_points(rank)}


def _arg(values: list):
    """A block argument: the value itself when only one is allowed, else the list."""
    return values[0] if len(values) == 1 else list(values)
