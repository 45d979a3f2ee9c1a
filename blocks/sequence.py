"""`Sequence`: compose blocks in order, like layers in a `keras.Sequential`."""

from __future__ import annotations

from collections.abc import Iterable

import keras_tuner

from .base import Block


class Sequence(Block):
    """Builds a list of blocks one after the other.

    Hyperparameters of the children are scoped under the sequence name, e.g.
    `"sequence/stem/filters"`. Children must have distinct names (their names
    prefix their layer names): a child left with its default name that
    collides with an earlier one is renamed Keras-style (`"mb_conv"`,
    `"mb_conv_1"`, ...); an explicit duplicate name, or the same block
    instance twice, raises a `ValueError`.

    Args:
        blocks: The blocks to build, in order.
        name: Block name.

    Example:

    ```python
    space = Sequence([
        ConvBNAct(strides=1, name="stem"),
        Stage(block_type="ds", name="stage_1"),
        Stage(block_type="mbconv", name="stage_2"),
    ])
    hp = keras_tuner.HyperParameters()
    inputs = keras.Input((40, 1))
    outputs = ClassifierHead(10).build(hp, space.build(hp, inputs))
    ```
    """

    def __init__(self, blocks: Iterable[Block], name: str | None = None):
        super().__init__(name=name)
        self.blocks = list(blocks)
        if not self.blocks:
            raise ValueError("Sequence needs at least one block.")
        seen_ids = set()
        names = set()
        for block in self.blocks:
            if not isinstance(block, Block):
                raise TypeError(
                    f"Sequence expects `Block` instances, got {block!r} of type "
                    f"{type(block).__name__}."
                )
            if id(block) in seen_ids:
                raise ValueError(
                    f"The same block instance {block!r} appears twice in the "
                    f"Sequence; create one instance per position."
                )
            seen_ids.add(id(block))
            if block.name in names:
                if not getattr(block, "_auto_named", False):
                    raise ValueError(
                        f"Duplicate block name {block.name!r} in Sequence "
                        f"{self.name!r}; block names must be unique."
                    )
                base, k = block.name, 1
                while f"{base}_{k}" in names:
                    k += 1
                block.name = f"{base}_{k}"
            names.add(block.name)

    def build(self, hp: keras_tuner.HyperParameters, inputs):
        """Builds every block in order.

        Args:
            hp: The hyperparameters.
            inputs: The input Keras tensor.

        Returns:
            The output tensor of the last block.
        """
        x = inputs
        for block in self.blocks:
            x = block.build(hp, x)
        return x
