"""Exceptions raised by `keras_nas.tflite`."""


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
