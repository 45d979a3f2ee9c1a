"""Type checks of single arguments, shared by the facade and the modules below it."""

from __future__ import annotations

import numpy as np


def check_bool(value, name: str) -> None:
    """Raises `TypeError` unless `value` is True or False.

    A string such as "no" or "false" is truthy: taken as a flag it would mean
    True (for `overwrite`, emptying a finished search).

    Args:
        value: The value given.
        name: The argument's name, for the message.
    """
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"`{name}` must be True or False (a Python bool), got {value!r}. Pass "
                        f"{name}=True or {name}=False.")


def check_labels(labels, num_classes: int | None = None) -> list[str] | None:
    """Class names checked: a list of printable one-line strings, one per class.

    Labels go into the C header, the metadata and `labels.txt` (one per line):
    a newline or control character in one would break those files, and a
    count that is not the number of classes names the wrong classes.

    Args:
        labels: The class names given, or None.
        num_classes: The classifier's number of classes, when known.

    Returns:
        The labels as a list (None when not given).

    Raises:
        TypeError: If `labels` is not a list of strings.
        ValueError: If a label is empty or not one printable line, or their
            count is not `num_classes`.
    """
    if labels is None:
        return None
    if isinstance(labels, (str, bytes)) or not isinstance(labels, (list, tuple)) or not all(
        isinstance(label, str) for label in labels
    ):
        raise TypeError(f"`labels` must be a list of class names (strings), got {str(labels)[:80]!r}.")
    bad = [label for label in labels if not label.strip() or not label.isprintable()]
    if bad:
        raise ValueError(
            f"Class names must be non-empty and one printable line (no newline, tab or control "
            f"character): {[label[:40] for label in bad[:3]]!r}. Fix those labels."
        )
    if num_classes is not None and len(labels) != num_classes:
        raise ValueError(
            f"{len(labels)} labels for a classifier of {num_classes} classes: give one name per class, "
            f"in class-index order (label i names class i)."
        )
    return list(labels)
