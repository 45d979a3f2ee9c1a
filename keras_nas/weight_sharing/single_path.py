"""Single-path one-shot (SPOS): train the supernet once, then score subnets with inherited weights.

Guo et al., "Single Path One-Shot Neural Architecture Search with Uniform
Sampling" (ECCV 2020): every training step updates one uniformly sampled path
of the supernet, so all subnets share, and train, the same weights. A subnet
is then scored without training: its batch-norm statistics are recomputed on
training data (they differ from path to path) and it is evaluated on the
validation data.
"""

from __future__ import annotations

import time

import keras
import numpy as np
import tensorflow as tf

from keras_nas.blocks.supernet import SuperNet

CALIBRATION_SAMPLES = 1024


def train_single_path(
    supernet: SuperNet,
    x: np.ndarray,
    y: np.ndarray,
    epochs: int,
    batch_size: int = 32,
    learning_rate: float = 0.05,
    validation_data: tuple | None = None,
    verbose: int = 1,
    warmup_fraction: float = 0.25,
) -> dict:
    """Trains `supernet`: the largest subnet first, then one random subnet per batch (SPOS).

    Uniform single-path sampling alone learns slowly on small data (every
    batch trains another subnet); starting from weights the largest subnet
    learned, as Once-for-All's progressive shrinking does, speeds it up.

    Args:
        supernet: The supernet (its architecture logits are not trained).
        x: Training inputs.
        y: Integer training labels.
        epochs: Epochs over `x`.
        batch_size: Batch size.
        learning_rate: Initial learning rate of SGD with Nesterov momentum 0.9 and
            cosine decay (as SPOS trains with SGD).
        validation_data: Optional `(x_val, y_val)`, scored on random paths.
        verbose: Keras progress verbosity.
        warmup_fraction: Share of the epochs spent on the largest subnet alone.

    Returns:
        The training history, `{metric: [value per epoch]}` over both phases.

    Example:

    ```python
    net = SuperNet(OneShotSpace(), (40, 1), 10)
    train_single_path(net, x_train, y_train, epochs=20)
    ```
    """
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"`epochs` must be a positive integer, got {epochs!r}.")
    for alpha in supernet.alphas:
        alpha.trainable = False
    warmup = int(np.ceil(warmup_fraction * epochs)) if epochs > 1 else 0
    # SGD, not Adam: a weight off the sampled path gets a zero gradient, and Adam's
    # per-weight scaling turns the rare updates of such weights into huge steps
    # (MNIST-1D, 600 steps of uniform sampling: loss 1.48 with SGD on the full space,
    # 2.18 with Adam on a reduced one; a single fixed subnet reaches 0.42 with Adam).
    steps = epochs * int(np.ceil(len(x) / batch_size))
    optimizer = keras.optimizers.SGD(
        keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=steps),
        momentum=0.9, nesterov=True,
    )
    history = {}
    # Phase 1 (Once-for-All's progressive shrinking, first step): the largest subnet alone.
    # Phase 2: one uniformly sampled subnet per batch. Each phase is compiled once.
    for mode, phase_epochs in (("fixed", warmup), ("sample", epochs - warmup)):
        if phase_epochs <= 0:
            continue
        if mode == "fixed":
            supernet.set_architecture(supernet.space.largest(supernet.rank))
        supernet.mode = mode
        supernet.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy",
                         metrics=["accuracy"], jit_compile=False)
        done = len(history.get("loss", []))
        phase = supernet.fit(
            x, y, batch_size=batch_size, epochs=done + phase_epochs, initial_epoch=done,
            shuffle=True, validation_data=validation_data, verbose=verbose,
            callbacks=[keras.callbacks.TerminateOnNaN()],
        )
        for key, values in phase.history.items():
            history.setdefault(key, []).extend(values)
    supernet.mode = "fixed"
    return history


class InheritedScorer:
    """Scores subnets of a trained supernet with the weights they inherit.

    For each subnet the batch-norm statistics are recomputed exactly on up to
    `CALIBRATION_SAMPLES` training samples (one forward pass in training mode
    with momentum 0), then the subnet is evaluated on the validation data.
    Both passes are compiled once: the subnet is chosen through variables.
    The scorer sets the supernet's batch-norm momentum to 0 for good: create
    it once the supernet is trained.

    Args:
        supernet: A trained `SuperNet`.
        x_calibration: Training inputs for the batch-norm statistics.
        x_val: Validation inputs.
        y_val: Integer validation labels.

    Example:

    ```python
    scorer = InheritedScorer(net, x_train, x_val, y_val)
    accuracy, loss = scorer.score(space.sample(rng, rank=1))
    ```
    """

    def __init__(self, supernet: SuperNet, x_calibration: np.ndarray, x_val: np.ndarray, y_val: np.ndarray):
        self.supernet = supernet
        rng = np.random.default_rng(0)
        take = min(len(x_calibration), CALIBRATION_SAMPLES)
        self.x_calibration = np.asarray(x_calibration[rng.permutation(len(x_calibration))[:take]], "float32")
        self.x_val = np.asarray(x_val, "float32")
        self.y_val = np.asarray(y_val).astype("int64")
        supernet.mode = "fixed"
        for layer in _batch_norms(supernet):
            layer.momentum = 0.0  # the statistics of the calibration batch, exactly
        self._calibrate = tf.function(lambda x: supernet(x, training=True))
        self._predict = tf.function(lambda x: supernet(x, training=False))
        self.seconds = 0.0

    def score(self, indices: dict[str, int]) -> tuple[float, float]:
        """Validation accuracy and loss of one subnet with inherited weights.

        Args:
            indices: The subnet, `{choice point: option index}`.

        Returns:
            `(accuracy, cross-entropy loss)` on the validation data.
        """
        start = time.perf_counter()
        self.supernet.set_architecture(indices)
        self._calibrate(self.x_calibration)
        probabilities = np.concatenate([
            self._predict(self.x_val[i:i + 1024]).numpy() for i in range(0, len(self.x_val), 1024)
        ])
        picked = probabilities[np.arange(len(self.y_val)), self.y_val]
        loss = float(-np.mean(np.log(np.clip(picked, 1e-7, 1.0))))
        accuracy = float(np.mean(np.argmax(probabilities, axis=1) == self.y_val))
        self.seconds += time.perf_counter() - start
        return accuracy, loss


def _batch_norms(model) -> list:
    """Every `BatchNormalization` layer inside `model`, nested layers included."""
    return [
        layer for layer in model._flatten_layers(include_self=False, recursive=True)
        if isinstance(layer, keras.layers.BatchNormalization)
    ]
