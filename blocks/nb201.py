"""NAS-Bench-201 genotype: hyperparameter names and the NB201 string form.

NAS-Bench-201 (Dong & Yang, ICLR 2020) searches one cell: a DAG of 4 nodes
where node `j` sums one operation applied to every earlier node `i < j`, so
the cell has 6 edges, each one of 5 operations: 5**6 = 15625 architectures.
The benchmark names an architecture with a string listing, node by node, the
operation of each incoming edge and its source node:

    |nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_1x1~1|skip_connect~2|

This module is pure Python (no TensorFlow): it declares the 6 edge
hyperparameters on a `keras_tuner.HyperParameters` and converts their values
to and from that string, so a search over `NB201Space` can be looked up in the
published NAS-Bench-201 tables. The Keras cell is in `nb201_cell.py`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

NB201_OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
"""The 5 NAS-Bench-201 operations, in the benchmark's order."""

NB201_EDGES = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
"""The 6 edges `(to_node, from_node)`, in NB201 string order."""

NB201_NUM_NODES = 4
NB201_DEFAULT_OP = "nor_conv_3x3"
NB201_NUM_ARCHS = len(NB201_OPS) ** len(NB201_EDGES)


def edge_name(to_node: int, from_node: int) -> str:
    """Returns the hyperparameter name (without scope) of one cell edge.

    Args:
        to_node: Index of the node the edge enters (1..3).
        from_node: Index of the node the edge leaves (0..to_node-1).

    Returns:
        The name, e.g. `edge_name(1, 0) == "edge_1_0"`.

    Raises:
        ValueError: If `(to_node, from_node)` is not an edge of the NB201 cell.
    """
    if (to_node, from_node) not in NB201_EDGES:
        raise ValueError(
            f"({to_node!r}, {from_node!r}) is not an edge of the NAS-Bench-201 "
            f"cell; edges (to_node, from_node) are {list(NB201_EDGES)}."
        )
    return f"edge_{to_node}_{from_node}"


def _full_names(name: str) -> list[str]:
    return [f"{name}/{edge_name(to, frm)}" for to, frm in NB201_EDGES]


def declare_nb201(hp, name: str = "nb201") -> None:
    """Declares the 6 edge hyperparameters of the NB201 cell on `hp`.

    Each edge is `hp.Choice(edge_name(to, from), NB201_OPS,
    default="nor_conv_3x3")` declared inside `hp.name_scope(name)`, so the
    full names are `f"{name}/edge_1_0"`, ..., `f"{name}/edge_3_2"`.

    Args:
        hp: A `keras_tuner.HyperParameters`.
        name: The name scope (the `NB201Space` name). Defaults to `"nb201"`.

    Returns:
        None. Read the values back with `hp.get(f"{name}/edge_1_0")` or
        `to_nb201_string(hp.values, name)`.

    Example:

    ```python
    hp = keras_tuner.HyperParameters()
    declare_nb201(hp)
    to_nb201_string(hp.values)
    # '|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|...~2|'
    ```
    """
    with hp.name_scope(name):
        for to, frm in NB201_EDGES:
            hp.Choice(edge_name(to, frm), list(NB201_OPS), default=NB201_DEFAULT_OP)


def nb201_ops(values: Mapping[str, Any] | Any, name: str = "nb201") -> dict:
    """Returns the operation of every edge, keyed by `(to_node, from_node)`.

    Args:
        values: A dict of hyperparameter values (`hp.values`) or a
            `keras_tuner.HyperParameters`, holding `f"{name}/edge_{to}_{from}"`.
        name: The name scope used by `declare_nb201`.

    Returns:
        A dict `{(to_node, from_node): op}` in `NB201_EDGES` order.

    Raises:
        ValueError: If an edge value is missing or is not one of `NB201_OPS`.
    """
    if hasattr(values, "values") and not isinstance(values, Mapping):
        values = values.values  # keras_tuner.HyperParameters
    if not isinstance(values, Mapping):
        raise ValueError(
            "Expected a dict of hyperparameter values or a "
            f"keras_tuner.HyperParameters, got {type(values).__name__}."
        )
    ops = {}
    for (to, frm), full in zip(NB201_EDGES, _full_names(name)):
        if full not in values:
            raise ValueError(
                f"Missing NAS-Bench-201 edge hyperparameter {full!r}; expected "
                f"all of {_full_names(name)} (is name={name!r} the space name?)."
            )
        op = values[full]
        if op not in NB201_OPS:
            raise ValueError(
                f"Hyperparameter {full!r} is {op!r}, which is not a "
                f"NAS-Bench-201 operation; allowed: {list(NB201_OPS)}."
            )
        ops[(to, frm)] = op
    return ops


def to_nb201_string(values: Mapping[str, Any] | Any, name: str = "nb201") -> str:
    """Encodes the edge values as a NAS-Bench-201 architecture string.

    Args:
        values: A dict of hyperparameter values (`hp.values`) or a
            `keras_tuner.HyperParameters`; other keys are ignored.
        name: The name scope used by `declare_nb201`.

    Returns:
        The string, e.g.
        `"|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_1x1~1|skip_connect~2|"`.

    Raises:
        ValueError: If an edge value is missing or is not one of `NB201_OPS`.
    """
    ops = nb201_ops(values, name)
    nodes = []
    for to in range(1, NB201_NUM_NODES):
        entries = "|".join(f"{ops[(to, frm)]}~{frm}" for frm in range(to))
        nodes.append(f"|{entries}|")
    return "+".join(nodes)


def from_nb201_string(arch: str, name: str = "nb201") -> dict:
    """Decodes a NAS-Bench-201 architecture string into hyperparameter values.

    Within a node the `op~index` entries may come in any order (as in the
    benchmark's own parser), but every source node `0..j-1` of node `j` must
    appear exactly once.

    Args:
        arch: The string, e.g. `"|nor_conv_3x3~0|+|none~0|skip_connect~1|+|...|"`.
        name: The name scope used by `declare_nb201`.

    Returns:
        A dict `{f"{name}/edge_{to}_{from}": op}` with the 6 edges, in
        `NB201_EDGES` order; pass it to `hp.values.update(...)` or to
        `keras_nas.blocks.genotype.from_json`-style loaders.

    Raises:
        ValueError: If the string is malformed: wrong number of nodes or
            entries, an unknown operation, or a wrong / repeated node index.
    """
    if not isinstance(arch, str):
        raise ValueError(f"A NAS-Bench-201 string must be a str, got {type(arch).__name__}.")
    example = "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_1x1~1|skip_connect~2|"
    nodes = arch.strip().split("+")
    if len(nodes) != NB201_NUM_NODES - 1:
        raise ValueError(
            f"Malformed NAS-Bench-201 string {arch!r}: expected "
            f"{NB201_NUM_NODES - 1} nodes separated by '+', got {len(nodes)}. "
            f"Example: {example!r}."
        )
    values: dict[str, str] = {}
    for to, node in enumerate(nodes, start=1):
        if len(node) < 2 or not (node.startswith("|") and node.endswith("|")):
            raise ValueError(
                f"Malformed NAS-Bench-201 string {arch!r}: node {to} ({node!r}) "
                f"must start and end with '|'. Example: {example!r}."
            )
        entries = node[1:-1].split("|")
        if len(entries) != to:
            raise ValueError(
                f"Malformed NAS-Bench-201 string {arch!r}: node {to} must have "
                f"{to} input(s) (one per earlier node), got {len(entries)}: {node!r}."
            )
        seen: dict[int, str] = {}
        for entry in entries:
            op, sep, index = entry.partition("~")
            if not sep:
                raise ValueError(
                    f"Malformed NAS-Bench-201 string {arch!r}: entry {entry!r} of "
                    f"node {to} must be 'op~index'."
                )
            if op not in NB201_OPS:
                raise ValueError(
                    f"Malformed NAS-Bench-201 string {arch!r}: unknown operation "
                    f"{op!r} in node {to}; allowed: {list(NB201_OPS)}."
                )
            if not index.isdigit() or int(index) >= to:
                raise ValueError(
                    f"Malformed NAS-Bench-201 string {arch!r}: input index "
                    f"{index!r} of node {to} must be an integer in 0..{to - 1}."
                )
            frm = int(index)
            if frm in seen:
                raise ValueError(
                    f"Malformed NAS-Bench-201 string {arch!r}: node {to} has two "
                    f"inputs from node {frm}."
                )
            seen[frm] = op
        for frm in range(to):
            values[(to, frm)] = seen[frm]
    return {f"{name}/{edge_name(to, frm)}": values[(to, frm)] for to, frm in NB201_EDGES}
