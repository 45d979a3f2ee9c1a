"""What a strategy draws its proposals with: random values, mutations, no repeats, initial architectures.

`ProposalHelpers` is the proposing half of `NASOracle` (keras_nas/strategies/base.py);
strategies call its methods on `self`. It reads the oracle's search space
(`hyperparameters`) and `trials`, and owns:

- `initial_architectures`: values tried first (expert designs), then `queued`:
  values the tuner asks to run next (the space's smallest point);
- `screen`: an optional zero-cost proxy (`keras_nas.proxies.ProxyScreen`) that
  picks the best of several new random proposals;
- `cost_filter` (set by the tuner) and `choice_tally`: proposals predicted to
  break the flash/RAM limits are drawn again (`predicted_to_fit`), and random
  draws follow which choices were in proposals predicted to fit; half of the
  fitting proposals that are far under the limits are widened towards them;
- `space_fit` (set by the tuner before the search, `keras_nas.space_fit`): the
  sub-space (resolution x width band) whose models that fit have the most
  capacity; most random draws (`FIT_PROBABILITY`) are made inside it.

The other half, `keras_nas.strategies.control.SearchControl`, runs the search.
"""

from __future__ import annotations

import hashlib
import time

import keras_tuner
import numpy as np

from keras_nas.blocks.introspect import allowed_values
from keras_nas.cost_predictor import ChoiceTally, widened
from keras_nas.fidelity import architecture_values
from keras_nas.space_fit import SpaceFit

# How often a strategy may re-draw a proposal that was already tried before giving up.
MAX_DUPLICATE_DRAWS = 50

# A proposal predicted to break the flash or RAM limit is drawn again up to this
# many times; then the one predicted closest to fitting is measured.
MAX_FEASIBILITY_DRAWS = 100

# Proposals are steered to fit, not to be small: a fitting proposal predicted to use
# under `GROW_BELOW` of its binding limit is, with probability `GROW_PROBABILITY`,
# replaced by its widest version predicted to fit (`keras_nas.cost_predictor.widened`).
# Without it the draws that fit are mostly small ones, and a search under a tight
# limit hardly trains a candidate near it (issue 26: 2 of 19 over 75 % of the flash).
GROW_BELOW = 0.75
GROW_PROBABILITY = 0.5

# With a fitted space (`keras_nas.space_fit`), the share of random draws made inside its
# chosen sub-space; the others explore the whole space.
FIT_PROBABILITY = 0.8


class ProposalHelpers:
    """The proposal helpers of `NASOracle`; see the module docstring."""

    # Whether `propose` may be called again for the same trial when its proposal is
    # predicted not to fit (no side effects); Hyperband's schedule may not.
    redraws_infeasible = True

    def init_proposals(self, initial_architectures: list[dict] | None) -> None:
        """Sets the state of the helpers (called by `NASOracle.__init__`)."""
        self.initial_architectures = [dict(values) for values in initial_architectures or []]
        # Optional zero-cost proxy screen of random proposals (see `new_random_values`).
        self.screen = None
        # Optional `keras_nas.cost_predictor.FeasibilityFilter`, set by the tuner:
        # proposals predicted to break the flash/RAM limits are drawn again.
        self.cost_filter = None
        # Which choices the proposals predicted to fit had: random draws follow it.
        self.choice_tally = ChoiceTally()
        self.skipped_proposals = 0
        self.grown_proposals = 0
        self.queued: list[dict] = []  # proposals the tuner asks to run next
        self.space_fit = None  # a `keras_nas.space_fit.SpaceFit`, set by the tuner
        self.found_no_predicted_fit = False
        self.prediction_seconds = 0.0

    def proposal_state(self) -> dict:
        """What the helpers keep in `oracle.json`."""
        return dict(
            skipped_proposals=self.skipped_proposals,
            grown_proposals=self.grown_proposals,
            prediction_seconds=self.prediction_seconds,
            choice_tally=self.choice_tally.to_dict(),
            space_fit=self.space_fit.to_dict() if self.space_fit is not None else None,
        )

    def set_proposal_state(self, state: dict) -> None:
        """Restores what `proposal_state` returned (older states lack it)."""
        self.skipped_proposals = state.get("skipped_proposals", 0)
        self.grown_proposals = state.get("grown_proposals", 0)
        self.prediction_seconds = state.get("prediction_seconds", 0.0)
        self.choice_tally = ChoiceTally.from_dict(state.get("choice_tally"))
        self.space_fit = SpaceFit.from_dict(state.get("space_fit"))

    def predicted_to_fit(self, values, trial_id: str, rng: np.random.Generator):
        """`values`, or a new proposal if `cost_filter` predicts they break a limit.

        Draws up to `MAX_FEASIBILITY_DRAWS` proposals; when none is predicted to
        fit, returns the one predicted closest to the limits (its measurement
        decides, and tells the predictor more). A proposal that fits far under
        the limits may be widened towards them (`GROW_BELOW`).
        """
        if self.cost_filter is None or not isinstance(values, dict):
            return values
        start = time.perf_counter()
        best, best_ratio = values, float("inf")
        try:
            for _ in range(MAX_FEASIBILITY_DRAWS):
                fits, ratio = self.cost_filter.fits(values)
                self.choice_tally.record(architecture_values(values), ratio <= 1.0)
                if fits:
                    self.found_no_predicted_fit = False
                    return self.grown(values, ratio, rng)
                self.skipped_proposals += 1
                if ratio < best_ratio:
                    best, best_ratio = values, ratio
                if not self.redraws_infeasible:
                    break
                values = self.propose(trial_id, rng)
                if not isinstance(values, dict):
                    break
            # No proposal was predicted to fit: the tuner checks the space's smallest point
            # at the first rejection instead of after `infeasible_after` of them.
            self.found_no_predicted_fit = True
            return best
        finally:
            self.prediction_seconds += time.perf_counter() - start

    def grown(self, values: dict, ratio: float, rng: np.random.Generator) -> dict:
        """`values`, or with probability `GROW_PROBABILITY` its widest version predicted
        to fit when `ratio` (its predicted use of the binding limit) is under `GROW_BELOW`.

        Strategies whose `propose` has side effects (`redraws_infeasible` False:
        Hyperband continues the same architectures) are never changed, nor is a
        version already tried.
        """
        if not self.redraws_infeasible or ratio >= GROW_BELOW or rng.random() >= GROW_PROBABILITY:
            return values
        wider = widened(values, self.cost_filter, self.search_space())
        if wider is None or values_key(architecture_values(wider)) in self.tried_keys():
            return values
        self.grown_proposals += 1
        return wider

    def tried_keys(self) -> set[str]:
        """Fingerprints of the architectures proposed so far (see `values_key`).

        Control values (`tuner/...`, `nas/...`, e.g. a fidelity) are left out, so
        an architecture counts as tried whatever budget it was trained with.
        """
        return {
            values_key(architecture_values(t.hyperparameters.values))
            for t in self.trials.values()
        }

    def search_space(self) -> list:
        """The hyperparameters of the space, in declaration order (read-only; not a copy).

        Cheaper than `get_space()`, which copies the space through serialization.
        """
        return self.hyperparameters.space

    def random_values(self, rng: np.random.Generator, base: dict | None = None,
                      allowed: dict | None = None) -> dict:
        """Draws a value for every active hyperparameter of the space.

        Args:
            rng: Source of randomness.
            base: Values to keep where their hyperparameter is active; the others
                (including ones a change of `base` made active) are drawn at random.
            allowed: `{name: values}`: the choices named here are drawn among
                these values only (a sub-space). By default, a draw without
                `base` is made in the fitted sub-space (`space_fit`) with
                probability `FIT_PROBABILITY`.

        Returns:
            A dict of values for the active hyperparameters only.

        Under flash/RAM limits (`cost_filter` set), each choice is drawn in
        proportion to how often its values were in proposals predicted to fit
        (`choice_tally`); otherwise uniformly, as Keras Tuner samples.
        """
        if allowed is None and base is None and self.space_fit is not None and self.space_fit.best:
            if rng.random() < FIT_PROBABILITY:
                allowed = self.space_fit.best.allowed
        values = {}
        for hp in self.search_space():
            if not is_active(hp, values):
                continue
            if base is not None and hp.name in base:
                values[hp.name] = base[hp.name]
                continue
            if allowed and hp.name in allowed:
                options = list(allowed[hp.name])
                weights = self.choice_tally.weights(hp.name, options) if self.cost_filter is not None else None
                values[hp.name] = options[int(rng.choice(len(options), p=weights))]
                continue
            options = allowed_values(hp) if self.cost_filter is not None else None
            weights = self.choice_tally.weights(hp.name, options) if options else None
            if weights is None:
                values[hp.name] = hp.random_sample(int(rng.integers(2**31 - 1)))
            else:
                values[hp.name] = options[int(rng.choice(len(options), p=weights))]
        return values

    def initial_values(self, index: int, rng: np.random.Generator) -> dict:
        """The `index`-th initial architecture, completed with random values where it is silent.

        Raises:
            ValueError: If it names a hyperparameter the search space does not have.
        """
        values = self.initial_architectures[index]
        known = {hp.name for hp in self.search_space()}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(
                f"Initial architecture {index} names hyperparameters the space does not have: "
                f"{unknown}. The space has: {sorted(known)}."
            )
        return self.random_values(rng, base=values)

    def new_random_values(self, rng: np.random.Generator) -> dict | None:
        """Like `random_values`, but never a proposal already tried (None if the space is exhausted).

        With a `screen` (a `keras_nas.proxies.ProxyScreen`) set on the oracle, draws
        `screen.pool_size` new proposals and returns the one the zero-cost proxy
        ranks best.
        """
        tried = self.tried_keys()
        size = self.screen.pool_size if self.screen is not None else 1
        pool = []
        for _ in range(MAX_DUPLICATE_DRAWS * size):
            values = self.random_values(rng)
            key = values_key(values)
            if key not in tried:
                tried.add(key)
                pool.append(values)
                if len(pool) == size:
                    break
        if not pool:
            return None
        if len(pool) == 1:
            return pool[0]
        return pool[self.screen(pool)]

    def mutate(self, values: dict, rng: np.random.Generator) -> dict:
        """Changes one active, mutable choice of `values` to a different value.

        Choices that the change makes active are drawn at random, the ones it makes
        inactive are dropped.

        Args:
            values: The parent's hyperparameter values.
            rng: Source of randomness.

        Returns:
            The child's values (architecture only).
        """
        values = architecture_values(values)
        mutable = [
            hp
            for hp in self.search_space()
            if hp.name in values and is_active(hp, values) and has_alternatives(hp)
        ]
        if not mutable:
            return dict(values)
        hp = mutable[int(rng.integers(len(mutable)))]
        child = dict(values)
        for _ in range(MAX_DUPLICATE_DRAWS):
            candidate = hp.random_sample(int(rng.integers(2**31 - 1)))
            if candidate != values[hp.name]:
                child[hp.name] = candidate
                break
        return self.random_values(rng, base=child)


def is_active(hp, values: dict) -> bool:
    """Whether `hp` is active given the values of the hyperparameters before it.

    The test of `keras_tuner.HyperParameters.is_active`, on a plain dict: every
    condition of `hp` (from `hp.conditional_scope`) holds for `values`.
    """
    return all(condition.is_active(values) for condition in hp.conditions)


def has_alternatives(hp) -> bool:
    """Whether a hyperparameter can take more than one value."""
    hp_types = keras_tuner.engine.hyperparameters
    if isinstance(hp, hp_types.Fixed):
        return False
    if isinstance(hp, hp_types.Choice):
        return len(hp.values) > 1
    if isinstance(hp, (hp_types.Int, hp_types.Float)):
        return hp.min_value != hp.max_value
    return True


def values_key(values: dict) -> str:
    """A stable fingerprint of a set of hyperparameter values."""
    text = ";".join(f"{name}={values[name]!r}" for name in sorted(values))
    return hashlib.sha256(text.encode()).hexdigest()[:32]
