"""Differentiable architecture search (DARTS) on a `SuperNet`, optionally cost-aware.

Liu et al., "DARTS: Differentiable Architecture Search" (ICLR 2019), first-order
variant: every choice point mixes its options with the softmax of trainable
logits, and each training step alternates two updates:

1. the architecture logits take a step on a batch of the *architecture half*
   of the training data, on the cross-entropy plus the cost terms;
2. the network weights take a step on a batch of the *weight half*.

Cost terms (FBNet / ProxylessNAS style): the expected latency and flash of the
mixed network come from `SuperNet.expected_cost` through a `CostModel` fitted
on measured subnets. `latency_weight` adds `latency_weight * E[latency] /
reference_latency` (a pull towards faster nets); every constraint adds
`constraint_weight * max(0, E[cost] / limit - 1)` (a push back under the limit).
The discrete architecture is the most likely option of every choice point.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from keras_nas.blocks.supernet import SuperNet
from keras_nas.weight_sharing.cost_model import CostModel


class DartsTrainer:
    """Bilevel (first-order) DARTS training of a supernet's weights and architecture logits.

    Args:
        supernet: The `SuperNet` (put in `"softmax"` mode).
        cost_model: Turns op counts into latency (ms) and flash (KB); `None`
            trains on accuracy alone.
        limits: Hard limits to keep the expected cost under, e.g.
            `{"latency_ms": 5.0, "flash_kb": 64}` (needs `cost_model`).
        latency_weight: Weight of the expected-latency term (0 turns it off).
        reference_latency_ms: Latency that the latency term is relative to
            (e.g. the median of the calibration subnets).
        constraint_weight: Weight of the over-the-limit terms.
        learning_rate: Adam learning rate of the network weights.
        arch_learning_rate: Adam learning rate of the architecture logits.
        seed: Seed of the split of the training data into two halves.

    Example:

    ```python
    trainer = DartsTrainer(net, cost_model, limits={"flash_kb": 64})
    trainer.fit(x_train, y_train, epochs=10)
    indices = trainer.derive()
    ```
    """

    def __init__(
        self,
        supernet: SuperNet,
        cost_model: CostModel | None = None,
        limits: dict | None = None,
        latency_weight: float = 0.0,
        reference_latency_ms: float | None = None,
        constraint_weight: float = 1.0,
        learning_rate: float = 1e-3,
        arch_learning_rate: float = 3e-3,
        seed: int = 0,
    ):
        limits = {k: float(v) for k, v in (limits or {}).items() if v is not None}
        unknown = sorted(set(limits) - {"latency_ms", "flash_kb"})
        if unknown:
            raise ValueError(f"DARTS can keep latency_ms and flash_kb under limits, not {unknown}.")
        if (limits or latency_weight) and cost_model is None:
            raise ValueError("Limits and a latency weight need a cost_model (see fit_cost_model).")
        if latency_weight and not (reference_latency_ms and reference_latency_ms > 0):
            raise ValueError("A latency weight needs a positive reference_latency_ms.")
        self.supernet = supernet
        supernet.mode = "softmax"
        # A choice with one option has nothing to learn (and no gradient).
        self.arch_variables = [alpha for alpha in supernet.alphas if alpha.shape[0] > 1]
        self.cost_model = cost_model
        self.limits = limits
        self.latency_weight = float(latency_weight)
        self.reference_latency_ms = reference_latency_ms
        self.constraint_weight = float(constraint_weight)
        self.seed = seed
        self.loss = keras.losses.SparseCategoricalCrossentropy()
        self.optimizer = keras.optimizers.Adam(learning_rate)
        self.arch_optimizer = keras.optimizers.Adam(arch_learning_rate)
        self.history: list[dict] = []
        self._step = None

    def expected_costs(self) -> dict:
        """Expected latency (ms) and flash (KB) of the current mixture (tensors)."""
        return self.cost_model.predict(self.supernet.expected_cost())

    def cost_penalty(self):
        """The cost terms of the architecture loss."""
        if self.cost_model is None:
            return tf.constant(0.0)
        costs = self.expected_costs()
        penalty = tf.constant(0.0)
        if self.latency_weight:
            penalty += self.latency_weight * costs["latency_ms"] / self.reference_latency_ms
        for name, limit in self.limits.items():
            penalty += self.constraint_weight * tf.nn.relu(costs[name] / limit - 1.0)
        return penalty

    def train_step(self, weight_batch, arch_batch):
        """One bilevel step: architecture logits on `arch_batch`, then weights on `weight_batch`.

        Args:
            weight_batch: `(x, y)` from the weight half of the training data.
            arch_batch: `(x, y)` from the architecture half.

        Returns:
            `(weight loss, architecture cross-entropy, cost penalty)`.
        """
        net = self.supernet
        alphas = self.arch_variables
        weights = net.network_weights()
        x_arch, y_arch = arch_batch
        with tf.GradientTape() as tape:
            arch_ce = self.loss(y_arch, net(x_arch, training=True))
            penalty = self.cost_penalty()
            arch_loss = arch_ce + penalty
        self.arch_optimizer.apply(tape.gradient(arch_loss, alphas), alphas)
        x, y = weight_batch
        with tf.GradientTape() as tape:
            loss = self.loss(y, net(x, training=True))
        self.optimizer.apply(tape.gradient(loss, weights), weights)
        return loss, arch_ce, penalty

    def fit(self, x: np.ndarray, y: np.ndarray, epochs: int, batch_size: int = 32, verbose: int = 1) -> list[dict]:
        """Trains weights and architecture for `epochs` passes over the weight half.

        Args:
            x: Training inputs (split in two halves: weights, architecture).
            y: Integer training labels.
            epochs: Epochs.
            batch_size: Batch size of both halves.
            verbose: 1 prints one line per epoch.

        Returns:
            One dict per epoch: losses, expected costs and the most likely architecture.
        """
        if len(x) < 2 * batch_size:
            raise ValueError(
                f"DARTS splits the training data in two halves of batches of {batch_size}; "
                f"{len(x)} samples are too few. Lower batch_size or give more data."
            )
        net = self.supernet
        net.mode = "softmax"
        for alpha in net.alphas:
            alpha.trainable = True
        net(np.asarray(x[:2], "float32"), training=False)  # builds the layers
        self.optimizer.build(net.network_weights())
        self.arch_optimizer.build(self.arch_variables)
        if self._step is None:
            self._step = tf.function(self.train_step)
        rng = np.random.default_rng(self.seed)
        order = rng.permutation(len(x))
        half = len(x) // 2
        weight_idx, arch_idx = order[:half], order[half:2 * half]
        x = np.asarray(x, "float32")
        y = np.asarray(y).astype("int64")
        for epoch in range(epochs):
            w_order, a_order = rng.permutation(weight_idx), rng.permutation(arch_idx)
            totals = np.zeros(3)
            steps = half // batch_size
            for i in range(steps):
                w = w_order[i * batch_size:(i + 1) * batch_size]
                a = a_order[i * batch_size:(i + 1) * batch_size]
                out = self._step((x[w], y[w]), (x[a], y[a]))
                totals += [float(v) for v in out]
            loss, arch_ce, penalty = totals / max(1, steps)
            entry = {"epoch": epoch + 1, "loss": loss, "arch_loss": arch_ce, "cost_penalty": penalty,
                     "architecture": self.derive()}
            if self.cost_model is not None:
                entry.update({k: float(v) for k, v in self.expected_costs().items()})
            self.history.append(entry)
            if verbose:
                costs = (
                    f", expected latency {entry['latency_ms']:.3f} ms, flash {entry['flash_kb']:.1f} KB"
                    if self.cost_model is not None else ""
                )
                print(f"DARTS epoch {epoch + 1}/{epochs}: loss {loss:.4f}, architecture loss "
                      f"{arch_ce:.4f}, cost penalty {penalty:.4f}{costs}", flush=True)
        return self.history

    def distribution(self) -> dict[str, np.ndarray]:
        """The learned probabilities of every choice point's options."""
        return self.supernet.architecture_distribution()

    def derive(self) -> dict[str, int]:
        """The discrete architecture: the most likely option of every choice point."""
        return {name: int(np.argmax(p)) for name, p in self.distribution().items()}
