"""How a trial's failure reads: the rejection marker and a failure message's one-line reason.

Kept apart from `keras_nas.errors` (whose exceptions subclass Keras Tuner's, so
importing it imports TensorFlow): reading a search directory needs only these.
"""

import re

# Every rejection message starts with this marker. A trial's outcome is recorded apart
# (keras_nas/run_record.py); older search directories have only this marker to tell a
# candidate rejected for its hardware cost from a trial that failed in training.
REJECTION_MARKER = "[keras-nas] rejected before training:"


def failure_reason(message: str | None) -> str | None:
    """Why a trial failed, in one line: its exception's message without the class name, or None.

    (A rejection's reasons are recorded as its outcome: `keras_nas.run_record.outcome_of`.)
    """
    lines = (message or "").strip().splitlines()
    if not lines:
        return None
    reason = lines[-1]
    head, sep, rest = reason.partition(": ")
    if sep and re.fullmatch(r"[A-Za-z_][\w.]*(Error|Exception|Rejected)", head):
        return rest.strip()
    return reason
