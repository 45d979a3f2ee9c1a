"""Errors raised by keras-nas, each naming what is wrong and how to fix it."""

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
    """The last line of a failed trial's message (the exception's own line), or None."""
    lines = (message or "").strip().splitlines()
    return lines[-1] if lines else None
