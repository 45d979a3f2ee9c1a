"""The NAS-Bench-201 cell and macro skeleton as Keras blocks (1D and 2D).

Cell (Dong & Yang, 2020): node 0 is the cell input; node `j` (1..3) is the
sum over `i < j` of `op_{j,i}(node i)`; node 3 is the cell output. Ops:

- `none`: the edge is dropped (it contributes zeros);
- `skip_connect`: identity;
- `nor_conv_1x1`, `nor_conv_3x3`: ReLU - conv (C channels, stride 1) - BN;
- `avg_pool_3x3`: average pooling 3 (stride 1, same padding; padded
  positions are not counted, as in the benchmark).

A node whose every incoming edge is `none` (or comes from such a node) is zero;
edges leaving it are dropped too (their input is zero). If the output node is
zero, the cell outputs `input * 0` (a `Rescaling(0.0)` layer) so the graph
keeps its shape and still converts to int8 and runs under TFLite Micro; the
network's prediction is then constant, as in the benchmark.

Space skeleton (the NAS-Bench-201 macro network, smaller defaults for tiny
inputs): conv 3x3 stem (C) - BN, N cells (C), ResNet reduction (2C, stride 2),
N cells (2C), ResNet reduction (4C, stride 2), N cells (4C), BN - ReLU. The
benchmark uses C=16, N=5 on 32x32 images; the classifier (global average
pooling + dense) is the `ClassifierHead`.
"""

from __future__ import annotations

from collections.abc import Mapping

import keras
import keras_tuner

from . import ops
from .base import Block
from .nb201 import (
    NB201_DEFAULT_OP,
    NB201_EDGES,
    NB201_NUM_NODES,
    NB201_OPS,
    edge_name,
    from_nb201_string,
    nb201_ops,
)
from .residual import residual

CellOps = Mapping[tuple[int, int], str]


def declare_edges(hp: keras_tuner.HyperParameters) -> dict | None:
    """Declares the 6 edge choices in the current name scope.

    Args:
        hp: The hyperparameters.

    Returns:
        `{(to_node, from_node): op}`, or `None` under an inactive conditional
        scope.
    """
    ops_by_edge = {
        (to, frm): hp.Choice(edge_name(to, frm), list(NB201_OPS), default=NB201_DEFAULT_OP)
        for to, frm in NB201_EDGES
    }
    if any(v is None for v in ops_by_edge.values()):
        return None
    return ops_by_edge


def _fixed_ops(genotype) -> dict:
    """Normalizes a fixed cell genotype (NB201 string or dict) to `{(to, from): op}`."""
    if isinstance(genotype, str):
        genotype = from_nb201_string(genotype, name="cell")
        return nb201_ops(genotype, name="cell")
    if isinstance(genotype, Mapping):
        if set(genotype) != set(NB201_EDGES):
            raise ValueError(
                f"A fixed NB201 cell needs one op for each edge {list(NB201_EDGES)}, "
                f"got keys {sorted(genotype)}."
            )
        for edge, op in genotype.items():
            if op not in NB201_OPS:
                raise ValueError(
                    f"Edge {edge} has op {op!r}; allowed: {list(NB201_OPS)}."
                )
        return dict(genotype)
    raise ValueError(
        "genotype must be None (searched), a NAS-Bench-201 string or a dict "
        f"{{(to_node, from_node): op}}, got {genotype!r}."
    )


def build_cell(inputs, cell_ops: CellOps, *, name: str):
    """Builds one NB201 cell with fixed ops (the output has the input's shape).

    Args:
        inputs: Rank-3 or rank-4 Keras tensor with C channels.
        cell_ops: `{(to_node, from_node): op}` for the 6 edges.
        name: Prefix of the layer names.

    Returns:
        The output tensor (node 3).
    """
    channels = inputs.shape[-1]
    rank = ops.spatial_rank(inputs)
    nodes = [inputs]  # None marks a zero node.
    for to in range(1, NB201_NUM_NODES):
        terms = []
        for frm in range(to):
            op, source = cell_ops[(to, frm)], nodes[frm]
            if op == "none" or source is None:
                continue
            prefix = f"{name}_e{to}{frm}"
            if op == "skip_connect":
                terms.append(source)
            elif op == "avg_pool_3x3":
                layer = keras.layers.AveragePooling1D if rank == 1 else keras.layers.AveragePooling2D
                terms.append(layer(3, strides=1, padding="same", name=f"{prefix}_pool")(source))
            else:
                kernel = 1 if op == "nor_conv_1x1" else 3
                x = keras.layers.ReLU(name=f"{prefix}_relu")(source)
                x = ops.conv(x, channels, kernel, name=f"{prefix}_conv")
                terms.append(ops.batch_norm(x, name=f"{prefix}_bn"))
        if not terms:
            nodes.append(None)
        elif len(terms) == 1:
            nodes.append(terms[0])
        else:
            nodes.append(keras.layers.Add(name=f"{name}_node{to}")(terms))
    if nodes[-1] is None:
        return keras.layers.Rescaling(0.0, name=f"{name}_zero")(inputs)
    if nodes[-1] is inputs:  # Only skip edges from the input: keep a distinct tensor.
        return keras.layers.Identity(name=f"{name}_identity")(inputs)
    return nodes[-1]


class NB201Cell(Block):
    """One NAS-Bench-201 cell; its 6 edge ops are searched or fixed.

    Searched: declares `edge_1_0`, `edge_2_0`, `edge_2_1`, `edge_3_0`,
    `edge_3_1`, `edge_3_2` (each a `Choice` of `NB201_OPS`, default
    `"nor_conv_3x3"`) in the block's scope. The output has the input's shape
    (the convs keep the input's channel count).

    Args:
        genotype: `None` searches the 6 edges; a NAS-Bench-201 string
            (`"|nor_conv_3x3~0|+|...|"`) or a dict `{(to, from): op}` fixes
            them (no hyperparameters).
        name: Block name.

    Raises:
        ValueError: If a fixed genotype is malformed.

    Example:

    ```python
    hp = keras_tuner.HyperParameters()
    cell = NB201Cell(name="cell")
    y = cell.build(hp, keras.Input((8, 8, 16)))
    to_nb201_string(hp.values, name="cell")
    ```
    """

    def __init__(self, genotype: str | CellOps | None = None, name: str | None = None):
        super().__init__(name=name)
        self.genotype = None if genotype is None else _fixed_ops(genotype)

    def build(self, hp: keras_tuner.HyperParameters, inputs):
        """Builds the cell on `inputs`.

        Args:
            hp: The hyperparameters.
            inputs: Rank-3 or rank-4 Keras tensor.

        Returns:
            The output tensor (same shape as `inputs`).
        """
        ops.spatial_rank(inputs)
        cell_ops = self.genotype if self.genotype is not None else declare_edges(hp)
        if cell_ops is None:
            return inputs
        return build_cell(inputs, cell_ops, name=self.name)


class NB201Space(Block):
    """The NAS-Bench-201 search space: one searched cell stacked in 3 stages.

    Declared hyperparameters (names identical to `declare_nb201(hp, name)`):
    `{name}/edge_1_0`, `{name}/edge_2_0`, `{name}/edge_2_1`,
    `{name}/edge_3_0`, `{name}/edge_3_1`, `{name}/edge_3_2`, each a `Choice`
    of `NB201_OPS`; one cell genotype is shared by all cells, so the space has
    15625 architectures and `to_nb201_string(hp.values, name)` gives the
    benchmark's key.

    Skeleton: conv 3x3 stem (`channels`) - BN, `num_cells` cells,
    ResNet reduction block (2x channels, stride 2), `num_cells` cells,
    reduction (4x channels, stride 2), `num_cells` cells, BN - ReLU. Works on
    1D `(steps, channels)` and 2D `(height, width, channels)` inputs.

    Args:
        num_cells: Cells per stage (the benchmark's N=5; default 1 for the
            tiny inputs of MCU tasks).
        channels: Channels of the first stage (the benchmark's C=16;
            default 8).
        name: Block name, also the hyperparameter scope (default `"nb201"`).

    Example:

    ```python
    space = NB201Space()
    hp = keras_tuner.HyperParameters()
    hp.values.update(from_nb201_string(
        "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_1x1~1|skip_connect~2|"))
    inputs = keras.Input((8, 8, 1))
    model = keras.Model(inputs, ClassifierHead(10).build(hp, space.build(hp, inputs)))
    ```
    """

    def __init__(self, num_cells: int = 1, channels: int = 8, name: str = "nb201"):
        super().__init__(name=name)
        if int(num_cells) < 1 or int(channels) < 1:
            raise ValueError(
                f"num_cells and channels must be >= 1, got num_cells={num_cells!r}, "
                f"channels={channels!r}."
            )
        self.num_cells = int(num_cells)
        self.channels = int(channels)

    def build(self, hp: keras_tuner.HyperParameters, inputs):
        """Builds the NB201 network body on `inputs`.

        Args:
            hp: The hyperparameters.
            inputs: Rank-3 or rank-4 Keras tensor.

        Returns:
            The feature map after the last stage's BN - ReLU.
        """
        ops.spatial_rank(inputs)
        cell_ops = declare_edges(hp)
        if cell_ops is None:
            return inputs
        n, c = self.name, self.channels
        x = ops.conv(inputs, c, 3, name=f"{n}_stem_conv")
        x = ops.batch_norm(x, name=f"{n}_stem_bn")
        for stage in range(3):
            if stage > 0:
                x = residual(x, c * 2**stage, 3, 2, "relu", name=f"{n}_reduction_{stage}")
            for i in range(self.num_cells):
                x = build_cell(x, cell_ops, name=f"{n}_cell_{stage}_{i}")
        x = ops.batch_norm(x, name=f"{n}_last_bn")
        return keras.layers.ReLU(name=f"{n}_last_relu")(x)
