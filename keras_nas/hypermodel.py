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
        space: A `keras_nas.blocks.Block` mapping inputs to features, or a
            preset name ("conv", "kws", "micro", "mobile", "mlp", "nb201").
            `None` picks `keras_nas.blocks.default_space(input_shape)`.
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
        self.uses_default_space = space is None
        self.space = (
            blocks_module.get_space(space)
            if space is not None
            else blocks_module.default_space(self.input_shape)
        )
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

    def initial_architectures(self) -> list[dict]:
        """Expert designs of the default space, tried before the strategy's own proposals.

        A search should start where an engineer would: a DS-CNN (Zhang et al.,
        "Hello Edge", 2017: stride-1 stem, depthwise-separable stages, global
        average pooling) and a small MobileNetV2-style inverted-residual net
        (expansion 4, stages of 16 and 24 filters). Both fit 64 KB of flash as
        int8 on digits (8x8x1) and MNIST-1D (40x1). Evolution then improves on
        whichever fits and scores best. Designs that break the constraints are
        rejected like any candidate, before training.

        Returns:
            Hyperparameter values (architecture choices) for the default
            convolutional space; an empty list for other spaces.
        """
        if not self.uses_default_space or len(self.input_shape) not in (2, 3):
            return []
        stem_kernel = 5 if len(self.input_shape) == 2 else 3
        common = {
            "conv_space/activation": "relu",
            "conv_space/stem/kernel_size": stem_kernel,
            "conv_space/stem/strides": 1,
            "classifier_head/pooling": "avg",
            "classifier_head/dropout": 0.1,
            "learning_rate": 1e-3,
        }

        def stage(i, block_type, depth, filters, strides, **mbconv):
            values = {"block_type": block_type, "depth": depth, "filters": filters,
                      "kernel_size": 3, "strides": strides, **mbconv}
            return {f"conv_space/stage_{i}/{k}": v for k, v in values.items()}

        ds_cnn = {**common, "conv_space/stem/filters": 32, "conv_space/num_stages": 3,
                  **stage(1, "ds", 1, 32, 1), **stage(2, "ds", 2, 64, 2), **stage(3, "ds", 1, 64, 2)}
        # Int8 flash with trained weights: 16/24 filters 46 KB (digits) / 58 KB (MNIST-1D);
        # 16/32 filters 52 / 64.3 KB and 24/48 filters 79 / 90 KB (over a 64 KB limit).
        # Expansion 4 is one of the space's choices (`blocks.conv.EXPANSIONS`); 3 is not.
        inverted = dict(expansion=4, se_ratio=0.0, skip=True)
        mobilenet = {**common, "conv_space/stem/filters": 16, "conv_space/num_stages": 2,
                     **stage(1, "mbconv", 2, 16, 2, **inverted), **stage(2, "mbconv", 2, 24, 2, **inverted)}
        return [ds_cnn, mobilenet]
