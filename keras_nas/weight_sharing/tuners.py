"""Tuners for weight-sharing search: one-shot (SPOS) and differentiable (DARTS).

Both train a `SuperNet` of a `OneShotSpace` once, before the trials, and keep
what it learned in the project directory, so a resumed search does not train
it again. Trials are then ordinary `NASTuner` trials: each candidate is built
stand-alone, converted and *measured* (flash, TFLite Micro arena, latency)
and rejected before any training if it breaks a limit; only how it is scored
differs:

- `OneShotTuner`: a candidate is scored with the weights it inherits from
  the supernet (batch-norm statistics recomputed), in a fraction of a second,
  so the strategy (evolution, Pareto, random) can afford many trials;
- `DartsTuner`: DARTS learns a distribution over the choices; its oracle
  (`LearnedDistribution`) proposes the derived architecture first, then
  samples, and each candidate is trained stand-alone as usual.

Either way the winner is retrained from scratch by `NASModel.fit`.
"""

from __future__ import annotations

import json
import os
import time

import keras
import keras_tuner
import numpy as np

from keras_nas import distributed
from keras_nas.data import _as_class_indices, _take_from_dataset
from keras_nas.blocks.oneshot_space import OneShotSpace
from keras_nas.blocks.supernet import SuperNet
from keras_nas.run_record import DARTS_FILE, SUPERNET_WEIGHTS, atomic_write_json
from keras_nas.strategies.learned import LearnedDistribution
from keras_nas.tuner import NASTuner
from keras_nas.weight_sharing.cost_model import CostModel, fit_cost_model
from keras_nas.weight_sharing.darts import DartsTrainer
from keras_nas.weight_sharing.single_path import InheritedScorer, train_single_path


class WeightSharingTuner(NASTuner):
    """Base of the weight-sharing tuners: the supernet and the data it trains on.

    Args:
        hypermodel: A `NASHyperModel` whose space is a `OneShotSpace`.
        oracle: The strategy that proposes subnets.
        supernet_epochs: Epochs of supernet training; `None` uses
            `3 * epochs` (at least 10) of the search's `fit` call.
        supernet_learning_rate: Learning rate of the supernet weights; `None`
            uses 0.05 for one-shot (SGD) and 1e-3 for DARTS (Adam).
        **kwargs: As for `NASTuner` (constraints, target, directory, ...).
    """

    def __init__(self, hypermodel, oracle, supernet_epochs: int | None = None,
                 supernet_learning_rate: float | None = None, **kwargs):
        space = getattr(hypermodel, "space", None)
        if not isinstance(space, OneShotSpace):
            raise ValueError(
                f"Weight-sharing search needs a OneShotSpace (the space a supernet covers), got "
                f"{type(space).__name__}. Use NASModel(space=None) or "
                "space=keras_nas.blocks.OneShotSpace(...)."
            )
        if supernet_epochs is not None and (not isinstance(supernet_epochs, int) or supernet_epochs < 1):
            raise ValueError(f"`supernet_epochs` must be a positive integer, got {supernet_epochs!r}.")
        if distributed.is_chief() or distributed.is_worker():
            raise ValueError(
                "Weight-sharing strategies ('oneshot', 'darts') run in one process: the supernet "
                "is trained once, before the trials. Unset KERASTUNER_TUNER_ID to run them."
            )
        super().__init__(hypermodel, oracle, **kwargs)
        self.space = space
        self.rank = len(hypermodel.input_shape) - 1
        self.supernet_epochs = supernet_epochs
        self.supernet_learning_rate = supernet_learning_rate
        self.supernet: SuperNet | None = None
        self.supernet_seconds = 0.0

    def search(self, *fit_args, **fit_kwargs):
        x, y = _arrays(fit_args)
        validation = fit_kwargs.get("validation_data")
        x_val, y_val = _arrays(validation if isinstance(validation, tuple) else (validation,))
        epochs = self.supernet_epochs or max(10, 3 * int(fit_kwargs.get("epochs", 1)))
        verbose = self.trial_verbose
        start = time.perf_counter()
        self.prepare(x, y, x_val, y_val, epochs, int(fit_kwargs.get("batch_size") or 32), verbose)
        self.supernet_seconds = time.perf_counter() - start
        super().search(*fit_args, **fit_kwargs)

    def prepare(self, x, y, x_val, y_val, epochs: int, batch_size: int, verbose: int) -> None:
        """Trains (or reloads) the supernet before the trials; implemented by each tuner."""
        raise NotImplementedError

    def new_supernet(self) -> SuperNet:
        """A freshly initialised supernet of the space, seeded by the search seed."""
        keras.utils.set_random_seed(int(self.oracle.seed))
        hm = self.hypermodel
        return SuperNet(self.space, hm.input_shape, hm.num_classes, mean=hm.mean,
                        variance=hm.variance, seed=int(self.oracle.seed))

    def search_summary(self) -> dict:
        summary = super().search_summary()
        summary["supernet_seconds"] = self.supernet_seconds
        return summary


class OneShotTuner(WeightSharingTuner):
    """Single-path one-shot search: subnets scored with weights inherited from one supernet.

    The supernet is trained with uniform single-path sampling
    (`train_single_path`) and saved as `supernet.weights.h5` in the project
    directory. Each trial measures the stand-alone subnet's real cost, then
    reports `val_accuracy`/`val_loss` of the subnet with inherited weights
    (`InheritedScorer`); the score is a ranking signal, the winner is
    retrained from scratch.

    Args:
        **kwargs: As for `WeightSharingTuner`.

    Example:

    ```python
    model = NASModel(strategy="oneshot", max_trials=100,
                     strategy_kwargs={"supernet_epochs": 30})
    ```
    """

    def prepare(self, x, y, x_val, y_val, epochs, batch_size, verbose):
        path = os.path.join(self.project_dir, SUPERNET_WEIGHTS)
        self.supernet = self.new_supernet()
        if os.path.exists(path):
            self.supernet.load_weights(path)
            if verbose:
                print(f"Reusing the trained supernet in {path}.")
        else:
            if verbose:
                print(f"Training the one-shot supernet for {epochs} epochs: the largest subnet, "
                      "then one random subnet per batch.")
            train_single_path(self.supernet, x, y, epochs=epochs, batch_size=batch_size,
                              learning_rate=self.supernet_learning_rate or 0.05,
                              verbose=2 if verbose else 0)
            partial = path.replace(".weights.h5", ".partial.weights.h5")
            self.supernet.save_weights(partial)
            os.replace(partial, path)
        self.scorer = InheritedScorer(self.supernet, x, x_val, y_val)

    def evaluate_candidate(self, trial, *args, **kwargs) -> dict:
        indices = self.space.encode(trial.hyperparameters.values, self.rank)
        accuracy, loss = self.scorer.score(indices)
        if not np.isfinite(loss):
            raise keras_tuner.errors.FailedTrialError(
                "The subnet's inherited weights give a non-finite loss; train the supernet "
                "longer or with a lower supernet_learning_rate."
            )
        return {"val_accuracy": accuracy, "val_loss": loss}


class DartsTuner(WeightSharingTuner):
    """Differentiable search: DARTS learns a distribution, then candidates from it are trained.

    Before the trials: `calibration_subnets` random subnets are built,
    converted and measured to fit a `CostModel` (latency and flash from the
    supernet's exact op counts); then `DartsTrainer` trains the supernet's
    weights and architecture logits, with the expected cost kept under the
    search's `latency_ms` and `flash_kb` limits and, with `latency_weight`,
    pulled down. The learned distribution, the training history and the
    cost model are saved as `darts.json`. The oracle must be a
    `LearnedDistribution`: trial 1 is the derived architecture.

    Args:
        latency_weight: Weight of the expected-latency term of the loss
            (relative to the median calibration latency); 0 turns it off.
        constraint_weight: Weight of the over-the-limit terms.
        arch_learning_rate: Adam learning rate of the architecture logits.
        calibration_subnets: Measured subnets for the cost model (>= 4).
        **kwargs: As for `WeightSharingTuner`.

    Example:

    ```python
    model = NASModel(strategy="darts", max_trials=5,
                     strategy_kwargs={"supernet_epochs": 20, "latency_weight": 0.1})
    ```
    """

    def __init__(self, hypermodel, oracle, latency_weight: float = 0.0, constraint_weight: float = 1.0,
                 arch_learning_rate: float = 3e-3, calibration_subnets: int = 8, **kwargs):
        if not isinstance(oracle, LearnedDistribution):
            raise ValueError(f"DartsTuner needs a LearnedDistribution oracle, got {type(oracle).__name__}.")
        if not isinstance(calibration_subnets, int) or calibration_subnets < 4:
            raise ValueError(f"`calibration_subnets` must be an integer >= 4, got {calibration_subnets!r}.")
        if latency_weight < 0 or constraint_weight < 0:
            raise ValueError("`latency_weight` and `constraint_weight` must be >= 0.")
        super().__init__(hypermodel, oracle, **kwargs)
        self.latency_weight = float(latency_weight)
        self.constraint_weight = float(constraint_weight)
        self.arch_learning_rate = float(arch_learning_rate)
        self.calibration_subnets = calibration_subnets

    def prepare(self, x, y, x_val, y_val, epochs, batch_size, verbose):
        path = os.path.join(self.project_dir, DARTS_FILE)
        if os.path.exists(path):
            with open(path) as f:
                result = json.load(f)
            if verbose:
                print(f"Reusing the DARTS result in {path}.")
        else:
            result = self.run_darts(x, y, epochs, batch_size, verbose)
            atomic_write_json(path, result)
        points = self.space.choice_points(self.rank)
        self.oracle.set_distribution([
            (list(point.options), result["distribution"][point.name]) for point in points
        ])
        self.darts_result = result

    def calibrate(self, verbose: int) -> tuple[CostModel, list[dict]]:
        """Measures random subnets and fits the cost model on the supernet's op counts."""
        rng = np.random.default_rng(int(self.oracle.seed))
        expected, measured = [], []
        for i in range(self.calibration_subnets):
            indices = self.space.sample(rng, self.rank)
            model = self.build_values(self.space.decode(indices, self.rank))
            measured.append(self.measurer.measure_untrained(model, int(self.oracle.seed) + i).to_dict())
            self.supernet.set_architecture(indices)
            expected.append({k: float(v) for k, v in self.supernet.expected_cost().items()})
        cost_model = fit_cost_model(expected, measured)
        if verbose:
            print(f"Cost model from {len(measured)} measured subnets: R^2 latency "
                  f"{cost_model.r2['latency_ms']:.2f}, flash {cost_model.r2['flash_kb']:.2f}.")
        return cost_model, measured

    def run_darts(self, x, y, epochs, batch_size, verbose) -> dict:
        """Calibrates the cost model and trains DARTS; returns what `darts.json` holds."""
        self.supernet = self.new_supernet()
        cost_model, measured = self.calibrate(verbose)
        limits = {k: getattr(self.constraints, k) for k in ("latency_ms", "flash_kb")}
        trainer = DartsTrainer(
            self.supernet, cost_model, limits=limits, latency_weight=self.latency_weight,
            reference_latency_ms=float(np.median([m["latency_ms"] for m in measured])),
            constraint_weight=self.constraint_weight,
            learning_rate=self.supernet_learning_rate or 1e-3, arch_learning_rate=self.arch_learning_rate,
            seed=int(self.oracle.seed),
        )
        if verbose:
            print(f"Training DARTS: {epochs} epochs, weights and architecture on two halves of the data.")
        history = trainer.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=verbose)
        return {
            "distribution": {k: [float(v) for v in p] for k, p in trainer.distribution().items()},
            "derived": trainer.derive(),
            "history": history,
            "cost_model": cost_model.to_dict(),
            "calibration": measured,
        }


def _arrays(args) -> tuple[np.ndarray, np.ndarray]:
    """`(x, y)` numpy arrays (integer labels) from `(x, y)` or `(dataset,)`."""
    if len(args) == 2:
        x, y = args
    else:
        (dataset,) = args
        if dataset is None:
            raise ValueError("Weight-sharing search needs validation data.")
        x, y = _take_from_dataset(dataset, "the data", limit=None)
    return np.asarray(x, "float32"), _as_class_indices(np.asarray(y))
