"""Errors raised by keras-nas, each naming what is wrong and how to fix it."""

import re

from keras_tuner.errors import FailedTrialError, FatalError

# Every rejection message starts with this marker. A trial's outcome is recorded apart
# (keras_nas/run_record.py); older search directories have only this marker to tell a
# candidate rejected for its hardware cost from a trial that failed in training.
REJECTION_MARKER = "[keras-nas] rejected before training:"


class NotFittedError(RuntimeError):
    """A `NASModel` method that needs the winning model was called before `fit`."""


class CandidateRejected(FailedTrialError):
    """A candidate broke a hardware constraint; it is recorded as failed and never trained."""

    def __init__(self, reasons: list[str]):
        self.reasons = list(reasons)
        super().__init__(f"{REJECTION_MARKER} " + "; ".join(self.reasons))


class InfeasibleConstraintsError(FatalError, ValueError):
    """No candidate of the search space seems able to meet the constraints: the search stops."""


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
