"""Strategies driven through Keras Tuner's own search loop on a tabular benchmark.

A strategy only proposes values and learns from metrics, so it can be tested
against a table (architecture -> accuracy) with no training at all.
"""

import numpy as np
import pytest
import keras_tuner

from keras_nas.errors import CandidateRejected
from keras_nas.strategies import RandomSearch, RegularizedEvolution, get_strategy

CHOICES = {f"op{i}": [0, 1, 2, 3] for i in range(6)}
TARGET = {f"op{i}": (i * 7) % 4 for i in range(6)}


def declare_space(hp):
    for name, values in CHOICES.items():
        hp.Choice(name, values)
    with hp.conditional_scope("op0", [3]):
        hp.Choice("extra", [0, 1])


def table_accuracy(values):
    """A deterministic 'trained accuracy': how close an architecture is to TARGET."""
    matches = sum(values[name] == TARGET[name] for name in CHOICES)
    distance = sum(abs(values[name] - TARGET[name]) for name in CHOICES)
    return 0.5 + 0.07 * matches - 0.01 * distance + 0.001 * values.get("extra", 0)


class TableTuner(keras_tuner.engine.base_tuner.BaseTuner):
    """Runs a strategy against the table; rejects architectures with op5 == 0 as 'too big'."""

    def __init__(self, *args, reject=False, **kwargs):
        super().__init__(*args, **kwargs)
        self.reject = reject

    def run_trial(self, trial, *args, **kwargs):
        values = trial.hyperparameters.values
        if self.reject and values["op5"] == 0:
            raise CandidateRejected(["flash 99.0 KB > 64 KB"])
        return {"val_accuracy": table_accuracy(values)}


def run(oracle, tmp_path, name="p", overwrite=True, reject=False):
    tuner = TableTuner(
        oracle=oracle,
        hypermodel=declare_space,
        directory=str(tmp_path),
        project_name=name,
        overwrite=overwrite,
        reject=reject,
    )
    tuner.oracle.verbose = 0
    tuner.search()
    return tuner.oracle


def sequence(oracle):
    return [oracle.trials[i].hyperparameters.values for i in oracle.start_order]


def best(oracle):
    return max(t.score for t in oracle.trials.values() if t.score is not None)


@pytest.mark.parametrize("cls", [RandomSearch, RegularizedEvolution])
def test_same_seed_same_trials(cls, tmp_path):
    kwargs = dict(max_trials=25, seed=7)
    if cls is RegularizedEvolution:
        kwargs.update(population_size=6, sample_size=3)
    first = sequence(run(cls(**kwargs), tmp_path, "a"))
    second = sequence(run(cls(**kwargs), tmp_path, "b"))
    other = sequence(run(cls(**dict(kwargs, seed=8)), tmp_path, "c"))
    assert first == second
    assert first != other
    assert len(first) == 25
    # No duplicates, and only active values are set.
    assert len({tuple(sorted(v.items())) for v in first}) == 25
    assert all(("extra" in v) == (v["op0"] == 3) for v in first)


def test_evolution_beats_random_on_the_table(tmp_path):
    evolution, random = [], []
    for seed in range(5):
        evolution.append(best(run(RegularizedEvolution(max_trials=60, population_size=10, sample_size=4, seed=seed), tmp_path, f"e{seed}")))
        random.append(best(run(RandomSearch(max_trials=60, seed=seed), tmp_path, f"r{seed}")))
    assert np.mean(evolution) > np.mean(random)


def test_evolution_children_are_one_mutation_from_a_population_member(tmp_path):
    oracle = run(RegularizedEvolution(max_trials=30, population_size=8, sample_size=3, seed=3), tmp_path)
    values = sequence(oracle)
    for i, child in enumerate(values[8:], start=8):
        distances = [
            sum(child[k] != parent[k] for k in CHOICES) for parent in values[:i]
        ]
        # One mutated op (an "extra" change may come with op0), or a random restart.
        assert min(distances) <= 1


def test_rejections_do_not_consume_the_training_budget(tmp_path):
    oracle = run(RandomSearch(max_trials=12, seed=1), tmp_path, reject=True)
    statuses = [t.status for t in oracle.trials.values()]
    assert statuses.count("COMPLETED") == 12
    assert statuses.count("FAILED") >= 1  # about a quarter of the space is rejected
    assert oracle.rejected_count() == statuses.count("FAILED")
    assert oracle.remaining_trials() == 0


def test_max_rejected_trials_stops_the_search(tmp_path):
    class RejectAll(TableTuner):
        def run_trial(self, trial, *args, **kwargs):
            raise CandidateRejected(["peak RAM 50.0 KB > 32 KB"])

    tuner = RejectAll(
        oracle=RandomSearch(max_trials=5, max_rejected_trials=7, seed=1),
        hypermodel=declare_space, directory=str(tmp_path), project_name="r", overwrite=True,
    )
    tuner.oracle.verbose = 0
    tuner.search()
    assert tuner.oracle.rejected_count() == 7


def test_training_failures_in_a_row_stop_the_search(tmp_path):
    class Crash(TableTuner):
        def run_trial(self, trial, *args, **kwargs):
            raise keras_tuner.errors.FailedTrialError("loss is NaN")

    tuner = Crash(
        oracle=RandomSearch(max_trials=10, seed=1),
        hypermodel=declare_space, directory=str(tmp_path), project_name="c", overwrite=True,
    )
    tuner.oracle.verbose = 0
    with pytest.raises(RuntimeError, match="3 trials in a row failed"):
        tuner.search()


@pytest.mark.parametrize("cls", [RandomSearch, RegularizedEvolution])
def test_resumed_search_equals_uninterrupted(cls, tmp_path):
    kwargs = dict(seed=11)
    if cls is RegularizedEvolution:
        kwargs.update(population_size=5, sample_size=2)
    whole = run(cls(max_trials=20, **kwargs), tmp_path, "whole")
    run(cls(max_trials=9, **kwargs), tmp_path, "split")
    resumed = run(cls(max_trials=20, **kwargs), tmp_path, "split", overwrite=False)
    assert sequence(resumed) == sequence(whole)
    assert best(resumed) == best(whole)


def test_unknown_strategy_is_named():
    with pytest.raises(ValueError, match="Unknown strategy 'annealing'.*evolution.*random"):
        get_strategy("annealing", max_trials=3)


def test_bad_evolution_arguments():
    with pytest.raises(ValueError, match="population_size"):
        RegularizedEvolution(population_size=4, sample_size=5, max_trials=3)
