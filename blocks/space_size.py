"""Count the architectures of a search space, conditional scopes included."""

from __future__ import annotations

import functools
from collections.abc import Sequence as _Seq
from typing import Any

from .introspect import allowed_values, declared_hyperparameters


def count_active_combinations(hyperparameters) -> int:
    """Counts the distinct assignments of active values of a declared space.

    A hyperparameter declared under `hp.conditional_scope(parent, values)` is
    active only when its parents are active and take one of the listed
    values; an inactive one contributes a single "absent" state. The count
    walks the conditional tree in declaration order, branching only on the
    values of hyperparameters that later conditions refer to (memoized), so
    spaces of 10^20 architectures are counted instantly.

    Args:
        hyperparameters: A `keras_tuner.HyperParameters` holding the space
            (e.g. from `declared_hyperparameters`).

    Returns:
        The number of distinct active-value dicts.

    Raises:
        ValueError: If the space has a continuous `Float` (infinite size).
    """
    hps = list(hyperparameters.space)
    domains = []
    for hp in hps:
        values = allowed_values(hp)
        if values is None:
            raise ValueError(
                f"Hyperparameter {hp.name!r} is a continuous Float: the space is "
                f"infinite. Give it a step to count it."
            )
        domains.append(values)
    # Names referred to by a condition of hyperparameter j or later.
    referenced_from = [set() for _ in range(len(hps) + 1)]
    for j in range(len(hps) - 1, -1, -1):
        referenced_from[j] = referenced_from[j + 1] | {c.name for c in hps[j].conditions}

    def is_active(hp, state: dict) -> bool:
        return all(c.name in state and state[c.name] in c.values for c in hp.conditions)

    @functools.lru_cache(maxsize=None)
    def count(i: int, state_items: frozenset) -> int:
        if i == len(hps):
            return 1
        state = dict(state_items)
        hp = hps[i]
        keep = referenced_from[i + 1]

        def pruned(extra: dict | None = None) -> frozenset:
            merged = {**state, **(extra or {})}
            return frozenset((k, v) for k, v in merged.items() if k in keep)

        if not is_active(hp, state):
            return count(i + 1, pruned())
        if hp.name in keep:
            return sum(count(i + 1, pruned({hp.name: v})) for v in domains[i])
        return len(domains[i]) * count(i + 1, pruned())

    return count(0, frozenset())


def space_size(block: Any, input_shape: _Seq[int] | None = None) -> int:
    """Returns the number of distinct architectures of a block or search space.

    Args:
        block: A `Block` (with `input_shape`), a `keras_tuner.HyperModel` or
            a `build(hp)` callable.
        input_shape: Shape of one input example (without batch axis); the
            choices of a block can depend on it (kernel sizes in 1D vs 2D,
            resolutions).

    Returns:
        The number of distinct combinations of active hyperparameter values.

    Raises:
        ValueError: If `input_shape` is missing for a `Block`, or the space has
            a continuous `Float`.

    Example:

    ```python
    space_size(KWSSpace(), (49, 10, 1))  # 6 * 5 * 3 * 2 * 2 = 360
    ```
    """
    return count_active_combinations(declared_hyperparameters(block, input_shape))
