"""Autoencoder search spaces for anomaly detection: the output reconstructs the input.

An anomaly detector trained on normal data only scores a sample by how badly
it is reconstructed. Both blocks map an input to a tensor of the same shape.

- `DenseAutoencoder`: flattened input -> Dense stack -> bottleneck -> Dense
  stack -> Dense(prod(input_shape)) -> input shape. Its point
  `DenseAutoencoder.MLPERF_AD` is the MLPerf Tiny anomaly-detection reference
  (640 inputs, Dense 128 + BN + ReLU x4, bottleneck 8, Dense 128 x4, output
  640: 269,992 parameters).
- `ConvAutoencoder1D`: strided Conv1D encoder and a Conv1DTranspose decoder
  for 1D signals `(length, channels)`.
"""

from __future__ import annotations

import math

import keras
import keras_tuner

from . import hp_utils, ops
from .base import Block
from .conv import IntArg, StrArg

AE_UNITS = [32, 64, 128]
AE_LAYERS = [1, 2, 3, 4]
BOTTLENECKS = [4, 8, 16]
AE_FILTERS = [8, 16, 32]
AE_STAGES = [1, 2]
AE_KERNELS = [3, 5]


class DenseAutoencoder(Block):
    """A symmetric dense autoencoder: encoder, bottleneck, mirrored decoder, linear output.

    Every hidden layer is `Dense` - optional `BatchNormalization` - activation;
    the encoder and the decoder have `num_layers` layers of `units` each, the
    bottleneck `bottleneck` units, and the output is a linear `Dense` with one
    unit per input value, reshaped to the input's shape.

    Default space: num_layers `[1, 2, 3, 4]` per side, units `[32, 64, 128]`,
    bottleneck `[4, 8, 16]`, use_batchnorm `Boolean`, activation
    `["relu"]`.

    Args:
        units: Width of the hidden layers (int fixes it, list searches it,
            `None` searches `AE_UNITS`).
        num_layers: Hidden layers per side (same rules, `AE_LAYERS`).
        bottleneck: Width of the code (same rules, `BOTTLENECKS`).
        activation: Activation of the hidden layers (default "relu").
        use_batchnorm: Batch normalization after each hidden `Dense`
            (`None` searches it).
        name: Block name.

    Example:

    ```python
    hp = keras_tuner.HyperParameters()
    inputs = keras.Input((640,))
    outputs = DenseAutoencoder(**DenseAutoencoder.MLPERF_AD).build(hp, inputs)
    keras.Model(inputs, outputs).count_params()  # 269992
    ```
    """

    # The MLPerf Tiny anomaly-detection reference (ToyADMOS, 5 frames x 128 mel bands).
    MLPERF_AD = {"units": 128, "num_layers": 4, "bottleneck": 8, "use_batchnorm": True,
                 "activation": "relu"}
    MLPERF_AD_PARAMS = 269_992
    MLPERF_AD_INPUT_SHAPE = (640,)

    def __init__(
        self,
        units: IntArg = None,
        num_layers: IntArg = None,
        bottleneck: IntArg = None,
        activation: StrArg = "relu",
        use_batchnorm: bool | None = None,
        name: str | None = None,
    ):
        super().__init__(name=name)
        ops.check_activation(activation)
        self.units = units
        self.num_layers = num_layers
        self.bottleneck = bottleneck
        self.activation = activation
        self.use_batchnorm = use_batchnorm

    def initial_architectures(self, input_shape: tuple) -> list[dict]:
        """The MLPerf Tiny AD reference, when it is a point of this space (see `Block.initial_architectures`)."""
        given = {"units": self.units, "num_layers": self.num_layers, "bottleneck": self.bottleneck,
                 "use_batchnorm": self.use_batchnorm}
        defaults = {"units": AE_UNITS, "num_layers": AE_LAYERS, "bottleneck": BOTTLENECKS,
                    "use_batchnorm": [False, True]}
        design = {}
        for key, value in given.items():
            reference = self.MLPERF_AD[key]
            if not hp_utils.is_searched(value):
                if hp_utils.fixed_value(value) != reference:
                    return []
                continue
            if reference not in (defaults[key] if value is None else list(value)):
                return []
            design[f"{self.name}/{key}"] = reference
        return [design]

    def build(self, hp: keras_tuner.HyperParameters, inputs):
        """Builds the autoencoder on `inputs`; returns the reconstruction (shape of `inputs`)."""
        units = hp_utils.choice(hp, "units", self.units, AE_UNITS)
        num_layers = hp_utils.choice(hp, "num_layers", self.num_layers, AE_LAYERS)
        bottleneck = hp_utils.choice(hp, "bottleneck", self.bottleneck, BOTTLENECKS)
        use_batchnorm = hp_utils.boolean(hp, "use_batchnorm", self.use_batchnorm, default=False)
        activation = hp_utils.choice(hp, "activation", self.activation, ops.ACTIVATIONS)
        if hp_utils.any_none(units, num_layers, bottleneck, use_batchnorm, activation):
            return inputs
        shape = tuple(int(d) for d in inputs.shape[1:])
        x = ops.FlattenToVector(name=f"{self.name}_flatten")(inputs) if len(shape) > 1 else inputs
        widths = [units] * num_layers + [bottleneck] + [units] * num_layers
        for i, width in enumerate(widths):
            x = keras.layers.Dense(width, name=f"{self.name}_dense_{i}")(x)
            if use_batchnorm:
                x = keras.layers.BatchNormalization(name=f"{self.name}_bn_{i}")(x)
            x = ops.activation(x, activation, name=f"{self.name}_act_{i}")
        x = keras.layers.Dense(math.prod(shape), name=f"{self.name}_output")(x)
        if len(shape) > 1:
            x = keras.layers.Reshape(shape, name=f"{self.name}_reshape")(x)
        return x


class ConvAutoencoder1D(Block):
    """A 1D convolutional autoencoder for signals `(length, channels)`.

    Encoder: `stages` Conv1D (stride 2) - activation layers of `filters`,
    `2 * filters`, ...; decoder: as many Conv1DTranspose (stride 2) -
    activation layers back to the input length, then a linear Conv1D (kernel
    1) to the input's channels. The length must be divisible by
    `2 ** stages`.

    Default space: stages `[1, 2]`, filters `[8, 16, 32]`, kernel_size
    `[3, 5]`, activation "relu".

    Args:
        filters: Filters of the first stage (int fixes, list searches, `None`
            searches `AE_FILTERS`).
        stages: Downsampling stages (same rules, `AE_STAGES`).
        kernel_size: Kernel length (same rules, `AE_KERNELS`).
        activation: Activation (default "relu").
        name: Block name.

    Example:

    ```python
    hp = keras_tuner.HyperParameters()
    outputs = ConvAutoencoder1D(filters=8, stages=2).build(hp, keras.Input((40, 1)))
    outputs.shape  # (None, 40, 1)
    ```
    """

    def __init__(
        self,
        filters: IntArg = None,
        stages: IntArg = None,
        kernel_size: IntArg = None,
        activation: StrArg = "relu",
        name: str | None = None,
    ):
        super().__init__(name=name or "conv_autoencoder")
        ops.check_activation(activation)
        self.filters = filters
        self.stages = stages
        self.kernel_size = kernel_size
        self.activation = activation

    def build(self, hp: keras_tuner.HyperParameters, inputs):
        """Builds the autoencoder on `inputs` `(batch, length, channels)`; returns the reconstruction."""
        if len(inputs.shape) != 3:
            raise ValueError(
                f"ConvAutoencoder1D needs signals of shape (length, channels), got samples of shape "
                f"{tuple(inputs.shape[1:])}; use DenseAutoencoder for feature vectors."
            )
        filters = hp_utils.choice(hp, "filters", self.filters, AE_FILTERS)
        stages = hp_utils.choice(hp, "stages", self.stages, AE_STAGES)
        kernel_size = hp_utils.choice(hp, "kernel_size", self.kernel_size, AE_KERNELS)
        activation = hp_utils.choice(hp, "activation", self.activation, ops.ACTIVATIONS)
        if hp_utils.any_none(filters, stages, kernel_size, activation):
            return inputs
        length, channels = int(inputs.shape[1]), int(inputs.shape[2])
        if length % (2**stages):
            raise ValueError(
                f"ConvAutoencoder1D with {stages} stage(s) halves the length {stages} time(s): the "
                f"signal length {length} must be divisible by {2**stages}. Pad or crop the signals, "
                "or fix `stages` lower."
            )
        n = self.name
        x = inputs
        for i in range(stages):
            x = keras.layers.Conv1D(filters * 2**i, kernel_size, strides=2, padding="same",
                                    name=f"{n}_encode_{i}")(x)
            x = ops.activation(x, activation, name=f"{n}_encode_act_{i}")
        for i in reversed(range(stages)):
            x = keras.layers.Conv1DTranspose(filters * 2**i, kernel_size, strides=2, padding="same",
                                             name=f"{n}_decode_{i}")(x)
            x = ops.activation(x, activation, name=f"{n}_decode_act_{i}")
        return keras.layers.Conv1D(channels, 1, name=f"{n}_output")(x)
