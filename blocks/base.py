"""The `Block` contract: a reusable piece of a search space.

A block maps a Keras tensor to a Keras tensor and, while doing so, declares the
hyperparameters it searches on a `keras_tuner.HyperParameters` object. The
design follows AutoKeras' `Block`: every subclass's `build` automatically runs
inside `hp.name_scope(self.name)`, so the hyperparameters of a block named
`"stage_1"` are called `"stage_1/filters"`, `"stage_1/depth"`, ... and two
blocks never collide as long as their names differ.
"""

from __future__ import annotations

import abc
import functools
import re
from typing import Any

import keras_tuner

_SCOPED_MARK = "_keras_nas_name_scoped"
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def to_snake_case(name: str) -> str:
    """Converts a `CamelCase` class name to `snake_case`.

    Args:
        name: The name to convert.

    Returns:
        The `snake_case` name, e.g. `"MBConv"` -> `"mb_conv"`,
        `"ConvBNAct"` -> `"conv_bn_act"`.
    """
    name = re.sub(r"\W+", "", name)
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    name = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    return name.lower()


def _name_scoped(build):
    """Wraps `build` so that the outermost call runs in `hp.name_scope(self.name)`.

    Nested calls on the same instance (a subclass calling `super().build(...)`)
    do not open a second scope.
    """

    @functools.wraps(build)
    def wrapper(self, hp, *args, **kwargs):
        if getattr(self, "_keras_nas_building", False):
            return build(self, hp, *args, **kwargs)
        self._keras_nas_building = True
        try:
            with hp.name_scope(self.name):
                return build(self, hp, *args, **kwargs)
        finally:
            self._keras_nas_building = False

    setattr(wrapper, _SCOPED_MARK, True)
    return wrapper


class Block(abc.ABC):
    """Base class of every search-space block.

    Subclasses implement `build(hp, inputs)`: declare hyperparameters with
    `hp.Choice` / `hp.Int` / `hp.Boolean`, build a graph of standard Keras
    layers on `inputs` and return the output tensor. `build` is wrapped
    automatically so it runs inside `hp.name_scope(self.name)`; there is
    nothing else to register.

    Conventions followed by the built-in blocks:

    - A constructor argument left `None` is searched over a default space;
      a fixed value declares no hyperparameter.
    - Layer names are explicit and derived from the block name
      (`f"{self.name}_conv"`), so a block name must be unique within a model.
    - A block built under an inactive `hp.conditional_scope` receives `None`
      from `hp.Choice(...)`; it still declares its hyperparameters (so Keras
      Tuner discovers them) but builds no layers and returns `inputs`.

    Args:
        name: Name of the block, used as hyperparameter name scope and as
            prefix of layer names. Must be a valid Python identifier.
            Defaults to the `snake_case` of the class name.

    Example:

    ```python
    class TwoConvs(Block):
        def build(self, hp, inputs):
            filters = hp.Choice("filters", [8, 16])
            x = keras.layers.Conv2D(filters, 3, padding="same",
                                    name=f"{self.name}_conv_1")(inputs)
            return keras.layers.Conv2D(filters, 3, padding="same",
                                       name=f"{self.name}_conv_2")(x)

    hp = keras_tuner.HyperParameters()
    outputs = TwoConvs().build(hp, keras.Input((8, 8, 1)))
    hp.values  # {"two_convs/filters": 8}
    ```
    """

    def __init__(self, name: str | None = None):
        self._auto_named = name is None
        if name is None:
            name = to_snake_case(type(self).__name__)
        if not isinstance(name, str) or not _NAME_RE.match(name):
            raise ValueError(
                f"Block name must be a non-empty identifier (letters, digits, "
                f"underscores; no '/'), got {name!r}."
            )
        self.name = name

    def __init_subclass__(cls, **kwargs: Any):
        super().__init_subclass__(**kwargs)
        build = cls.__dict__.get("build")
        if (
            build is not None
            and callable(build)
            and not getattr(build, "__isabstractmethod__", False)
            and not getattr(build, _SCOPED_MARK, False)
        ):
            cls.build = _name_scoped(build)

    @abc.abstractmethod
    def build(self, hp: keras_tuner.HyperParameters, inputs):
        """Declares the hyperparameters of the block and builds its layers.

        Args:
            hp: The `keras_tuner.HyperParameters` of the current trial.
            inputs: The input Keras tensor.

        Returns:
            The output Keras tensor.
        """

    def initial_architectures(self, input_shape: tuple) -> list[dict]:
        """Designs of this space a search should try first (none by default).

        A preset built around a published model (e.g. the MLPerf Tiny
        references in `keras_nas.blocks.mlperf_tiny`) returns that model's
        hyperparameter values, so the search starts where an engineer would.
        `NASHyperModel.initial_architectures` adds the head's and the learning
        rate's values.

        Args:
            input_shape: Shape of one input example, without the batch axis.

        Returns:
            Hyperparameter values (names in this block's scope, e.g.
            `"mlperf_ic/width_multiplier"`), one dict per design.
        """
        return []

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"
