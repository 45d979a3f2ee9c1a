"""Bayesian optimization with a Gaussian process: Snoek et al., "Practical Bayesian
Optimization of Machine Learning Algorithms", NeurIPS 2012; as in Keras Tuner's
`BayesianOptimizationOracle`, adapted to conditional architecture spaces."""

from __future__ import annotations

import itertools

import numpy as np
import scipy.linalg
from scipy.stats import norm
from sklearn.linear_model import LogisticRegression

from keras_nas.run_record import outcome_of
from keras_nas.strategies.base import NASOracle, architecture_values, values_key
from keras_nas.strategies.registry import register
from keras_nas.strategies.encoding import SpaceEncoder

ACQUISITIONS = ("ei", "ucb")

# Kernel hyperparameters tried when fitting the process (the most likely is kept): a
# small grid is deterministic and much faster than restarting L-BFGS at every trial.
LENGTH_SCALES = (0.5, 1.0, 2.0, 4.0)
NOISE_LEVELS = (1e-4, 1e-2, 1e-1)


class GaussianProcess:
    """A Gaussian process with a Matern-5/2 kernel on standardized targets.

    Args:
        length_scale: Kernel length scale (in encoded units).
        noise: Observation noise variance, relative to the signal variance 1.
    """

    def __init__(self, length_scale: float, noise: float):
        self.length_scale = float(length_scale)
        self.noise = float(noise)

    def kernel(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        distance = np.sqrt(np.maximum(
            np.sum(a**2, 1)[:, None] + np.sum(b**2, 1)[None, :] - 2 * a @ b.T, 0.0
        )) * (np.sqrt(5.0) / self.length_scale)
        return (1.0 + distance + distance**2 / 3.0) * np.exp(-distance)

    def fit(self, x: np.ndarray, y: np.ndarray) -> GaussianProcess:
        """Conditions the process on observations; sets `log_marginal_likelihood`."""
        self.x = x
        self.y_mean, self.y_std = float(y.mean()), float(y.std()) or 1.0
        target = (y - self.y_mean) / self.y_std
        gram = self.kernel(x, x) + (self.noise + 1e-8) * np.eye(len(x))
        self.cholesky = scipy.linalg.cholesky(gram, lower=True)
        self.alpha = scipy.linalg.cho_solve((self.cholesky, True), target)
        self.log_marginal_likelihood = float(
            -0.5 * target @ self.alpha
            - np.sum(np.log(np.diag(self.cholesky)))
            - 0.5 * len(x) * np.log(2 * np.pi)
        )
        return self

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and standard deviation at `x`, in the units of `y`."""
        cross = self.kernel(x, self.x)
        mean = cross @ self.alpha
        v = scipy.linalg.solve_triangular(self.cholesky, cross.T, lower=True)
        variance = np.maximum(1.0 - np.sum(v**2, axis=0), 1e-12)
        return mean * self.y_std + self.y_mean, np.sqrt(variance) * self.y_std


def fit_gaussian_process(x: np.ndarray, y: np.ndarray) -> GaussianProcess:
    """Fits a Matern-5/2 Gaussian process, choosing length scale and noise by likelihood.

    Args:
        x: Encoded candidates, shape (n, d).
        y: Their objective (larger is better), shape (n,).

    Returns:
        The fitted `GaussianProcess` of highest log marginal likelihood.
    """
    fits = [
        GaussianProcess(length_scale, noise).fit(x, y)
        for length_scale, noise in itertools.product(LENGTH_SCALES, NOISE_LEVELS)
    ]
    return max(fits, key=lambda gp: gp.log_marginal_likelihood)


@register("bayesian")
class BayesianOptimization(NASOracle):
    """Gaussian-process Bayesian optimization over encoded architectures.

    Each candidate is encoded as a vector: choices one-hot, booleans 0/1,
    integers and floats scaled to [0, 1], inactive hyperparameters zero. After
    `num_initial_points` random candidates, a Gaussian process (Matern 5/2 +
    white noise, on the standardized objective) is fitted to the completed
    trials (length scale and noise picked by marginal likelihood on a small
    grid) and the next candidate is the one maximizing expected improvement
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
        mean, std = gp.predict(candidates)
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
