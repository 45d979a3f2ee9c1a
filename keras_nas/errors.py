"""Errors raised by keras-nas, each naming what is wrong and how to fix it."""

import re

from keras_tuner.errors import FailedTrialError, FatalError

# Every rejection message starts with this marker, so that a strategy can tell a candidate
# rejected for its hardware cost (cheap, never trained) from a trial that failed in training.
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


def is_rejection(message: str | None) -> bool:
    """Whether a trial's failure message is a constraint rejection (see `CandidateRejected`)."""
    return bool(message) and REJECTION_MARKER in message


def failure_reason(message: str | None) -> str | None:
    """Why a trial failed, in one line: its exception's message without the class name, or None.

    A rejection gives its reasons only, e.g. "flash 80.1 KB > 64 KB".
    """
    lines = (message or "").strip().splitlines()
    if not lines:
        return None
    reason = lines[-1]
    if REJECTION_MARKER in reason:
        return reason.split(REJECTION_MARKER, 1)[1].strip()
    head, sep, rest = reason.partition(": ")
    if sep and re.fullmatch(r"[A-Za-z_][\w.]*(Error|Exception|Rejected)", head):
        return rest.strip()
    return reason
