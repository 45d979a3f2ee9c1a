"""Hand designs: the small models an engineer writes for these tasks, to hold a search against.

The expert bar of keras-nas: a searched int8 winner must be at least as
accurate as these, within their flash and arena (`benchmarks/bench_expert.py`,
`python -m keras_nas.demo`). Each is a plain Keras Functional builder, with
the searched candidates' input normalization or (`mean=None`) without, as
an engineer writes it; `train_plainly`
trains one as an engineer would in plain Keras (Adam at 3e-3, no schedule,
the last epoch's weights), the baseline a search must beat;
`train_hand_design` trains one with the search's candidate recipe (Adam,
cosine schedule), to compare the recipes on the same architecture.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from keras_nas.blocks.ops import FlattenToVector
from keras_nas.hypermodel import training_callbacks


def _normalized(inputs, mean, variance):
    """The inputs through a `Normalization` with these statistics; unchanged when `mean` is `None`."""
    if mean is None:
        return inputs
    return keras.layers.Normalization(mean=mean, variance=variance)(inputs)


def plain_cnn(input_shape, num_classes, mean, variance) -> keras.Model:
    """conv 8 3x3 -> max-pool -> conv 16 3x3 -> flatten -> dense (no batch norm).

    Like every builder here, it normalizes its inputs with `mean` and
    `variance` unless `mean` is `None` (as an engineer's plain Keras model).
    """
    inputs = keras.Input(input_shape)
    x = _normalized(inputs, mean, variance)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(x)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu")(x)
    x = FlattenToVector()(x)
    return keras.Model(inputs, keras.layers.Dense(num_classes, activation="softmax")(x))


def stride1_cnn(input_shape, num_classes, mean, variance) -> keras.Model:
    """A stride-1 1D CNN: four conv 32 k5 - batch norm - ReLU layers, global average, dense.

    On MNIST-1D: 98.9 % int8 test accuracy at 24 KB of flash and a 7 KB arena
    (40 epochs, seed 1).
    """
    inputs = keras.Input(input_shape)
    x = _normalized(inputs, mean, variance)
    for _ in range(4):
        x = keras.layers.Conv1D(32, 5, padding="same", use_bias=False)(x)
        x = keras.layers.BatchNormalization()(x)
        x = keras.layers.ReLU()(x)
    x = keras.layers.GlobalAveragePooling1D()(x)
    return keras.Model(inputs, keras.layers.Dense(num_classes, activation="softmax")(x))


def mnist1d_paper_cnn(input_shape, num_classes, mean, variance) -> keras.Model:
    """The MNIST-1D paper's CNN (Greydanus 2020): three stride-2 convs of 25 channels, flatten, linear."""
    inputs = keras.Input(input_shape)
    x = _normalized(inputs, mean, variance)
    x = keras.layers.Conv1D(25, 5, strides=2, padding="same", activation="relu")(x)
    x = keras.layers.Conv1D(25, 3, strides=2, padding="same", activation="relu")(x)
    x = keras.layers.Conv1D(25, 3, strides=2, padding="same", activation="relu")(x)
    x = FlattenToVector()(x)
    return keras.Model(inputs, keras.layers.Dense(num_classes, activation="softmax")(x))


def ds_cnn(input_shape, num_classes, mean, variance, width: int = 64) -> keras.Model:
    """The MLPerf Tiny keyword-spotting DS-CNN (`keyword_spotting/keras_model.py`, after Zhang et al. 2017).

    A 10x4 conv of `width` filters with stride 2 along time and frequency,
    batch norm, ReLU, dropout 0.2; four depthwise-separable layers (3x3
    depthwise, batch norm, ReLU, 1x1 conv of `width`, batch norm, ReLU);
    dropout 0.4, global average pooling, dense. `width=64` is the reference;
    a smaller width is the reference shrunk to fit a smaller board.
    """
    inputs = keras.Input(input_shape)
    x = _normalized(inputs, mean, variance)
    x = keras.layers.Conv2D(width, (10, 4), strides=2, padding="same", use_bias=False)(x)
    x = keras.layers.ReLU()(keras.layers.BatchNormalization()(x))
    x = keras.layers.Dropout(0.2)(x)
    for _ in range(4):
        x = keras.layers.DepthwiseConv2D(3, padding="same", use_bias=False)(x)
        x = keras.layers.ReLU()(keras.layers.BatchNormalization()(x))
        x = keras.layers.Conv2D(width, 1, use_bias=False)(x)
        x = keras.layers.ReLU()(keras.layers.BatchNormalization()(x))
    x = keras.layers.Dropout(0.4)(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(num_classes, activation="softmax")(x))


def meter_cnn(input_shape, num_classes, mean, variance, width: int = 16) -> keras.Model:
    """A small image CNN for 32x32 crops (a meter digit): three conv 3x3 - batch norm - ReLU - max-pool
    stages of `width`, 2 x `width` and 4 x `width` filters, flatten, dense.

    What an engineer writes first for a camera-read digit on a microcontroller
    (`keras_nas.meter_digits`); at 32x32 its arena is the first stage's
    activations. `width=16` is the reference; a smaller width is it shrunk to
    fit a smaller board.
    """
    inputs = keras.Input(input_shape)
    x = _normalized(inputs, mean, variance)
    for filters in (width, 2 * width, 4 * width):
        x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
        x = keras.layers.ReLU()(keras.layers.BatchNormalization()(x))
        x = keras.layers.MaxPooling2D()(x)
    x = FlattenToVector()(x)
    return keras.Model(inputs, keras.layers.Dense(num_classes, activation="softmax")(x))


HAND_DESIGNS = {"plain_cnn": plain_cnn, "stride1_cnn": stride1_cnn, "mnist1d_paper_cnn": mnist1d_paper_cnn,
                "ds_cnn": ds_cnn, "meter_cnn": meter_cnn}
# The hand design an engineer writes for each built-in data set (`keras_nas.datasets.DATASETS`).
HAND_DESIGN_OF = {"digits": "plain_cnn", "mnist1d": "stride1_cnn", "spoken_words": "ds_cnn",
                  "meter_digits": "meter_cnn"}


def train_plainly(model: keras.Model, train, epochs: int = 60, batch_size: int = 32,
                  learning_rate: float = 3e-3) -> keras.Model:
    """Trains a hand design as an engineer does in plain Keras: Adam, fixed rate, the last epoch.

    No schedule, no selection of an epoch on validation data: the model is
    what the last epoch left, trained on the training split only.

    Args:
        model: A model from one of the builders.
        train: `(x, y)` training arrays (integer labels).
        epochs: Epochs.
        batch_size: Batch size.
        learning_rate: Adam's learning rate.

    Returns:
        The trained model.
    """
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"], jit_compile=False)
    model.fit(*train, epochs=epochs, batch_size=batch_size, verbose=0)
    return model


def train_hand_design(model: keras.Model, train, validation, epochs: int, batch_size: int = 32,
                      learning_rate: float = 3e-3) -> keras.Model:
    """Trains a hand design as the search trains its candidates.

    Args:
        model: A model from one of the builders.
        train: `(x, y)` training arrays (integer labels).
        validation: `(x, y)` validation arrays.
        epochs: Epochs.
        batch_size: Batch size.
        learning_rate: Adam's initial learning rate.

    Returns:
        The model, with the weights of its last epoch.
    """
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"], jit_compile=False)
    model.fit(*train, validation_data=validation, epochs=epochs, batch_size=batch_size, verbose=0,
              callbacks=training_callbacks(epochs))
    return model


def int8_figures(model: keras.Model, representative_x: np.ndarray, x_test: np.ndarray,
                 y_test: np.ndarray) -> dict[str, Any]:
    """Measures a trained model as the search measures its winner: the int8 file that ships.

    Flash is the size of the file `NASModel.export` writes (metadata included),
    the figure the search holds its candidates to; the arena is TFLite Micro's.
    A hand design measured this way can be compared with the winner byte for
    byte, and its figures can serve as the search's limits.

    Args:
        model: A trained Keras model (a hand design or a winner).
        representative_x: Calibration inputs of the int8 conversion.
        x_test: Test inputs.
        y_test: Integer test labels.

    Returns:
        `int8_test_accuracy` (LiteRT), `flash_kb`, `peak_ram_kb` and `latency_ms`
        (for a model on raw audio: the whole pipeline's flash and arena, the
        network's accuracy on TFLite Micro's features).
    """
    from keras_nas.tflite import accuracy
    from keras_nas.tflite.front_end_layer import network_inputs
    from keras_nas.tflite.measurement import Measurer

    content, cost = Measurer("host", representative_x, latency_runs=10).measure_shipped(model)
    # A model on raw audio ships its front-end and the int8 network on its features (both counted in `cost`).
    accuracy_int8 = accuracy(content, network_inputs(model, x_test), y_test)
    return {"int8_test_accuracy": float(accuracy_int8), "flash_kb": cost.flash_kb,
            "peak_ram_kb": cost.peak_ram_kb, "latency_ms": cost.latency_ms}
