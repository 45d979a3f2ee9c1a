"""The Keras Tuner `HyperModel` that turns a search space of blocks into candidate models."""

from __future__ import annotations

import keras
import keras_tuner
import numpy as np

from keras_nas import blocks as blocks_module

LEARNING_RATES = [1e-3, 3e-3]


class NASHyperModel(keras_tuner.HyperModel):
    """Builds one candidate: normalization -> search space -> classifier head.

    The normalization layer holds the training data's per-channel mean and
    variance, so the exported model takes raw inputs; it quantizes into the
    int8 input stage of the TFLite model.

    Args:
        input_shape: Shape of one sample, without the batch axis.
        num_classes: Number of classes.
        space: A `keras_nas.blocks.Block` mapping inputs to features. `None`
            picks `keras_nas.blocks.default_space(input_shape)`.
        head: The classifier block; `None` searches `ClassifierHead(num_classes)`.
        mean: Per-channel mean of the inputs (or `None` to skip normalization).
        variance: Per-channel variance of the inputs.
        one_hot: Whether labels are one-hot (categorical loss) or indices.
        learning_rates: Adam learning rates to search over.

    Example:

    ```python
    hypermodel = NASHyperModel(input_shape=(8, 8, 1), num_classes=10)
    model = hypermodel.build(keras_tuner.HyperParameters())
    ```
    """

    def __init__(
        self,
        input_shape: tuple,
        num_classes: int,
        space: "blocks_module.Block | None" = None,
        head: "blocks_module.Block | None" = None,
        mean: np.ndarray | None = None,
        variance: np.ndarray | None = None,
        one_hot: bool = False,
        learning_rates: list[float] | None = None,
    ):
        super().__init__(name="nas_hypermodel")
        self.input_shape = tuple(input_shape)
        self.num_classes = num_classes
        self.space = space if space is not None else blocks_module.default_space(self.input_shape)
        self.head = head if head is not None else blocks_module.ClassifierHead(num_classes)
        self.mean = mean
        self.variance = variance
        self.one_hot = one_hot
        self.learning_rates = list(learning_rates or LEARNING_RATES)

    def build(self, hp: keras_tuner.HyperParameters) -> keras.Model:
        inputs = keras.Input(self.input_shape, name="input")
        x = inputs
        if self.mean is not None:
            x = keras.layers.Normalization(
                mean=self.mean, variance=self.variance, name="normalization"
            )(x)
        x = self.space.build(hp, x)
        outputs = self.head.build(hp, x)
        model = keras.Model(inputs, outputs, name="candidate")
        learning_rate = hp.Choice("learning_rate", self.learning_rates)
        model.compile(
            optimizer=keras.optimizers.Adam(learning_rate),
            loss=(
                "categorical_crossentropy" if self.one_hot else "sparse_categorical_crossentropy"
            ),
            metrics=["accuracy"],
            # XLA on CPU compiles each new candidate for 20-50 s before its first
            # step (measured: 47 s vs 8 s for a 40-layer candidate); not worth it here.
            jit_compile=False,
        )
        return model
