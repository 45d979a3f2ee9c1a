"""The control values a strategy sets on a trial for the tuner: one place for their names.

A multi-fidelity strategy (Hyperband) trains some candidates on a smaller budget.
It says so in the trial's hyperparameter values, under keys that are not part of
the architecture (they start with one of `CONTROL_PREFIXES`); `NASTuner` reads
them when it trains the trial, and `keras_nas.tabular` when it charges its time.
Keras Tuner's own Hyperband uses the `tuner/` names, so they are kept.

Example:

```python
values = {"width": 16, fidelity.EPOCHS: 9, fidelity.INITIAL_EPOCH: 3, fidelity.DATA_FRACTION: 0.5}
fidelity.architecture_values(values)  # {"width": 16}
```
"""

from __future__ import annotations

from typing import Final, TypedDict

EPOCHS: Final = "tuner/epochs"
"""Train up to this epoch."""
INITIAL_EPOCH: Final = "tuner/initial_epoch"
"""Starting from this epoch (a promoted trial continues its parent's training)."""
PARENT_TRIAL: Final = "tuner/trial_id"
"""The trial whose weights a promoted trial starts from."""
BRACKET: Final = "tuner/bracket"
"""Hyperband: the bracket of the trial."""
ROUND: Final = "tuner/round"
"""Hyperband: the round (rung) of the trial within its bracket."""
ITERATION: Final = "nas/iteration"
"""Hyperband: the iteration of the whole schedule (it repeats while budget is left)."""
DATA_FRACTION: Final = "nas/data_fraction"
"""The share of the training data the trial trains on, in (0, 1]."""

CONTROL_PREFIXES: Final = ("tuner/", "nas/")
"""Values under these prefixes are set by a strategy, not by the search space."""

Fidelity = TypedDict(
    "Fidelity",
    {
        "tuner/epochs": int,
        "tuner/initial_epoch": int,
        "tuner/trial_id": str,
        "tuner/bracket": int,
        "tuner/round": int,
        "nas/iteration": int,
        "nas/data_fraction": float,
    },
    total=False,
)
"""The control values of one trial, each optional: the keys above with the types a strategy writes."""


def architecture_values(values: dict) -> dict:
    """`values` without the control entries (`tuner/...`, `nas/...`) a strategy adds."""
    return {k: v for k, v in values.items() if not k.startswith(CONTROL_PREFIXES)}
