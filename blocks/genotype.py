"""Genotype I/O: an architecture is its hyperparameter values, stored as JSON.

Building the same space with the same values gives the same layers with the
same configuration, so `to_json` / `from_json` are all that is needed to
store, share and rebuild an architecture. Loading uses `json.loads` only and
never executes code.

Format:

```json
{"format": "keras-nas-genotype", "version": 1,
 "values": {"kws_space/width": 64, "kws_space/num_layers": 4, ...}}
```
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from collections.abc import Sequence as _Seq
from typing import Any

import keras_tuner

from .introspect import allowed_values, declared_hyperparameters, describe_allowed

FORMAT = "keras-nas-genotype"
VERSION = 1
_SCALARS = (bool, int, float, str)


def _values_of(values_or_hp: Any) -> dict:
    if isinstance(values_or_hp, keras_tuner.HyperParameters):
        return dict(values_or_hp.values)
    if isinstance(values_or_hp, Mapping):
        return dict(values_or_hp)
    raise ValueError(
        "Expected a dict of hyperparameter values or a keras_tuner.HyperParameters, "
        f"got {type(values_or_hp).__name__}."
    )


def _check_scalars(values: dict) -> None:
    for name, value in values.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"Hyperparameter names must be non-empty strings, got {name!r}.")
        if value is None or not isinstance(value, _SCALARS):
            raise ValueError(
                f"Hyperparameter {name!r} has value {value!r} of type "
                f"{type(value).__name__}; a genotype holds only bool, int, float or str."
            )
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"Hyperparameter {name!r} has a non-finite value {value!r}.")


def _same_value(a: Any, b: Any) -> bool:
    """Equality that does not confuse `True` with `1` (JSON keeps the types)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return a == b


def validate_values(values: Mapping[str, Any], hyperparameters: keras_tuner.HyperParameters) -> dict:
    """Checks `values` against a declared space and returns its active values.

    Args:
        values: Hyperparameter values (a genotype).
        hyperparameters: The declared space (see `declared_hyperparameters`).

    Returns:
        The values of the active hyperparameters, in declaration order, with
        the space's own value objects (e.g. `0.25` rather than `0.2500000001`).
        Values of known but inactive hyperparameters are dropped (they do not
        affect the architecture).

    Raises:
        ValueError: For an unknown name, a value not allowed by its
            hyperparameter, or a missing value of an active hyperparameter;
            the message names the hyperparameter and its allowed values.
    """
    known = {hp.name for hp in hyperparameters.space}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(
            f"Unknown hyperparameter(s) {unknown} for this space; its hyperparameters "
            f"are {sorted(known)}."
        )
    walker = keras_tuner.HyperParameters()
    active = {}
    for hp in hyperparameters.space:
        walker.merge([hp])
        if not walker.is_active(hp):
            continue
        if hp.name not in values:
            raise ValueError(
                f"Missing value for the active hyperparameter {hp.name!r}; allowed "
                f"values: {describe_allowed(hp)}."
            )
        value = values[hp.name]
        allowed = allowed_values(hp)
        if allowed is None:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and (
                hp.min_value <= value <= hp.max_value
            )
            matched = value
        else:
            matches = [a for a in allowed if _same_value(a, value)]
            ok, matched = bool(matches), (matches[0] if matches else None)
        if not ok:
            raise ValueError(
                f"Value {value!r} is not allowed for hyperparameter {hp.name!r}; "
                f"allowed values: {describe_allowed(hp)}."
            )
        walker.values[hp.name] = matched
        active[hp.name] = matched
    return active


def to_json(
    values_or_hp: Mapping[str, Any] | keras_tuner.HyperParameters,
    space: Any = None,
    input_shape: _Seq[int] | None = None,
    indent: int | None = 1,
) -> str:
    """Writes an architecture (its hyperparameter values) as JSON.

    Args:
        values_or_hp: A dict of values or a `keras_tuner.HyperParameters`
            (its `.values` are written).
        space: Optional space to validate against first: a `Block` (with
            `input_shape`), a `keras_tuner.HyperModel` (e.g. `NASHyperModel`)
            or a `build(hp)` callable. Inactive values are then dropped.
        input_shape: Input shape (without batch axis) when `space` is a `Block`.
        indent: JSON indentation (`None` for one line).

    Returns:
        The JSON text.

    Raises:
        ValueError: If a value is not a JSON scalar, or (with `space`) does
            not fit the space.

    Example:

    ```python
    text = to_json(trial.hyperparameters)
    hp = from_json(text, space=hypermodel)
    model = hypermodel.build(hp)  # same architecture
    ```
    """
    values = _values_of(values_or_hp)
    _check_scalars(values)
    if space is not None:
        values = validate_values(values, declared_hyperparameters(space, input_shape))
    return json.dumps(
        {"format": FORMAT, "version": VERSION, "values": values},
        indent=indent,
        allow_nan=False,
    )


def from_json(
    text: str | bytes,
    space: Any = None,
    input_shape: _Seq[int] | None = None,
) -> keras_tuner.HyperParameters:
    """Reads an architecture written by `to_json`.

    Args:
        text: The JSON text (a document with `"format": "keras-nas-genotype"`,
            or a bare `{name: value}` object).
        space: Optional space to validate against: a `Block` (with
            `input_shape`), a `keras_tuner.HyperModel` or a `build(hp)`
            callable. The returned object then also holds the whole declared
            space (hyperparameters and conditions), as a tuner trial would.
        input_shape: Input shape (without batch axis) when `space` is a `Block`.

    Returns:
        A `keras_tuner.HyperParameters` whose `.values` are the genotype; pass
        it to `space.build(hp, inputs)` or `hypermodel.build(hp)`.

    Raises:
        ValueError: For malformed JSON, a wrong format/version, non-scalar
            values, or (with `space`) an unknown name, a value not among the
            allowed ones or a missing required value.
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    if not isinstance(text, str):
        raise ValueError(f"from_json expects JSON text, got {type(text).__name__}.")
    try:
        document = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as error:
        raise ValueError(f"Malformed genotype JSON: {error}.") from None
    if not isinstance(document, dict):
        raise ValueError(
            f"A genotype must be a JSON object, got {type(document).__name__}."
        )
    if "format" in document:
        if document.get("format") != FORMAT:
            raise ValueError(
                f"Not a keras-nas genotype: format is {document.get('format')!r}, "
                f"expected {FORMAT!r}."
            )
        if document.get("version") != VERSION:
            raise ValueError(
                f"Unsupported genotype version {document.get('version')!r}; this "
                f"keras-nas reads version {VERSION}."
            )
        values = document.get("values")
        if not isinstance(values, dict):
            raise ValueError('A genotype document needs a "values" object.')
    else:
        values = document
    _check_scalars(values)
    if space is None:
        hp = keras_tuner.HyperParameters()
        hp.values.update(values)
        return hp
    declared = declared_hyperparameters(space, input_shape)
    active = validate_values(values, declared)
    hp = declared.copy()
    hp.values = dict(active)
    return hp


def _reject_constant(name: str):
    raise ValueError(f"Genotype JSON may not contain {name}.")
