"""EfficientNet-style compound scaling of a found architecture.

EfficientNet (Tan & Le, 2019) scales a base network with one coefficient
`phi`: depth by `alpha**phi`, width by `beta**phi` and input resolution by
`gamma**phi`, with `alpha * beta**2 * gamma**2 ~= 2` so that FLOPs roughly
double per unit of `phi`. Here the base network is a genotype (hyperparameter
values) and scaling rewrites the values that play the three roles; scaled
values may lie outside the searched choices (Keras Tuner builds with them
as given), so a scaled model is built with `build_fn(hp)` as usual.

Roles are found from hyperparameter names (override with `roles=`):

- depth: names ending in `/depth` or `/num_layers` (ints, rounded up as in
  EfficientNet);
- width: `/width_multiplier` (float, scaled), `/filters`, `/width`,
  `/units_{i}` (ints, rounded to a multiple of 8 via `make_divisible`);
- resolution: `/resolution` (int, rounded).

Values that conditional scopes depend on (`num_stages`, a `DenseBlock`'s
`num_layers`) are not scaled when the space is known (`space=` of
`compound_scale`, always in `search_compound_scaling`).
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import keras_tuner

from .introspect import declared_hyperparameters
from .presets import make_divisible

ROLES = ("depth", "width", "resolution")
_PATTERNS = (
    ("depth", re.compile(r"(^|/)(depth|num_layers)$")),
    ("width", re.compile(r"(^|/)(width_multiplier|filters|width|units_\d+)$")),
    ("resolution", re.compile(r"(^|/)resolution$")),
)


def scaling_roles(values: Mapping[str, Any]) -> dict[str, str]:
    """Finds which hyperparameters scale with depth, width and resolution.

    Args:
        values: Hyperparameter values (a genotype).

    Returns:
        `{name: role}` for every numeric (non-bool) value whose name matches a
        role pattern (see the module docstring).
    """
    roles = {}
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        for role, pattern in _PATTERNS:
            if pattern.search(name):
                roles[name] = role
                break
    return roles


def compound_scale(
    values: Mapping[str, Any] | keras_tuner.HyperParameters,
    phi: float,
    alpha: float = 1.2,
    beta: float = 1.1,
    gamma: float = 1.15,
    roles: Mapping[str, str] | None = None,
    space: Any = None,
    input_shape=None,
) -> dict:
    """Scales a genotype's depth, width and resolution values by `phi`.

    Args:
        values: The base genotype (dict or `keras_tuner.HyperParameters`).
        phi: The compound coefficient (`0` returns the base values).
        alpha: Depth coefficient (per unit of `phi`).
        beta: Width coefficient.
        gamma: Resolution coefficient.
        roles: `{name: "depth" | "width" | "resolution"}`; defaults to
            `scaling_roles(values)`.
        space: Optional space the values belong to (a `Block` with
            `input_shape`, a `keras_tuner.HyperModel` or a `build(hp)`
            callable). Its hyperparameters that conditional scopes depend on
            (`num_stages`, a `DenseBlock`'s `num_layers`) are then not
            scaled; give it whenever the space has such scopes.
        input_shape: Input shape when `space` is a `Block`.

    Returns:
        The new values: depths `ceil(d * alpha**phi)`, integer widths
        `make_divisible(w * beta**phi)`, width multipliers `w * beta**phi`,
        resolutions `round(r * gamma**phi)`; other values unchanged.

    Raises:
        ValueError: For a negative `phi`, coefficients below 1, or an unknown
            role / name in `roles`.

    Example:

    ```python
    base = {"kws_space/width": 32, "kws_space/num_layers": 3}
    compound_scale(base, phi=2)  # width 40 (32 * 1.21), num_layers 5 (ceil 4.32)
    ```
    """
    if isinstance(values, keras_tuner.HyperParameters):
        values = values.values
    values = dict(values)
    if phi < 0:
        raise ValueError(f"phi must be >= 0, got {phi!r}.")
    for label, coefficient in (("alpha", alpha), ("beta", beta), ("gamma", gamma)):
        if coefficient < 1:
            raise ValueError(f"{label} must be >= 1, got {coefficient!r}.")
    roles = scaling_roles(values) if roles is None else dict(roles)
    if space is not None:
        parents = condition_parents(space, input_shape)
        roles = {name: role for name, role in roles.items() if name not in parents}
    for name, role in roles.items():
        if role not in ROLES:
            raise ValueError(f"Unknown scaling role {role!r} for {name!r}; expected one of {ROLES}.")
        if name not in values:
            raise ValueError(f"roles names {name!r}, which is not among the values.")
    factors = {"depth": alpha**phi, "width": beta**phi, "resolution": gamma**phi}
    scaled = dict(values)
    for name, role in roles.items():
        value, factor = values[name], factors[role]
        if role == "depth":
            scaled[name] = int(math.ceil(value * factor - 1e-9))
        elif role == "resolution":
            scaled[name] = int(round(value * factor))
        elif isinstance(value, float):
            scaled[name] = round(value * factor, 4)
        else:
            scaled[name] = make_divisible(value * factor)
    return scaled


def condition_parents(space: Any, input_shape=None) -> set[str]:
    """Names of the hyperparameters that a conditional scope of `space` depends on.

    Scaling such a value (e.g. `conv_space/num_stages`, a `DenseBlock`'s
    `num_layers`) would switch parts of the space on or off instead of
    scaling it, so compound scaling leaves them alone.

    Args:
        space: A `Block` (with `input_shape`), a `keras_tuner.HyperModel` or a
            `build(hp)` callable.
        input_shape: Input shape when `space` is a `Block`.

    Returns:
        The set of parent names.
    """
    declared = declared_hyperparameters(space, input_shape)
    return {c.name for hp in declared.space for c in hp.conditions}


def coefficient_grid(step: float = 0.05, max_coefficient: float = 1.5, target: float = 2.0) -> list:
    """`(alpha, beta, gamma)` triples with `alpha * beta**2 * gamma**2 = target`.

    `alpha` and `beta` run over a grid from 1 in steps of `step`; `gamma` is
    solved for and kept if it lies in `[1, max_coefficient]`.

    Args:
        step: Grid step of `alpha` and `beta`.
        max_coefficient: Largest coefficient considered.
        target: The FLOPs growth per unit of `phi` (EfficientNet: 2).

    Returns:
        A list of `(alpha, beta, gamma)` tuples (rounded to 4 decimals).
    """
    grid = [round(1 + i * step, 4) for i in range(int(round((max_coefficient - 1) / step)) + 1)]
    triples = []
    for alpha in grid:
        for beta in grid:
            rest = target / (alpha * beta**2)
            if rest < 1:
                continue
            gamma = math.sqrt(rest)
            if gamma <= max_coefficient + 1e-9:
                triples.append((alpha, beta, round(gamma, 4)))
    return triples


@dataclasses.dataclass
class ScalingResult:
    """The outcome of `search_compound_scaling`.

    Attributes:
        alpha: Chosen depth coefficient.
        beta: Chosen width coefficient.
        gamma: Chosen resolution coefficient.
        phi: Largest compound coefficient under the budget for them.
        values: The scaled genotype.
        cost: `cost_fn` of the scaled model.
        score: `score_fn` of the scaled model (`None` without `score_fn`).
        candidates: `(alpha, beta, gamma, phi, cost, score)` of every
            coefficient triple tried.
    """

    alpha: float
    beta: float
    gamma: float
    phi: float
    values: dict
    cost: float
    score: float | None
    candidates: list


def search_compound_scaling(
    build_fn: Callable[[keras_tuner.HyperParameters], Any],
    base_values: Mapping[str, Any] | keras_tuner.HyperParameters,
    cost_fn: Callable[[Any], float],
    budget: float,
    coefficients: Iterable[tuple[float, float, float]] | None = None,
    phis: Iterable[float] = (0.5, 1, 1.5, 2, 3, 4, 5, 6, 8),
    score_fn: Callable[[Any], float] | None = None,
    roles: Mapping[str, str] | None = None,
) -> ScalingResult:
    """Grid-searches compound-scaling coefficients and `phi` under a cost budget.

    For each `(alpha, beta, gamma)` (default `coefficient_grid()`, i.e.
    `alpha * beta**2 * gamma**2 ~= 2`), the largest `phi` of `phis` whose
    model's `cost_fn(build_fn(hp))` stays under `budget` is found (phis are
    tried in increasing order and the first one over budget stops the
    search: cost grows with `phi`). Hyperparameters that conditional scopes
    depend on are not scaled (see `condition_parents`). The chosen triple is the one with the
    best `score_fn` (e.g. accuracy after a short training) or, without
    `score_fn`, the one whose scaled model uses most of the budget (ties:
    larger `phi`). Identical scaled genotypes are built once.

    Args:
        build_fn: Builds a model from a `keras_tuner.HyperParameters`
            (e.g. `NASHyperModel(...).build`).
        base_values: The found base genotype.
        cost_fn: Cost of a built model: parameters, MACs or measured latency.
        budget: The largest allowed cost.
        coefficients: `(alpha, beta, gamma)` triples to try.
        phis: Compound coefficients to try.
        score_fn: Optional quality of a model (higher is better).
        roles: Scaling roles, default `scaling_roles(base_values)`.

    Returns:
        A `ScalingResult`.

    Raises:
        ValueError: If even the base genotype exceeds the budget, or no role
            is found in `base_values`.

    Example:

    ```python
    result = search_compound_scaling(
        hypermodel.build, best_values, lambda m: m.count_params(), budget=50_000)
    model = hypermodel.build(from_json(to_json(result.values)))
    ```
    """
    if isinstance(base_values, keras_tuner.HyperParameters):
        base_values = base_values.values
    base_values = dict(base_values)
    roles = scaling_roles(base_values) if roles is None else dict(roles)
    parents = condition_parents(build_fn)
    roles = {name: role for name, role in roles.items() if name not in parents}
    if not roles:
        raise ValueError(
            "No depth, width or resolution hyperparameter found in base_values "
            "(names ending in /depth, /num_layers, /filters, /width, /width_multiplier, "
            "/units_i or /resolution); pass roles={name: role}."
        )
    cache: dict[tuple, tuple[float, Any]] = {}

    def evaluate(values: dict):
        key = tuple(sorted(values.items()))
        if key not in cache:
            hp = keras_tuner.HyperParameters()
            hp.values.update(values)
            model = build_fn(hp)
            cache[key] = (float(cost_fn(model)), model if score_fn is not None else None)
        return cache[key]

    base_cost, _ = evaluate(base_values)
    if base_cost > budget:
        raise ValueError(
            f"The base architecture already costs {base_cost:g} > budget {budget:g}; "
            f"nothing to scale up."
        )
    phis = sorted(float(p) for p in phis)
    triples = list(coefficients) if coefficients is not None else coefficient_grid()
    candidates = []
    best = None
    for alpha, beta, gamma in triples:
        chosen = (0.0, base_values, base_cost)
        for phi in phis:
            values = compound_scale(base_values, phi, alpha, beta, gamma, roles=roles)
            cost, _ = evaluate(values)
            if cost > budget:
                break
            chosen = (phi, values, cost)
        phi, values, cost = chosen
        score = float(score_fn(evaluate(values)[1])) if score_fn is not None else None  # noqa: E501
        candidates.append((alpha, beta, gamma, phi, cost, score))
        rank = (score, phi) if score_fn is not None else (cost, phi)
        if best is None or rank > best[0]:
            best = (rank, ScalingResult(alpha, beta, gamma, phi, values, cost, score, candidates))
    return best[1]
