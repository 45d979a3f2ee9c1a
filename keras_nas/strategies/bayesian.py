"""Bayesian optimization with a Gaussian process: Snoek et al., "Practical Bayesian
Optimization of Machine Learning Algorithms", NeurIPS 2012; as in Keras Tuner's
`BayesianOptimizationOracle`, adapted to conditional architecture spaces."""

from __future__ import annotations

import warnings

import numpy as np
from scipy.stats import norm
from sklearn.exceptions import ConvergenceWarning
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import Matern, WhiteKernel
from sklearn.linear_model import LogisticRegression

from keras_nas.run_record import outcome_of
from keras_nas.strategies.base import NASOracle, architecture_values, values_key
from keras_nas.strategies.registry import register
from keras_nas.strategies.encoding import SpaceEncoder

ACQUISITIONS = ("ei", "ucb")


def fit_gaussian_process(x: np.ndarray, y: np.ndarray) -> GaussianProcessRegressor:
    """Fits scikit-learn's Gaussian process: Matern 5/2 + white noise on the standardized objective.

    The length scale and the noise level are chosen by marginal likelihood
    (L-BFGS, with restarts drawn from a fixed seed: the same data give the same
    process, so a search stays reproducible).

    Args:
        x: Encoded candidates, shape (n, d).
        y: Their objective (larger is better), shape (n,).

    Returns:
        The fitted `sklearn.gaussian_process.GaussianProcessRegressor`
        (`predict(x, return_std=True)`).
    """
    kernel = Matern(length_scale=1.0, length_scale_bounds=(0.1, 10.0), nu=2.5) + WhiteKernel(
        noise_level=1e-2, noise_level_bounds=(1e-5, 0.5)
    )
    process = GaussianProcessRegressor(kernel, normalize_y=True, n_restarts_optimizer=2, random_state=0)
    with warnings.catch_warnings():
        # A bound reached (a noise-free or a flat objective) is a fit, not a failure.
        warnings.simplefilter("ignore", ConvergenceWarning)
        return process.fit(x, y)


@register("bayesian")
class BayesianOptimization(NASOracle):
    """Gaussian-process Bayesian optimization over encoded architectures.

    Each candidate is encoded as a vector: choices one-hot, booleans 0/1,
    integers and floats scaled to [0, 1], inactive hyperparameters zero. After
    `num_initial_points` random candidates, a Gaussian process (scikit-learn's,
    Matern 5/2 + white noise, on the standardized objective) is fitted to the
    completed trials (length scale and noise by marginal likelihood) and the next candidate is the one maximizing expected improvement
    (or the upper confidence bound) over a pool of random candidates and
    mutations of the best ones so far (when no candidate is expected to
    improve any more, EI is replaced by UCB for that proposal). Optionally a logistic-regression
    feasibility model, fitted on rejected vs accepted candidates, multiplies
    the acquisition by the probability that a candidate meets the hardware
    constraints (Gardner et al., ICML 2014) and drops candidates below 0.5
    while others remain, so rejected regions are avoided.

    Reference: Snoek et al., "Practical Bayesian Optimization of Machine
    Learning Algorithms", NeurIPS 2012; Gardner et al., "Bayesian Optimization
    with Inequality Constraints", ICML 2014.

    Args:
        num_initial_points: Random candidates before the first model. `None`:
            a fifth of `max_trials`, between 3 and 10.
        acquisition: "ei" (expected improvement) or "ucb".
        beta: Exploration weight of UCB (`mean + beta * std`).
        xi: Exploration margin of EI.
        pool_size: Candidates scored per proposal (half random, half mutations).
        feasibility_model: Weigh the acquisition by the probability of not being
            rejected, once both rejected and accepted candidates exist.
        **kwargs: See `NASOracle` (`max_trials`, `seed`, ...).

    Example:

    ```python
    oracle = BayesianOptimization(max_trials=40, num_initial_points=8, seed=1)
    model = NASModel(strategy="bayesian", strategy_kwargs={"pool_size": 300})
    ```
    """

    def __init__(
        self,
        num_initial_points: int | None = None,
        acquisition: str = "ei",
        beta: float = 2.6,
        xi: float = 0.01,
        pool_size: int = 200,
        feasibility_model: bool = True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if num_initial_points is None:
            num_initial_points = max(3, min(10, self.trial_budget // 5))
        if not isinstance(num_initial_points, int) or num_initial_points < 1:
            raise ValueError(
                f"`num_initial_points` must be a positive integer, got {num_initial_points!r}."
            )
        if acquisition not in ACQUISITIONS:
            raise ValueError(f"Unknown acquisition {acquisition!r}; use one of {ACQUISITIONS}.")
        if not isinstance(pool_size, int) or pool_size < 2:
            raise ValueError(f"`pool_size` must be an integer >= 2, got {pool_size!r}.")
        self.num_initial_points = num_initial_points
        self.acquisition = acquisition
        self.beta = float(beta)
        self.xi = float(xi)
        self.pool_size = pool_size
        self.feasibility_model = bool(feasibility_model)

    def propose(self, trial_id: str, rng: np.random.Generator) -> dict | None:
        completed = self.completed_trials()
        if len(completed) < self.num_initial_points:
            return self.new_random_values(rng)
        encoder = SpaceEncoder(self.search_space())
        x = encoder.encode_all([architecture_values(t.hyperparameters.values) for t in completed])
        sign = 1.0 if self.objective.direction == "max" else -1.0
        y = sign * np.array([float(t.score) for t in completed])
        pool = self.candidate_pool(completed, sign, rng)
        if not pool:
            return None
        candidates = encoder.encode_all(pool)
        gp = fit_gaussian_process(x, y)
        mean, std = gp.predict(candidates, return_std=True)
        std = np.maximum(std, 1e-9)
        score = self.acquire(mean, std, y.max())
        if self.acquisition == "ei" and score.max() < 1e-9:
            # No candidate is expected to improve (EI underflows to 0 everywhere):
            # rank by the upper confidence bound rather than by pool order.
            score = mean + self.beta * std
        feasible = self.feasibility(encoder, candidates)
        if feasible is not None:
            score = np.where(score >= 0, score * feasible, score / np.maximum(feasible, 1e-3))
            if np.any(feasible >= 0.5):
                # Candidates that are probably rejected are not worth a proposal.
                score = np.where(feasible >= 0.5, score, -np.inf)
        return pool[int(np.argmax(score))]

    def acquire(self, mean: np.ndarray, std: np.ndarray, best: float) -> np.ndarray:
        """The acquisition value of candidates (larger is better)."""
        if self.acquisition == "ucb":
            return mean + self.beta * std
        improvement = mean - best - self.xi
        z = improvement / std
        return improvement * norm.cdf(z) + std * norm.pdf(z)

    def candidate_pool(self, completed: list, sign: float, rng: np.random.Generator) -> list[dict]:
        """New architectures to score: random draws and mutations of the best trials."""
        tried = self.tried_keys()
        seen, pool = set(), []

        def add(values):
            key = values_key(values)
            if key not in tried and key not in seen:
                seen.add(key)
                pool.append(values)

        best = sorted(completed, key=lambda t: -sign * float(t.score))[:5]
        for i in range(self.pool_size // 2):
            parent = best[i % len(best)].hyperparameters.values
            child = self.mutate(parent, rng)
            if i % 3 == 2:  # some two-step mutations reach further
                child = self.mutate(child, rng)
            add(child)
        for _ in range(self.pool_size - self.pool_size // 2):
            add(self.random_values(rng))
        return pool

    def feasibility(self, encoder: SpaceEncoder, candidates: np.ndarray) -> np.ndarray | None:
        """P(not rejected) of each candidate, or None without both kinds of examples."""
        if not self.feasibility_model:
            return None
        rows, labels = [], []
        for trial in self.trials.values():
            if trial.status not in ("COMPLETED", "FAILED"):
                continue
            rows.append(architecture_values(trial.hyperparameters.values))
            labels.append(0 if outcome_of(trial).rejected else 1)
        if len(set(labels)) < 2:
            return None
        model = LogisticRegression(C=10.0, max_iter=1000)
        model.fit(encoder.encode_all(rows), np.array(labels))
        return model.predict_proba(candidates)[:, 1]

    def get_state(self):
        state = super().get_state()
        state.update(
            num_initial_points=self.num_initial_points,
            acquisition=self.acquisition,
            beta=self.beta,
            xi=self.xi,
            pool_size=self.pool_size,
            feasibility_model=self.feasibility_model,
        )
        return state

    def set_state(self, state):
        super().set_state(state)
        for key in ("num_initial_points", "acquisition", "beta", "xi", "pool_size", "feasibility_model"):
            setattr(self, key, state[key])
