"""Quantization-aware training and magnitude pruning with tensorflow-model-optimization.

tfmot works on `tf_keras` (Keras 2) models only, so the Keras 3 model is
first rebuilt with `keras_nas.tflite.bridge.to_tf_keras` (same layers and
weights), then:

- `quantization_aware_training`: `quantize_model`-style annotation (the
  default 8-bit scheme where tfmot has a rule for the layer, our own
  `QuantizeConfig`s for the layers it has none for: `Conv1D`,
  `DepthwiseConv1D`, stand-alone `BatchNormalization`, `Normalization`,
  `Multiply`, `HardSwish`, `HardSigmoid`), fine-tuning with fake
  quantization, and conversion to a full-integer int8 `.tflite` (int8 input
  and output; runs on LiteRT and TFLite Micro).
- `prune`: `prune_low_magnitude` on every prunable layer (convolutions,
  dense) towards a target sparsity, fine-tuning, `strip_pruning`, and int8
  conversion with post-training calibration.

Importing `tensorflow_model_optimization` sets `TF_USE_LEGACY_KERAS=1` in
the process environment. It is imported here lazily, inside these
functions, after pinning `tf.keras` to what it already means (Keras 3), and
the variable is restored right after, so the rest of the process (Keras 3,
the converter, the search) is unaffected.
"""

from __future__ import annotations

import os
import warnings

import numpy as np

from .bridge import to_tf_keras
from .convert import calibration_samples, configure_quantization, run_converter
from .standardization import standardized_input

_LEGACY = "TF_USE_LEGACY_KERAS"


def import_tfmot():
    """Import `tensorflow_model_optimization` without changing Keras for the process.

    tfmot sets `TF_USE_LEGACY_KERAS=1` on import, which would make a
    later first use of `tf.keras` resolve to `tf_keras`. This pins `tf.keras`
    first, imports tfmot, then restores the variable as it was.

    Returns:
        The `tensorflow_model_optimization` module.

    Raises:
        ImportError: tfmot or tf_keras is not installed (the message says
            which pip packages to install).

    Example:

    >>> tfmot = import_tfmot()  # doctest: +SKIP
    """
    import tensorflow as tf

    previous = os.environ.get(_LEGACY)
    getattr(tf.keras, "layers", None)  # resolve the lazy `tf.keras` now
    try:
        import tensorflow_model_optimization as tfmot
    except ImportError as e:
        raise ImportError(
            "QAT and pruning need `tensorflow-model-optimization` and `tf-keras`, the `qat` "
            "extra of keras-nas: pip install 'keras-nas[qat]' (or pip install "
            "tensorflow-model-optimization tf-keras)"
        ) from e
    finally:
        if previous is None:
            os.environ.pop(_LEGACY, None)
        else:
            os.environ[_LEGACY] = previous
    return tfmot


# -- argument checks -------------------------------------------------------------


def _check_data(model, x, y, what: str):
    if x is None or y is None:
        raise ValueError(
            f"{what} needs training data: pass x (float inputs, shape (n, *input_shape)) "
            "and y (integer labels (n,) or one-hot (n, k))."
        )
    x = np.asarray(x, dtype=np.float32)
    y = np.asarray(y)
    expected = tuple(model.inputs[0].shape[1:])
    if x.ndim != len(expected) + 1 or tuple(x.shape[1:]) != expected:
        raise ValueError(
            f"x must have shape (n, {', '.join(map(str, expected))}) for model "
            f"{model.name!r}, got {x.shape}."
        )
    if x.shape[0] == 0:
        raise ValueError(f"{what} needs at least one training sample; x is empty.")
    if y.shape[0] != x.shape[0]:
        raise ValueError(f"x has {x.shape[0]} samples but y has {y.shape[0]} labels.")
    if not np.all(np.isfinite(x)):
        raise ValueError("x contains NaN or infinite values.")
    return x, y


def _check_training_args(epochs, batch_size, learning_rate) -> None:
    if not isinstance(epochs, (int, np.integer)) or epochs < 1:
        raise ValueError(f"epochs must be a positive int, got {epochs!r}.")
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}.")
    if not isinstance(learning_rate, (int, float, np.floating)) or not 0 < learning_rate < 1:
        raise ValueError(f"learning_rate must be a float in (0, 1), got {learning_rate!r}.")


def _loss(model, y) -> str:
    units = int(model.outputs[0].shape[-1])
    if units == 1:
        return "binary_crossentropy"
    one_hot = y.ndim == 2 and y.shape[1] == units and units > 1
    return "categorical_crossentropy" if one_hot else "sparse_categorical_crossentropy"


def _validation(validation_data):
    if validation_data is None:
        return None
    if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
        raise ValueError("validation_data must be a tuple (x_val, y_val).")
    return np.asarray(validation_data[0], dtype=np.float32), np.asarray(validation_data[1])


# -- quantization configs for the layers tfmot's default scheme does not know ----


def _quantize_configs(tfmot):
    """`QuantizeConfig` classes for our layers; created once tfmot is imported."""
    quantizers = tfmot.quantization.keras.quantizers
    QuantizeConfig = tfmot.quantization.keras.QuantizeConfig

    class OutputQuantizeConfig(QuantizeConfig):
        """No weights; quantize the layer output (8-bit, asymmetric)."""

        def get_weights_and_quantizers(self, layer):
            return []

        def get_activations_and_quantizers(self, layer):
            return []

        def set_quantize_weights(self, layer, quantize_weights):
            pass

        def set_quantize_activations(self, layer, quantize_activations):
            pass

        def get_output_quantizers(self, layer):
            return [
                quantizers.MovingAverageQuantizer(
                    num_bits=8, per_axis=False, symmetric=False, narrow_range=False
                )
            ]

        def get_config(self):
            return {}

    class KernelQuantizeConfig(QuantizeConfig):
        """Quantize one kernel (8-bit symmetric) and, if any, the fused activation."""

        def __init__(self, kernel: str = "kernel", quantize_activation: bool = True):
            self.kernel = kernel
            self.quantize_activation = quantize_activation

        def get_weights_and_quantizers(self, layer):
            return [
                (
                    getattr(layer, self.kernel),
                    quantizers.LastValueQuantizer(
                        num_bits=8, per_axis=False, symmetric=True, narrow_range=True
                    ),
                )
            ]

        def get_activations_and_quantizers(self, layer):
            if not self.quantize_activation:
                return []
            return [
                (
                    layer.activation,
                    quantizers.MovingAverageQuantizer(
                        num_bits=8, per_axis=False, symmetric=False, narrow_range=False
                    ),
                )
            ]

        def set_quantize_weights(self, layer, quantize_weights):
            setattr(layer, self.kernel, quantize_weights[0])

        def set_quantize_activations(self, layer, quantize_activations):
            if self.quantize_activation:
                layer.activation = quantize_activations[0]

        def get_output_quantizers(self, layer):
            return []

        def get_config(self):
            return {"kernel": self.kernel, "quantize_activation": self.quantize_activation}

    return {
        "OutputQuantizeConfig": OutputQuantizeConfig,
        "KernelQuantizeConfig": KernelQuantizeConfig,
    }


_FOLDED_INTO = ("Conv2D", "DepthwiseConv2D", "Dense")  # tfmot folds a BN that follows these


def _config_for(layer, configs, registry):
    """The `QuantizeConfig` for a layer, or None when tfmot's default scheme has one."""
    name = type(layer).__name__
    if registry.supports(layer):
        return None
    if name in ("Conv1D", "DepthwiseConv1D"):
        kernel = "depthwise_kernel" if name == "DepthwiseConv1D" else "kernel"
        # tfmot does not fold BN into 1D convolutions: the conv output (before
        # the BN's MUL/ADD) is quantized too, so every int8 tensor has a range.
        return configs["KernelQuantizeConfig"](kernel, True)
    if name == "BatchNormalization":
        inbound = layer._inbound_nodes[0].inbound_layers
        inbound = inbound[0] if isinstance(inbound, (list, tuple)) else inbound
        if type(inbound).__name__ in _FOLDED_INTO:
            return None
        return configs["OutputQuantizeConfig"]()
    if name in ("Normalization", "Multiply", "HardSwish", "HardSigmoid", "Rescaling", "Subtract"):
        return configs["OutputQuantizeConfig"]()
    return None


def quantize_tf_keras(tf_model):
    """Wrap a `tf_keras` model (from `to_tf_keras`) for quantization-aware training.

    Args:
        tf_model: A `tf_keras.Model` built by `to_tf_keras`.

    Returns:
        The QAT `tf_keras.Model` (fake-quantized; layers renamed `quant_*`),
        not compiled.

    Raises:
        BridgeError: A layer has no quantization rule (the message names it).

    Example:

    >>> qat_model = quantize_tf_keras(to_tf_keras(model))  # doctest: +SKIP
    """
    from .bridge import BridgeError, custom_layers

    tfmot = import_tfmot()
    import tf_keras

    from tensorflow_model_optimization.python.core.quantization.keras.default_8bit import (
        default_8bit_quantize_registry,
    )

    registry = default_8bit_quantize_registry.Default8BitQuantizeRegistry()
    configs = _quantize_configs(tfmot)
    qk = tfmot.quantization.keras
    chosen = {layer.name: _config_for(layer, configs, registry) for layer in tf_model.layers}

    def annotate(layer):
        config = chosen.get(layer.name)
        if config is not None:
            return qk.quantize_annotate_layer(layer, config)
        return qk.quantize_annotate_layer(layer) if _annotatable(layer) else layer

    def _annotatable(layer):
        return registry.supports(layer) or type(layer).__name__ == "BatchNormalization"

    scope = {**configs, **custom_layers()}
    with qk.quantize_scope(scope):
        annotated = tf_keras.models.clone_model(tf_model, clone_function=annotate)
        annotated.set_weights(tf_model.get_weights())
        try:
            return qk.quantize_apply(annotated)
        except (ValueError, RuntimeError) as e:
            raise BridgeError(f"tfmot could not quantize model {tf_model.name!r}: {e}") from e


def _tf_keras_to_int8(tf_model, calibration, what: str) -> bytes:
    """Convert a tf_keras model (QAT or plain) to a full-integer int8 flatbuffer."""
    import tensorflow as tf

    return run_converter(
        lambda: configure_quantization(tf.lite.TFLiteConverter.from_keras_model(tf_model), "int8", calibration),
        f"TFLite int8 conversion of the {what} model {tf_model.name!r}",
    )


def quantization_aware_training(
    model,
    x,
    y,
    validation_data=None,
    epochs: int = 5,
    batch_size: int = 32,
    learning_rate: float = 1e-4,
    representative_data=None,
    verbose: int = 0,
):
    """Fine-tune a Keras 3 model with fake quantization, then convert it to int8.

    The model is rebuilt in `tf_keras` (`to_tf_keras`), wrapped by tfmot's
    quantization (8-bit weights and activations as TFLite computes them),
    fine-tuned on `(x, y)` with Adam, and converted with
    `TFLiteConverter.from_keras_model` to a full-integer model (int8 input
    and output), which runs on LiteRT and TFLite Micro like
    `to_tflite(model, "int8")` does. The Keras 3 model is not modified.

    Args:
        model: A trained Keras 3 classifier (functional, one input, softmax
            or sigmoid output) made of layers `to_tf_keras` supports.
        x: Float training inputs `(n, *input_shape)`.
        y: Labels: integers `(n,)` or one-hot `(n, k)`.
        validation_data: Optional `(x_val, y_val)` reported in `history`.
        epochs: Fine-tuning epochs (a few are usually enough).
        batch_size: Batch size.
        learning_rate: Adam learning rate (smaller than for training from
            scratch: the model is already trained).
        representative_data: Float inputs used to calibrate tensors that no
            fake-quantization node covers; defaults to `x` (a fixed-seed
            subset of 200 rows).
        verbose: Keras `fit` verbosity.

    Returns:
        `(int8_bytes, qat_model, history)`: the int8 `.tflite` flatbuffer,
        the fine-tuned `tf_keras` QAT model, and the `History` of `fit`.

    Raises:
        ValueError: Missing or malformed data, or bad `epochs`,
            `batch_size` or `learning_rate`.
        BridgeError: A layer cannot be rebuilt in tf_keras or quantized.
        ConversionError: The converter failed.

    Example:

    >>> int8_bytes, qat_model, history = quantization_aware_training(
    ...     model, x_train, y_train, validation_data=(x_val, y_val), epochs=5)  # doctest: +SKIP
    >>> tflite.accuracy(int8_bytes, x_test, y_test)  # doctest: +SKIP
    """
    x, y = _check_data(model, x, y, "quantization_aware_training")
    _check_training_args(epochs, batch_size, learning_rate)
    if standardized_input(model, "int8"):
        warnings.warn(
            "The model's input features differ so much in scale that one int8 input scale loses the "
            "small ones; quantization_aware_training keeps the Normalization layer in the int8 file, "
            "so they are lost. Use to_tflite(model, 'int8', ...), whose file takes standardized "
            "features (keras_nas.tflite.standardization), or train on standardized features.",
            UserWarning, stacklevel=2)
    validation = _validation(validation_data)
    calibration = calibration_samples(x if representative_data is None else representative_data)
    tf_model = to_tf_keras(model)
    qat_model = quantize_tf_keras(tf_model)
    import tf_keras

    qat_model.compile(
        optimizer=tf_keras.optimizers.Adam(learning_rate),
        loss=_loss(model, y),
        metrics=["accuracy"],
    )
    history = qat_model.fit(
        x, y, validation_data=validation, epochs=int(epochs), batch_size=int(batch_size),
        verbose=verbose, shuffle=True,
    )
    return _tf_keras_to_int8(qat_model, calibration, "QAT"), qat_model, history


def weight_sparsity(tf_model) -> float:
    """Fraction of zero weights over the kernels of all conv and dense layers.

    Args:
        tf_model: A `tf_keras` (or Keras 3) model.

    Returns:
        Zeros / total over every `kernel`, `depthwise_kernel` and
        `pointwise_kernel` weight (biases and BN parameters are not pruned
        and not counted); 0.0 for a model without kernels.

    Example:

    >>> weight_sparsity(pruned_model)  # doctest: +SKIP
    0.5
    """
    zeros = total = 0
    for layer in tf_model.layers:
        for weight in layer.weights:
            name = weight.name.split("/")[-1].split(":")[0]
            if name in ("kernel", "depthwise_kernel", "pointwise_kernel"):
                values = np.asarray(weight.numpy())
                zeros += int(np.sum(values == 0))
                total += values.size
    return zeros / total if total else 0.0


def prune(
    model,
    x,
    y,
    target_sparsity: float = 0.5,
    epochs: int = 3,
    batch_size: int = 32,
    learning_rate: float = 1e-3,
    validation_data=None,
    representative_data=None,
    verbose: int = 0,
):
    """Prune a Keras 3 model to a target sparsity, fine-tune it, convert to int8.

    The model is rebuilt in `tf_keras`; every conv / dense layer is wrapped
    in tfmot's `prune_low_magnitude` with a polynomial schedule from 0 to
    `target_sparsity` over the first two thirds of the fine-tuning steps (the
    rest trains at the target), then `strip_pruning` removes the wrappers and
    the model is converted to full-integer int8 (calibrated on
    `representative_data`). The zeros do not shrink the `.tflite` by
    themselves (TFLite stores dense tensors) but compress well and suit
    sparse kernels. tfmot does not prune depthwise kernels
    (`DepthwiseConv1D/2D`), so the sparsity measured over all kernels stays
    below the target in models that have some.

    Args:
        model: A trained Keras 3 classifier (see `quantization_aware_training`).
        x: Float training inputs `(n, *input_shape)`.
        y: Labels: integers `(n,)` or one-hot `(n, k)`.
        target_sparsity: Fraction of kernel weights to zero, in `[0, 1)`.
        epochs: Fine-tuning epochs (at least 1).
        batch_size: Batch size.
        learning_rate: Adam learning rate (the default, 1e-3, lets the
            remaining weights recover from the pruning within a few epochs).
        validation_data: Optional `(x_val, y_val)` reported by `fit`.
        representative_data: Calibration inputs for int8; defaults to `x`.
        verbose: Keras `fit` verbosity.

    Returns:
        `(pruned_model, int8_bytes, sparsity)`: the stripped `tf_keras` model,
        its int8 `.tflite` flatbuffer and the sparsity measured on its
        weights (see `weight_sparsity`).

    Raises:
        ValueError: `target_sparsity` outside `[0, 1)`, missing or malformed
            data, or bad training arguments.
        BridgeError: A layer cannot be rebuilt in tf_keras.
        ConversionError: The converter failed.

    Example:

    >>> pruned, int8_bytes, sparsity = prune(model, x_train, y_train, 0.5)  # doctest: +SKIP
    """
    if not isinstance(target_sparsity, (int, float, np.floating)) or not 0.0 <= float(target_sparsity) < 1.0:
        raise ValueError(
            f"target_sparsity must be a fraction in [0, 1) (e.g. 0.5 to zero half the "
            f"weights), got {target_sparsity!r}."
        )
    x, y = _check_data(model, x, y, "prune")
    _check_training_args(epochs, batch_size, learning_rate)
    validation = _validation(validation_data)
    calibration = calibration_samples(x if representative_data is None else representative_data)
    tf_model = to_tf_keras(model)
    tfmot = import_tfmot()
    import tf_keras

    from .bridge import custom_layers

    sparsity = tfmot.sparsity.keras
    steps = int(epochs) * int(np.ceil(x.shape[0] / int(batch_size)))
    schedule = sparsity.PolynomialDecay(
        initial_sparsity=0.0,
        final_sparsity=float(target_sparsity),
        begin_step=0,
        end_step=max(1, (2 * steps) // 3),
        frequency=max(1, steps // 20),
    )
    from tensorflow_model_optimization.python.core.sparsity.keras import prune_registry

    def wrap(layer):
        prunable = any(
            w.name.split("/")[-1].split(":")[0] in ("kernel", "depthwise_kernel", "pointwise_kernel")
            for w in layer.weights
        )
        if prunable and prune_registry.PruneRegistry.supports(layer):
            return sparsity.prune_low_magnitude(layer, pruning_schedule=schedule)
        return layer

    # `wrap` returns the (trained) layers themselves, wrapped or not: no weights to copy.
    with tf_keras.utils.custom_object_scope(custom_layers()):
        wrapped = tf_keras.models.clone_model(tf_model, clone_function=wrap)
    wrapped.compile(
        optimizer=tf_keras.optimizers.Adam(learning_rate),
        loss=_loss(model, y),
        metrics=["accuracy"],
    )
    wrapped.fit(
        x, y, validation_data=validation, epochs=int(epochs), batch_size=int(batch_size),
        verbose=verbose, shuffle=True, callbacks=[sparsity.UpdatePruningStep()],
    )
    stripped = sparsity.strip_pruning(wrapped)
    return stripped, _tf_keras_to_int8(stripped, calibration, "pruned"), weight_sparsity(stripped)
