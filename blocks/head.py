"""Heads and MLP blocks: global pooling + classifier or regression output, and a dense stack."""

from __future__ import annotations

import keras
import keras_tuner

from . import hp_utils, ops
from .base import Block
from .conv import FloatArg, IntArg, StrArg

DROPOUTS = [0.0, 0.1, 0.25, 0.5]
UNITS = [16, 32, 64, 128, 256]
MIN_LAYERS = 1
MAX_LAYERS = 3


def _check_dropout(value) -> None:
    values = value if isinstance(value, (list, tuple)) else [value]
    for v in values:
        if v is not None and not 0.0 <= float(v) < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {v!r}.")


class ClassifierHead(Block):
    """Global pooling, dropout and the final `Dense` classifier.

    On a feature map (rank 3 or 4) the head first reduces the spatial
    dimensions with `pooling`: `"avg"` (`GlobalAveragePooling1D/2D`),
    `"flatten"` (`ops.FlattenToVector`, one int8 RESHAPE) or `"max"` (`GlobalMaxPooling1D/2D`). On a rank-2
    input nothing is pooled and no pooling hyperparameter is declared. A
    `Dropout` layer is only added when the rate is positive. The output layer
    is `Dense(num_classes, activation="softmax", name="predictions")`
    (`"sigmoid"` when `num_classes == 1`).

    Default space: pooling `["avg", "flatten", "max"]`, dropout
    `[0.0, 0.1, 0.25, 0.5]`.

    Args:
        num_classes: Number of classes (`1` for a binary sigmoid output).
        pooling: `"avg"`, `"flatten"` or `"max"`; `None` searches all, a list
            searches these values.
        dropout: Dropout rate before the classifier (same rules).
        name: Block name.

    Example:

    ```python
    hp = keras_tuner.HyperParameters()
    inputs = keras.Input((8, 8, 1))
    features = ConvSpace().build(hp, inputs)
    outputs = ClassifierHead(10).build(hp, features)
    model = keras.Model(inputs, outputs)
    ```
    """

    def __init__(
        self,
        num_classes: int,
        pooling: StrArg = None,
        dropout: FloatArg = None,
        name: str | None = None,
    ):
        super().__init__(name=name)
        if int(num_classes) < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes!r}.")
        poolings = pooling if isinstance(pooling, (list, tuple)) else [pooling]
        for p in poolings:
            if p is not None and p not in ops.POOLINGS:
                raise ValueError(
                    f"Unsupported pooling {p!r}; expected one of {ops.POOLINGS}."
                )
        _check_dropout(dropout)
        self.num_classes = int(num_classes)
        self.pooling = pooling
        self.dropout = dropout

    def build(self, hp: keras_tuner.HyperParameters, inputs):
        """Builds pooling, dropout and the classifier on `inputs`.

        Args:
            hp: The hyperparameters.
            inputs: Rank-2, rank-3 or rank-4 Keras tensor.

        Returns:
            The class probabilities, shape `(batch, num_classes)`.
        """
        x = inputs
        if len(x.shape) > 2:
            pooling = hp_utils.choice(hp, "pooling", self.pooling, ops.POOLINGS)
            if pooling is None:
                return inputs
            x = ops.global_pool(x, pooling, name=f"{self.name}_pool")
        dropout = hp_utils.choice(hp, "dropout", self.dropout, DROPOUTS)
        if dropout is None:
            return inputs
        if dropout > 0:
            x = keras.layers.Dropout(dropout, name=f"{self.name}_dropout")(x)
        return self.output_layer(x)

    def output_layer(self, x):
        """The last layer: `Dense(num_classes)` with softmax (sigmoid for one class)."""
        return keras.layers.Dense(
            self.num_classes,
            activation="sigmoid" if self.num_classes == 1 else "softmax",
            name="predictions",
        )(x)


class RegressionHead(ClassifierHead):
    """Global pooling, dropout and a linear `Dense(num_outputs)`: the head of a regression.

    As `ClassifierHead` (same pooling and dropout hyperparameters), but the
    output layer `Dense(num_outputs, name="predictions")` has no activation.

    Args:
        num_outputs: Number of target values per sample.
        pooling: `"avg"`, `"flatten"` or `"max"`; `None` searches all.
        dropout: Dropout rate before the output layer.
        name: Block name (default "regression_head").

    Example:

    ```python
    hp = keras_tuner.HyperParameters()
    outputs = RegressionHead(2).build(hp, DenseBlock().build(hp, keras.Input((10,))))
    ```
    """

    def __init__(self, num_outputs: int, pooling: StrArg = None, dropout: FloatArg = None,
                 name: str | None = None):
        super().__init__(num_outputs, pooling=pooling, dropout=dropout, name=name)

    def output_layer(self, x):
        """The last layer: a linear `Dense(num_outputs)`."""
        return keras.layers.Dense(self.num_classes, name="predictions")(x)


class DenseBlock(Block):
    """A stack of `Dense` - optional `BatchNormalization` - activation - `Dropout`.

    The MLP for rank-2 (tabular) inputs; a rank-3/4 input is flattened
    first. With `units=None` every layer has its own width `units_{i}`,
    declared under `hp.conditional_scope("num_layers", [i + 1, ...])`.

    Default space: num_layers `Int(1, 3)`, units `[16, 32, 64, 128, 256]` per
    layer, use_batchnorm `Boolean` (default `False`), activation
    `ACTIVATIONS`, dropout `[0.0, 0.1, 0.25, 0.5]`.

    Args:
        units: Width of every layer. `None` searches a width per layer, a list
            searches a width per layer among these values, an int fixes all.
        num_layers: Number of layers (same rules).
        dropout: Dropout rate after every layer (same rules).
        activation: One of `ACTIVATIONS` (same rules).
        use_batchnorm: Whether to add `BatchNormalization` after each `Dense`
            (`None` searches it).
        name: Block name.

    Example:

    ```python
    hp = keras_tuner.HyperParameters()
    y = DenseBlock(num_layers=2).build(hp, keras.Input((64,)))
    sorted(hp.values)
    # ['dense_block/activation', 'dense_block/dropout',
    #  'dense_block/units_0', 'dense_block/units_1', 'dense_block/use_batchnorm']
    ```
    """

    def __init__(
        self,
        units: IntArg = None,
        num_layers: IntArg = None,
        dropout: FloatArg = None,
        activation: StrArg = None,
        use_batchnorm: bool | None = None,
        name: str | None = None,
    ):
        super().__init__(name=name)
        ops.check_activation(activation)
        _check_dropout(dropout)
        self.units = units
        self.num_layers = num_layers
        self.dropout = dropout
        self.activation = activation
        self.use_batchnorm = use_batchnorm

    def build(self, hp: keras_tuner.HyperParameters, inputs):
        """Builds the dense stack on `inputs`.

        Args:
            hp: The hyperparameters.
            inputs: Keras tensor of rank >= 2.

        Returns:
            The output tensor of shape `(batch, units)`.
        """
        num_layers = hp_utils.integer(
            hp, "num_layers", self.num_layers, MIN_LAYERS, MAX_LAYERS
        )
        if self.num_layers is None:
            layer_counts = list(range(MIN_LAYERS, MAX_LAYERS + 1))
        elif isinstance(self.num_layers, (list, tuple)):
            layer_counts = sorted(int(v) for v in self.num_layers)
        else:
            layer_counts = [int(self.num_layers)]
        max_layers = layer_counts[-1]
        conditional = hp_utils.is_searched(self.num_layers)

        units = []
        for i in range(max_layers):
            if not hp_utils.is_searched(self.units):
                units.append(hp_utils.choice(hp, f"units_{i}", self.units, UNITS))
                continue
            active_counts = [c for c in layer_counts if c > i]
            if conditional and len(active_counts) < len(layer_counts):
                with hp.conditional_scope("num_layers", active_counts):
                    units.append(
                        hp_utils.choice(hp, f"units_{i}", self.units, UNITS)
                    )
            else:
                units.append(hp_utils.choice(hp, f"units_{i}", self.units, UNITS))
        use_batchnorm = hp_utils.boolean(
            hp, "use_batchnorm", self.use_batchnorm, default=False
        )
        activation = hp_utils.choice(
            hp, "activation", self.activation, ops.ACTIVATIONS
        )
        dropout = hp_utils.choice(hp, "dropout", self.dropout, DROPOUTS)
        if hp_utils.any_none(num_layers, use_batchnorm, activation, dropout):
            return inputs
        if hp_utils.any_none(*units[:num_layers]):
            return inputs

        n = self.name
        x = inputs
        if len(x.shape) > 2:
            x = ops.FlattenToVector(name=f"{n}_flatten")(x)
        for i in range(num_layers):
            x = keras.layers.Dense(
                units[i], use_bias=not use_batchnorm, name=f"{n}_dense_{i}"
            )(x)
            if use_batchnorm:
                x = ops.batch_norm(x, name=f"{n}_bn_{i}")
            x = ops.activation(x, activation, name=f"{n}_act_{i}")
            if dropout > 0:
                x = keras.layers.Dropout(dropout, name=f"{n}_dropout_{i}")(x)
        return x
