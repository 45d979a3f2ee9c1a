"""The Keras Tuner `HyperModel` that turns a search space of blocks into candidate models."""

from __future__ import annotations

import keras
import keras_tuner
import numpy as np

from keras_nas import blocks as blocks_module
from keras_nas.blocks.introspect import declared_hyperparameters
from keras_nas import tasks

LEARNING_RATES = [1e-3, 3e-3]

# Inputs whose every channel has |mean| and |std - 1| under this are already standardized:
# a `Normalization` layer would be near the identity, yet its SUB and MUL cost an int8 file
# about 0.5 KB of flash and 0.3 KB of arena (MNIST-1D's stride-1 CNN: 23.5 / 7.0 KB with it,
# 22.9 / 6.7 KB without), 2-5 % of a tiny board's budget.
STANDARDIZED_TOLERANCE = 0.05


def is_standardized(mean: np.ndarray | None, variance: np.ndarray | None) -> bool:
    """Whether inputs of these per-channel statistics are already standardized (`STANDARDIZED_TOLERANCE`)."""
    if mean is None or variance is None:
        return False
    std = np.sqrt(np.asarray(variance, np.float64))
    return bool(np.all(np.abs(np.asarray(mean, np.float64)) <= STANDARDIZED_TOLERANCE)
                and np.all(np.abs(std - 1.0) <= STANDARDIZED_TOLERANCE))


# A training is scored on the mean of its last epochs' validation metrics, not on
# the best epoch: the maximum over a noisy curve is biased upward (digits, 270
# validation images: candidates scored 98 % best-epoch and tested at 95.6 %),
# and keeping that epoch's weights cost the hand design 0.6 points of test
# accuracy against keeping the last ones (benchmarks/RESULTS.md, 2026-12-05).
SCORE_EPOCHS = 3


def settled_metrics(history: dict, epochs: int = SCORE_EPOCHS) -> dict:
    """Every metric of a training as the mean over its last `epochs` epochs.

    With the cosine schedule the learning rate is near its floor there, so the
    mean says where the training settled rather than where it peaked by chance.

    Args:
        history: `History.history` of a training run.
        epochs: How many of the last epochs are averaged.

    Returns:
        `{metric_name: mean of its last values}`.
    """
    return {name: float(np.mean(series[-epochs:])) for name, series in history.items() if len(series)}


def cosine_schedule(epochs: int, initial_epoch: int = 0) -> keras.callbacks.Callback:
    """Cosine decay of the learning rate over the epochs of a training, per epoch.

    Starts at the compiled learning rate and ends near a hundredth of it: with
    a fixed rate the last epochs of a small model jump between minima, and
    which one a trial stops in decides its score more than its architecture.
    """
    base: dict = {}

    def rate(epoch: int, current: float) -> float:
        base.setdefault("lr", float(current))
        progress = (epoch - initial_epoch) / max(1, epochs - initial_epoch)
        return base["lr"] * (0.01 + 0.99 * 0.5 * (1 + np.cos(np.pi * min(1.0, progress))))

    return keras.callbacks.LearningRateScheduler(rate)


def training_callbacks(epochs: int, initial_epoch: int = 0) -> list:
    """The callbacks every candidate and the final model train with: the cosine schedule.

    The weights of the last epoch are kept, as plain Keras keeps them.
    """
    return [cosine_schedule(epochs, initial_epoch)]


class NASHyperModel(keras_tuner.HyperModel):
    """Builds one candidate: normalization -> search space -> the task's head.

    The normalization layer holds the training data's per-channel mean and
    variance (none when the data is already standardized: `is_standardized`),
    so the exported model takes raw inputs; its int8 file does too,
    unless the channels differ so much in scale that one int8 input scale
    would lose the small ones: that file takes standardized inputs and says
    so in its metadata (`keras_nas.tflite.standardization`).

    Args:
        input_shape: Shape of one sample, without the batch axis.
        num_classes: Number of classes.
        space: A `keras_nas.blocks.Block` mapping inputs to features, or a
            preset name ("conv", "kws", "micro", "mobile", "mlp", "nb201",
            "mlperf-kws", "mlperf-vww", "mlperf-ic"; see `blocks.PRESETS`).
            `None` picks `keras_nas.blocks.default_space(input_shape)`.
        head: The classifier block; `None` searches `ClassifierHead(num_classes)`.
        mean: Per-channel mean of the inputs (or `None` to skip normalization).
        variance: Per-channel variance of the inputs.
        one_hot: Whether labels are one-hot (categorical loss) or indices.
        learning_rates: Adam learning rates to search over.
        task: What the model does (`keras_nas.tasks`): its head, loss,
            metrics and default space. Default "classification".
        targets: What the task read from the targets
            (`keras_nas.tasks.TargetInfo`); `None`: `num_classes` classes.
        objective: The search objective; every training is scored on its
            float metric (`Task.monitor`), averaged over the last epochs
            (`settled_metrics`). `None`: the task's default.
        validation: `(x_val, y_val)` for callbacks of the task that score
            the validation data themselves (the anomaly task's `val_auc`).
        front_end: For raw audio: the block that turns it into features
            before the space (`keras_nas.front_end_space.FrontEndSpace`), its
            choices searched with the network's. The inputs are then not
            normalized (the features are log-mel), and the default space is
            `"kws"`.

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
        task: "tasks.Task | str" = "classification",
        targets: "tasks.TargetInfo | None" = None,
        objective: str | None = None,
        validation: tuple | None = None,
        front_end: "blocks_module.Block | None" = None,
    ):
        super().__init__(name="nas_hypermodel")
        self.input_shape = tuple(input_shape)
        self.front_end = front_end
        if front_end is not None:
            mean = variance = None  # the front-end's log-mel features, not the raw audio, reach the space
            space = "kws" if space is None else space
        self.num_classes = num_classes
        self.task = tasks.get(task)
        self.targets = targets or tasks.TargetInfo(num_outputs=num_classes, one_hot=one_hot)
        self.objective = objective or self.task.default_objective
        self.validation = validation
        self.uses_default_space = space is None
        self.space = (
            blocks_module.get_space(space)
            if space is not None
            else self.task.default_space(self.input_shape)
        )
        self.head = head if head is not None else self.task.head(self.targets)
        # Already standardized inputs need no normalization layer (`is_standardized`).
        self.mean, self.variance = (None, None) if is_standardized(mean, variance) else (mean, variance)
        self.one_hot = one_hot
        self.learning_rates = list(learning_rates or LEARNING_RATES)

    def build_graph(self, hp: keras_tuner.HyperParameters) -> keras.Model:
        """The candidate's model, not compiled (what its cost depends on)."""
        inputs = keras.Input(self.input_shape, name="input")
        x = inputs
        if self.front_end is not None:
            x = self.front_end.build(hp, x)
        if self.mean is not None:
            x = keras.layers.Normalization(
                mean=self.mean, variance=self.variance, name="normalization"
            )(x)
        x = self.space.build(hp, x)
        if self.head is not None:
            x = self.head.build(hp, x)
        outputs = self.task.output_layers(x, self.targets, self.mean, self.variance)
        return keras.Model(inputs, outputs, name="candidate")

    @property
    def network_input_shape(self) -> tuple:
        """The shape one sample has where the space starts: the front-end's default features, else the input's."""
        if self.front_end is None:
            return self.input_shape
        features = self.front_end.build(keras_tuner.HyperParameters(), keras.Input(self.input_shape))
        return tuple(features.shape[1:])

    def build(self, hp: keras_tuner.HyperParameters) -> keras.Model:
        model = self.build_graph(hp)
        learning_rate = hp.Choice("learning_rate", self.learning_rates)
        model.compile(
            optimizer=keras.optimizers.Adam(learning_rate),
            **self.task.compile_kwargs(self.targets),
            # XLA on CPU compiles each new candidate for 20-50 s before its first
            # step (measured: 47 s vs 8 s for a 40-layer candidate); not worth it here.
            jit_compile=False,
        )
        return model

    def fit(self, hp, model, *args, **kwargs):
        """`model.fit` with a cosine learning-rate schedule (the last epoch's weights are kept).

        The task's own metric callbacks run first, so that every other callback
        (Keras Tuner's, the best-epoch keeper) sees their metrics.
        """
        has_validation = kwargs.get("validation_data") is not None
        scoring = self.task.callbacks(*self.validation) if has_validation and self.validation else []
        kwargs["callbacks"] = scoring + list(kwargs.get("callbacks") or []) + training_callbacks(
            int(kwargs.get("epochs", 1)), int(kwargs.get("initial_epoch", 0))
        )
        return model.fit(*args, **kwargs)

    def initial_architectures(self) -> list[dict]:
        """Expert designs of the space, tried before the strategy's own proposals.

        A search should start where an engineer would. A space that names its
        own designs (`Block.initial_architectures`, e.g. the MLPerf Tiny
        presets' reference models) gives them, with this model's head pooling
        globally by average, as those references do, dropout 0.1 and Adam at
        3e-3, as in the other designs. The default space gives five classic tiny designs, each a point
        of the default `ConvSpace`:

        - a plain CNN: conv 8 -> max-pool -> conv 16 -> flatten (what an
          engineer writes in five minutes for a board with a few KB);
        - a stride-1 conv stack: four conv 32 - batch norm - ReLU layers and
          global average pooling (the classic 1D CNN for sensor signals);
        - a DS-CNN (Zhang et al., "Hello Edge", 2017: stride-1 stem,
          depthwise-separable stages, global average pooling), which is also
          MobileNetV1's block;
        - a ResNet-8 as in the MLPerf Tiny image-classification reference
          (conv 16, three residual stages of 16, 32, 64, average pooling);
        - a small MobileNetV2-style inverted-residual net (expansion 4).

        For the anomaly task's default `DenseAutoencoder`: the MLPerf Tiny
        anomaly-detection reference (Dense 128 x4, bottleneck 8, batch norm).
        For tabular inputs' default `MLPSpace`: two hidden layers of 32, ReLU.

        `NASModel` scales their widths to the user's flash and RAM limits with
        `keras_nas.cost_predictor.scale_to_fit` before the search measures them.

        Returns:
            Hyperparameter values (architecture choices) of the designs; an
            empty list for a space without any.
        """
        if not (self.uses_default_space and isinstance(self.space, blocks_module.ConvSpace)):
            return self._space_designs()  # e.g. the default autoencoder's MLPerf Tiny AD reference
        if len(self.input_shape) not in (2, 3):
            return []
        stem_kernel = 5 if len(self.input_shape) == 2 else 3
        head = self.head.name
        common = {
            **self._expert_head(),
            # Adam at 3e-3 with the cosine schedule trains the plain CNN on digits to 96.9 % test
            # accuracy against 96.1 % at 1e-3 (median of 3 seeds, benchmarks/bench_recipe.py).
            "learning_rate": max(self.learning_rates),
            "conv_space/activation": "relu",
            "conv_space/stem/kernel_size": stem_kernel,
            "conv_space/stem/strides": 1,
        }

        def stage(i, block_type, depth, filters, strides, pool="none", kernel_size=3, **mbconv):
            values = {"block_type": block_type, "pool": pool, "depth": depth, "filters": filters,
                      "kernel_size": kernel_size, "strides": strides, **mbconv}
            return {f"conv_space/stage_{i}/{k}": v for k, v in values.items()}

        plain_cnn = {**common, "conv_space/stem/filters": 8, "conv_space/stem/kernel_size": 3,
                     "conv_space/num_stages": 1, f"{head}/pooling": "flatten",
                     f"{head}/dropout": 0.0, **stage(1, "conv", 1, 16, 1, pool="max")}
        conv_stack = {**common, "conv_space/stem/filters": 32, "conv_space/num_stages": 1,
                      f"{head}/dropout": 0.0,
                      **stage(1, "conv", 3, 32, 1, kernel_size=stem_kernel)}
        ds_cnn = {**common, "conv_space/stem/filters": 32, "conv_space/num_stages": 3,
                  **stage(1, "ds", 1, 32, 1), **stage(2, "ds", 2, 64, 2), **stage(3, "ds", 1, 64, 2)}
        resnet8 = {**common, "conv_space/stem/filters": 16, "conv_space/stem/kernel_size": 3,
                   "conv_space/num_stages": 3, **stage(1, "residual", 1, 16, 1),
                   **stage(2, "residual", 1, 32, 2), **stage(3, "residual", 1, 64, 2)}
        inverted = dict(expansion=4, se_ratio=0.0, skip=True)
        mobilenet = {**common, "conv_space/stem/filters": 16, "conv_space/num_stages": 2,
                     **stage(1, "mbconv", 2, 16, 2, **inverted), **stage(2, "mbconv", 2, 24, 2, **inverted)}
        return [plain_cnn, conv_stack, ds_cnn, resnet8, mobilenet]

    def _expert_head(self) -> dict:
        """The head and learning rate of the expert designs: global average pooling, dropout 0.1, Adam 3e-3.

        3e-3 (the largest searched rate) is the candidate recipe measured against plain Keras on the
        DS-CNN (`benchmarks/bench_recipe.py`); an autoencoder keeps its reference's 1e-3.
        """
        if self.head is None:  # a space that is the whole model (an autoencoder)
            return {"learning_rate": 1e-3}
        return {f"{self.head.name}/pooling": "avg", f"{self.head.name}/dropout": 0.1,
                "learning_rate": max(self.learning_rates)}

    def _space_designs(self) -> list[dict]:
        """The space's own designs (`Block.initial_architectures`), with the head values it declares."""
        designs = self.space.initial_architectures(self.network_input_shape)
        if not designs:
            return []
        declared = {hp.name for hp in declared_hyperparameters(self).space}
        head = {name: value for name, value in self._expert_head().items() if name in declared}
        return [{**head, **design} for design in designs]
