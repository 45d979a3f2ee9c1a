"""Errors raised by keras-nas, each naming what is wrong and how to fix it."""

from keras_tuner.errors import FailedTrialError, FatalError

from keras_nas.failure_text import REJECTION_MARKER


class NotFittedError(RuntimeError):
    """A `NASModel` method that needs the winning model was called before `fit`."""


class CandidateRejected(FailedTrialError):
    """A candidate broke a hardware constraint; it is recorded as failed and never trained."""

    def __init__(self, reasons: list[str]):
        self.reasons = list(reasons)
        super().__init__(f"{REJECTION_MARKER} " + "; ".join(self.reasons))


class InfeasibleConstraintsError(FatalError, ValueError):
    """No candidate of the search space seems able to meet the constraints: the search stops."""

