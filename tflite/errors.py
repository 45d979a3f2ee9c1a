"""Exceptions and warnings of `keras_nas.tflite`."""

import sys
import warnings

# Modules whose frames are skipped to find the user's call a warning points at.
_LIBRARY_MODULES = ("keras_nas", "keras_tuner", "keras", "tensorflow", "absl")


class InvalidModelError(ValueError):
    """The bytes (or file) given are not a model the runtimes can load.

    Raised for empty, truncated or corrupted flatbuffers, files that are not
    TFLite models at all, and models that a runtime refuses to prepare (for
    example a float16 model given to TFLite Micro). The message says what is
    wrong and what to do about it.

    Example:

    >>> from keras_nas.tflite import load_interpreter, InvalidModelError
    >>> try:
    ...     load_interpreter(b"not a model")
    ... except InvalidModelError as e:
    ...     print("rejected")
    rejected
    """


class ConversionError(RuntimeError):
    """The TFLite converter failed to convert a Keras model.

    The message names the reason reported by the converter (for example an
    op that has no TFLite builtin kernel) and the quantization mode asked for.

    Example:

    >>> from keras_nas.tflite import to_tflite, ConversionError
    >>> try:
    ...     model_bytes = to_tflite(model, quantization="int8", representative_data=x)
    ... except ConversionError as e:
    ...     print(e)  # doctest: +SKIP
    """


class EmulatorUnavailableWarning(UserWarning):
    """An MCU target's figures are estimates: its emulated board cannot run here (see the message)."""


def warn_at_caller(message: str, category: type[Warning] = UserWarning) -> None:
    """`warnings.warn` pointing at the first frame outside keras-nas, Keras Tuner, Keras and TensorFlow.

    So a warning raised deep in a search names the user's `fit(...)` or
    `profile(...)` line, not library code.
    """
    frame, level = sys._getframe(1), 2
    while frame is not None and frame.f_globals.get("__name__", "").split(".")[0] in _LIBRARY_MODULES:
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)
