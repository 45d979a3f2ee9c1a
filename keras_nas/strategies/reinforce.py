"""REINFORCE policy-gradient search: Zoph & Le, "Neural Architecture Search with
Reinforcement Learning", ICLR 2017; Zoph et al., NASNet, CVPR 2018; reward of Tan
et al., "MnasNet: Platform-Aware Neural Architecture Search for Mobile", CVPR 2019."""

from __future__ import annotations

import math

import numpy as np

from keras_nas.run_record import outcome_of
from keras_nas.strategies.base import MAX_DUPLICATE_DRAWS, NASOracle, TrialStatus, values_key
from keras_nas.strategies.registry import register
from keras_nas.strategies.encoding import active_walk, categories

# Normalized advantages are clipped to this magnitude, so one rejection (reward 0
# among accuracies near 0.9) cannot collapse the policy in one step.
ADVANTAGE_CLIP = 3.0


@register("reinforce")
class Reinforce(NASOracle):
    """A factorized categorical policy trained with REINFORCE.

    The controller holds one vector of logits per hyperparameter (a factorized
    policy: NASNet's RNN controller without the recurrence, which matters little
    for spaces of independent choices). `Choice`, `Boolean` and `Int` (linear,
    at most 256 values) hyperparameters are categorical; a conditional
    hyperparameter is sampled, and updated, only when it is active. `Float`
    hyperparameters are drawn uniformly and not learned.

    After each ended trial the logits move along
    `lr * (A * grad log pi(a) + entropy_weight * grad H(pi))` where the advantage
    `A = R - b` uses an exponential moving-average baseline `b` of past rewards
    and is divided by a moving estimate of the rewards' spread (clipped to
    +-3), so the learning rate does not depend on the reward's scale.

    The reward is the objective (accuracy), or MnasNet's soft-constrained
    `acc * (latency / target) ** w` when `latency_target_ms` is given. A
    candidate rejected for its hardware cost gets `rejection_reward`, so the
    policy learns to avoid infeasible regions; trainings that crashed teach
    nothing.

    The policy is not stored: it is rebuilt by replaying the ended trials in
    the order they ended, so a resumed search continues exactly where it
    stopped.

    Reference: Zoph & Le, "Neural Architecture Search with Reinforcement
    Learning", ICLR 2017 (REINFORCE with a moving-average baseline); Tan et al.,
    "MnasNet: Platform-Aware Neural Architecture Search for Mobile", CVPR 2019
    (the latency-weighted reward).

    Args:
        learning_rate: Step size of the policy update.
        baseline_decay: Decay of the moving-average baseline (and reward spread).
        entropy_weight: Weight of the entropy bonus that keeps exploring.
        latency_target_ms: Target latency `T` of the MnasNet reward; `None`
            rewards accuracy alone. Needs trials reporting `latency_ms`.
        latency_weight: Exponent `w` of the MnasNet reward; `-0.07` is MnasNet's
            soft constraint.
        rejection_reward: Reward of a candidate rejected for its cost.
        **kwargs: See `NASOracle` (`max_trials`, `seed`, ...).

    Example:

    ```python
    oracle = Reinforce(max_trials=60, learning_rate=0.2, latency_target_ms=5.0, seed=1)
    model = NASModel(strategy=oracle, constraints={"flash_kb": 64})
    ```
    """

    def __init__(
        self,
        learning_rate: float = 0.2,
        baseline_decay: float = 0.8,
        entropy_weight: float = 0.01,
        latency_target_ms: float | None = None,
        latency_weight: float = -0.07,
        rejection_reward: float = 0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not learning_rate > 0:
            raise ValueError(f"`learning_rate` must be positive, got {learning_rate!r}.")
        if not 0.0 <= baseline_decay < 1.0:
            raise ValueError(f"`baseline_decay` must be in [0, 1), got {baseline_decay!r}.")
        if entropy_weight < 0:
            raise ValueError(f"`entropy_weight` must be >= 0, got {entropy_weight!r}.")
        if latency_target_ms is not None and not latency_target_ms > 0:
            raise ValueError(
                f"`latency_target_ms` must be a positive number of ms, got {latency_target_ms!r}."
            )
        self.learning_rate = float(learning_rate)
        self.baseline_decay = float(baseline_decay)
        self.entropy_weight = float(entropy_weight)
        self.latency_target_ms = latency_target_ms
        self.latency_weight = float(latency_weight)
        self.rejection_reward = float(rejection_reward)

    # -- reward ---------------------------------------------------------------------------

    def reward(self, trial) -> float | None:
        """The reward of an ended trial, or None if it teaches nothing (crashed training).

        Raises:
            ValueError: If a latency target is set but the trial has no `latency_ms`.
        """
        if trial.status == TrialStatus.FAILED and outcome_of(trial).rejected:
            return self.rejection_reward
        if trial.status != TrialStatus.COMPLETED or trial.score is None:
            return None
        accuracy = float(trial.score)
        if self.objective.direction == "min":
            accuracy = -accuracy
        if self.latency_target_ms is None:
            return accuracy
        if not trial.metrics.exists("latency_ms"):
            raise ValueError(
                f"Trial {trial.trial_id} reports no 'latency_ms' (it has "
                f"{sorted(trial.metrics.metrics)}); the MnasNet reward needs it. Drop "
                "`latency_target_ms` or report latency_ms from the tuner."
            )
        latency = max(float(trial.metrics.get_last_value("latency_ms")), 1e-9)
        return accuracy * (latency / self.latency_target_ms) ** self.latency_weight

    # -- policy ---------------------------------------------------------------------------

    def policy(self) -> dict[str, np.ndarray]:
        """The logits of every categorical hyperparameter, replayed from the ended trials."""
        space = self.search_space()
        logits = {hp.name: np.zeros(len(cats)) for hp in space if (cats := categories(hp))}
        baseline, spread, seen = 0.0, 0.0, 0
        for trial_id in self.end_order:
            trial = self.trials[trial_id]
            reward = self.reward(trial)
            if reward is None:
                continue
            if seen == 0:
                baseline, seen = reward, 1
                continue
            advantage = reward - baseline
            scale = math.sqrt(spread) if spread > 0 else abs(advantage) or 1.0
            step = float(np.clip(advantage / scale, -ADVANTAGE_CLIP, ADVANTAGE_CLIP))
            spread = self.baseline_decay * spread + (1 - self.baseline_decay) * advantage**2
            baseline = self.baseline_decay * baseline + (1 - self.baseline_decay) * reward
            seen += 1
            values = trial.hyperparameters.values
            for hp, active in active_walk(space, values):
                if not active or hp.name not in logits or hp.name not in values:
                    continue
                cats = categories(hp)
                if values[hp.name] not in cats:
                    continue
                index = cats.index(values[hp.name])
                probs = _softmax(logits[hp.name])
                grad_log = -probs
                grad_log[index] += 1.0
                log_probs = np.log(probs + 1e-12)
                entropy = -float(np.sum(probs * log_probs))
                grad_entropy = -probs * (log_probs + entropy)
                logits[hp.name] += self.learning_rate * (
                    step * grad_log + self.entropy_weight * grad_entropy
                )
        return logits

    def sample(self, logits: dict[str, np.ndarray], rng: np.random.Generator) -> dict:
        """Draws one architecture from the policy (active hyperparameters only)."""
        values = {}
        for hp, active in active_walk(self.search_space(), values):
            if not active:
                continue
            cats = categories(hp)
            if cats is None:
                values[hp.name] = hp.random_sample(int(rng.integers(2**31 - 1)))
            else:
                probs = _softmax(logits[hp.name])
                values[hp.name] = cats[int(rng.choice(len(cats), p=probs))]
        return values

    def propose(self, trial_id: str, rng: np.random.Generator) -> dict | None:
        logits = self.policy()
        tried = self.tried_keys()
        for _ in range(MAX_DUPLICATE_DRAWS):
            values = self.sample(logits, rng)
            if values_key(values) not in tried:
                return values
        return self.new_random_values(rng)

    def probabilities(self) -> dict[str, dict]:
        """The current policy as `{hp_name: {value: probability}}` (for inspection)."""
        logits = self.policy()
        result = {}
        for hp in self.search_space():
            if hp.name in logits:
                probs = _softmax(logits[hp.name])
                result[hp.name] = dict(zip(categories(hp), probs.tolist()))
        return result

    def get_state(self):
        state = super().get_state()
        state.update(
            learning_rate=self.learning_rate,
            baseline_decay=self.baseline_decay,
            entropy_weight=self.entropy_weight,
            latency_target_ms=self.latency_target_ms,
            latency_weight=self.latency_weight,
            rejection_reward=self.rejection_reward,
        )
        return state

    def set_state(self, state):
        super().set_state(state)
        for key in (
            "learning_rate",
            "baseline_decay",
            "entropy_weight",
            "latency_target_ms",
            "latency_weight",
            "rejection_reward",
        ):
            setattr(self, key, state[key])


ReinforceOracle = Reinforce


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max())
    return shifted / shifted.sum()
