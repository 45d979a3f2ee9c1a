"""Strategies driven through Keras Tuner's own search loop on a tabular benchmark.

A strategy only proposes values and learns from metrics, so it can be tested
against a table (architecture -> accuracy) with no training at all.
"""

import os
import pathlib
import shutil
import tempfile

import numpy as np
import pytest
import keras_tuner

from keras_nas import pareto, tabular
from keras_nas.errors import CandidateRejected
from keras_nas.strategies import (
    STRATEGIES,
    BayesianOptimization,
    Hyperband,
    ParetoEvolution,
    RandomSearch,
    RegularizedEvolution,
    Reinforce,
    get_strategy,
    lookup,
    names,
)

TABLES = os.path.join(os.path.dirname(__file__), "data", "tabular")

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


def table_latency(values):
    """A deterministic 'latency' that conflicts with accuracy: larger ops are slower."""
    return 1.0 + sum(values[name] for name in CHOICES) + 0.5 * values.get("extra", 0)


def fidelity_accuracy(values):
    """The accuracy of a partial training: rises with epochs and with the data fraction."""
    budget = values.get("tuner/epochs", 1) * values.get("nas/data_fraction", 1.0)
    return table_accuracy(values) - 0.3 / (1.0 + budget)


class TableTuner(keras_tuner.engine.base_tuner.BaseTuner):
    """Runs a strategy against the table; rejects architectures with op5 == 0 as 'too big'."""

    def __init__(self, *args, reject=False, **kwargs):
        super().__init__(*args, **kwargs)
        self.reject = reject

    def run_trial(self, trial, *args, **kwargs):
        values = trial.hyperparameters.values
        if self.reject and values["op5"] == 0:
            raise CandidateRejected(["flash 99.0 KB > 64 KB"])
        score = fidelity_accuracy(values) if "tuner/epochs" in values else table_accuracy(values)
        return {"val_accuracy": score, "latency_ms": table_latency(values)}


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


@pytest.fixture
def tmp_path():
    """A fresh folder, on tmpfs when there is one: the oracle fsyncs every file it writes."""
    base = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
    path = tempfile.mkdtemp(prefix="keras_nas_test_", dir=base)
    yield pathlib.Path(path)
    shutil.rmtree(path, ignore_errors=True)


# Small settings that keep every strategy fast on the table.
FAST = {
    RegularizedEvolution: dict(population_size=6, sample_size=3),
    Reinforce: {},
    BayesianOptimization: dict(num_initial_points=5, pool_size=30),
    ParetoEvolution: dict(objectives=[("val_accuracy", "max"), ("latency_ms", "min")], population_size=6),
    Hyperband: dict(max_epochs=9, factor=3),
}


@pytest.mark.parametrize(
    "cls", [RandomSearch, RegularizedEvolution, Reinforce, BayesianOptimization, ParetoEvolution]
)
def test_same_seed_same_trials(cls, tmp_path):
    kwargs = dict(max_trials=25, seed=7, **FAST.get(cls, {}))
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


@pytest.mark.parametrize(
    "cls",
    [RandomSearch, RegularizedEvolution, Reinforce, BayesianOptimization, ParetoEvolution, Hyperband],
)
def test_resumed_search_equals_uninterrupted(cls, tmp_path):
    kwargs = dict(seed=11, **FAST.get(cls, {}))
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


def test_every_strategy_is_registered_and_documented():
    assert {"random", "evolution", "reinforce", "bayesian", "hyperband", "pareto"} <= set(STRATEGIES)
    for name in names():
        cls = lookup(name).oracle
        if not cls.__module__.startswith("keras_nas."):
            continue  # registered by a user (or a test): documented elsewhere
        oracle = get_strategy(name, max_trials=4, seed=1)
        assert isinstance(oracle, cls)
        assert isinstance(get_strategy(cls, max_trials=4, seed=1), cls)  # a class is made too
        assert get_strategy(oracle) is oracle
        for section in ("Args:", "Example:"):
            assert section in cls.__doc__, (name, section)


def test_bad_evolution_arguments():
    with pytest.raises(ValueError, match="population_size"):
        RegularizedEvolution(population_size=4, sample_size=5, max_trials=3)


# -- REINFORCE ------------------------------------------------------------------------------


def test_reinforce_beats_random_on_the_table(tmp_path):
    reinforce, random = [], []
    for seed in range(1, 5):
        reinforce.append(best(run(Reinforce(max_trials=40, learning_rate=0.5, seed=seed), tmp_path, f"p{seed}")))
        random.append(best(run(RandomSearch(max_trials=40, seed=seed), tmp_path, f"r{seed}")))
    assert np.mean(reinforce) > np.mean(random) + 0.03


def test_reinforce_learns_to_avoid_rejected_choices(tmp_path):
    oracle = run(Reinforce(max_trials=40, learning_rate=0.5, seed=2), tmp_path, reject=True)
    # op5 == 0 is rejected (reward 0): its probability falls from the uniform 0.25.
    assert oracle.probabilities()["op5"][0] < 0.1
    # The conditional "extra" has a policy too, updated only when op0 == 3 was drawn.
    assert set(oracle.probabilities()["extra"]) == {0, 1}
    statuses = [oracle.trials[i].status for i in oracle.start_order]
    half = len(statuses) // 2
    assert statuses[half:].count("FAILED") < statuses[:half].count("FAILED")


def test_reinforce_mnasnet_reward(tmp_path):
    oracle = run(Reinforce(max_trials=6, latency_target_ms=8.0, latency_weight=-0.07, seed=3), tmp_path)
    for trial in oracle.completed_trials():
        accuracy = trial.score
        latency = trial.metrics.get_last_value("latency_ms")
        assert oracle.reward(trial) == pytest.approx(accuracy * (latency / 8.0) ** -0.07)
    slow = max(oracle.completed_trials(), key=lambda t: t.metrics.get_last_value("latency_ms"))
    assert oracle.reward(slow) < slow.score  # slower than the target: penalized


def test_reinforce_mnasnet_reward_needs_latency(tmp_path):
    class AccuracyOnly(TableTuner):
        def run_trial(self, trial, *args, **kwargs):
            return {"val_accuracy": table_accuracy(trial.hyperparameters.values)}

    tuner = AccuracyOnly(
        oracle=Reinforce(max_trials=4, latency_target_ms=5.0, seed=1),
        hypermodel=declare_space, directory=str(tmp_path), project_name="l", overwrite=True,
    )
    tuner.oracle.verbose = 0
    with pytest.raises(ValueError, match="reports no 'latency_ms'.*latency_target_ms"):
        tuner.search()


def test_bad_reinforce_and_bayesian_arguments():
    with pytest.raises(ValueError, match="learning_rate"):
        Reinforce(learning_rate=0, max_trials=3)
    with pytest.raises(ValueError, match="latency_target_ms"):
        Reinforce(latency_target_ms=-1, max_trials=3)
    with pytest.raises(ValueError, match="acquisition 'pi'"):
        BayesianOptimization(acquisition="pi", max_trials=3)
    with pytest.raises(ValueError, match="direction 'up'"):
        ParetoEvolution(objectives=[("latency_ms", "up")], max_trials=3)
    with pytest.raises(ValueError, match="factor"):
        Hyperband(factor=1, max_trials=3)
    with pytest.raises(ValueError, match="min_data_fraction"):
        Hyperband(min_data_fraction=0, max_trials=3)


# -- Bayesian optimization --------------------------------------------------------------------


def test_bayesian_beats_random_on_the_table(tmp_path):
    bayes, random = [], []
    for seed in range(1, 4):
        oracle = BayesianOptimization(max_trials=25, num_initial_points=5, pool_size=30, seed=seed)
        bayes.append(best(run(oracle, tmp_path, f"b{seed}")))
        random.append(best(run(RandomSearch(max_trials=25, seed=seed), tmp_path, f"r{seed}")))
    assert np.mean(bayes) > np.mean(random) + 0.03


def test_bayesian_feasibility_model_avoids_rejections(tmp_path):
    kwargs = dict(max_trials=25, num_initial_points=8, pool_size=30, seed=4)
    aware = run(BayesianOptimization(feasibility_model=True, **kwargs), tmp_path, "a", reject=True)
    blind = run(BayesianOptimization(feasibility_model=False, **kwargs), tmp_path, "b", reject=True)

    def later_rejections(oracle):
        later = [oracle.trials[i].hyperparameters.values["op5"] for i in oracle.start_order[12:]]
        return later.count(0), len(later)

    # After the random start, proposals with op5 == 0 (always rejected) become rare.
    aware_rejected, aware_total = later_rejections(aware)
    assert aware_rejected <= aware_total // 6
    assert aware_rejected < later_rejections(blind)[0]


# -- Hyperband ----------------------------------------------------------------------------------


def schedule(oracle):
    return [
        tuple(oracle.trials[i].hyperparameters.values[k] for k in (
            "tuner/bracket", "tuner/round", "tuner/epochs", "tuner/initial_epoch"))
        for i in oracle.start_order
    ]


def test_hyperband_follows_keras_tuner_schedule(tmp_path):
    ours = run(Hyperband(max_trials=23, max_epochs=9, factor=3, hyperband_iterations=1, seed=2), tmp_path, "h")
    theirs = run(
        keras_tuner.oracles.HyperbandOracle(
            objective=keras_tuner.Objective("val_accuracy", "max"), max_epochs=9, factor=3,
            hyperband_iterations=1, seed=2,
        ),
        tmp_path, "k",
    )
    # Bracket 2: 9 candidates x 1 epoch, 3 x 3, 1 x 9; bracket 1: 5 x 3, 2 x 9; bracket 0: 3 x 9.
    expected = (
        [(2, 0, 1, 0)] * 9 + [(2, 1, 3, 1)] * 3 + [(2, 2, 9, 3)]
        + [(1, 0, 3, 0)] * 5 + [(1, 1, 9, 3)] * 2 + [(0, 0, 9, 0)] * 3
    )
    assert schedule(ours) == expected
    assert schedule(theirs) == expected
    fractions = [ours.trials[i].hyperparameters.values["nas/data_fraction"] for i in ours.start_order]
    assert fractions[:9] == [0.25] * 9  # max(min_data_fraction, 3 ** -2)
    assert fractions[9:12] == [pytest.approx(1 / 3, abs=1e-6)] * 3
    assert fractions[12] == 1.0 and fractions[-3:] == [1.0] * 3


def test_hyperband_promotes_the_best_of_each_rung(tmp_path):
    oracle = run(Hyperband(max_trials=23, max_epochs=9, factor=3, hyperband_iterations=1, seed=5), tmp_path)
    trials = [oracle.trials[i] for i in oracle.start_order]
    by_rung = {}
    for trial in trials:
        v = trial.hyperparameters.values
        by_rung.setdefault((v["tuner/bracket"], v["tuner/round"]), []).append(trial)
    for (bracket, round_num), rung in by_rung.items():
        if round_num == 0:
            assert all("tuner/trial_id" not in t.hyperparameters.values for t in rung)
            continue
        previous = by_rung[(bracket, round_num - 1)]
        top = sorted(previous, key=lambda t: -t.score)[: len(rung)]
        parents = [t.hyperparameters.values["tuner/trial_id"] for t in rung]
        assert parents == [t.trial_id for t in top]  # best first, no repeats
        for child in rung:
            parent = oracle.trials[child.hyperparameters.values["tuner/trial_id"]]
            arch = {k: v for k, v in parent.hyperparameters.values.items() if "/" not in k}
            assert {k: v for k, v in child.hyperparameters.values.items() if "/" not in k} == arch
            assert child.score > parent.score  # more epochs and data: a better score
    # Round-0 architectures are never repeated.
    firsts = [tuple(sorted((k, v) for k, v in t.hyperparameters.values.items() if "/" not in k))
              for t in trials if t.hyperparameters.values["tuner/round"] == 0]
    assert len(set(firsts)) == len(firsts)


def test_hyperband_rejected_candidates_never_promote(tmp_path):
    oracle = run(Hyperband(max_trials=23, max_epochs=9, factor=3, hyperband_iterations=1, seed=1), tmp_path, reject=True)
    rejected = {t.trial_id for t in oracle.trials.values() if t.status == "FAILED"}
    assert rejected  # about a quarter of the candidates
    parents = {t.hyperparameters.values.get("tuner/trial_id") for t in oracle.trials.values()}
    assert not parents & rejected
    # Rejections do not fill a rung: the schedule of trained trials is unchanged.
    trained = [oracle.trials[i] for i in oracle.start_order if oracle.trials[i].status != "FAILED"]
    assert len(trained) == 23
    assert [t.hyperparameters.values["tuner/round"] for t in trained][:13] == [0] * 9 + [1] * 3 + [2]


# -- NSGA-II -----------------------------------------------------------------------------------


def front_volume(oracle):
    rows = [
        {"val_accuracy": t.score, "latency_ms": t.metrics.get_last_value("latency_ms")}
        for t in oracle.completed_trials()
    ]
    objectives = [("val_accuracy", "max"), ("latency_ms", "min")]
    front = pareto.pareto_front(rows, objectives)
    points = [[r["val_accuracy"], r["latency_ms"]] for r in front]
    return pareto.hypervolume(points, ["max", "min"], reference=[0.3, 25.0])


def test_pareto_front_hypervolume_beats_random(tmp_path):
    nsga, random = [], []
    for seed in range(1, 5):
        oracle = ParetoEvolution(
            objectives=[("val_accuracy", "max"), ("latency_ms", "min")],
            max_trials=40, population_size=8, seed=seed,
        )
        nsga.append(front_volume(run(oracle, tmp_path, f"n{seed}")))
        random.append(front_volume(run(RandomSearch(max_trials=40, seed=seed), tmp_path, f"r{seed}")))
    assert np.mean(nsga) > np.mean(random)


def test_pareto_children_cross_two_population_members(tmp_path):
    oracle = run(ParetoEvolution(objectives=[("val_accuracy", "max"), ("latency_ms", "min")],
                                 max_trials=20, population_size=6, mutation_probability=0.0, seed=3), tmp_path)
    values = sequence(oracle)
    for i, child in enumerate(values[6:], start=6):
        # Every op of a child comes from one of the earlier candidates (no mutation),
        # unless it was a duplicate and had to be mutated or redrawn.
        ops_seen = [{v[k] for v in values[:i]} for k in CHOICES]
        assert sum(child[k] not in seen for k, seen in zip(CHOICES, ops_seen)) <= 1


def test_pareto_names_missing_objective(tmp_path):
    oracle = ParetoEvolution(max_trials=8, population_size=3, seed=1)  # default objectives
    with pytest.raises(ValueError, match="reports no 'peak_ram_kb'.*objectives"):
        run(oracle, tmp_path)


# -- tabular harness -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def nb201_table():
    return tabular.TabularBenchmark.from_file(os.path.join(TABLES, "nb201_synthetic.csv.gz"))


def test_tabular_nb201_run(nb201_table, tmp_path):
    assert len(nb201_table) == 15625 and nb201_table.kind == "nb201"
    objectives = [("val_accuracy", "max"), ("latency_ms", "min")]
    result = tabular.run("evolution", nb201_table, max_trials=20, seed=3, directory=tmp_path,
                         objectives=objectives, strategy_kwargs={"population_size": 6})
    steps = result.trajectory
    assert len(steps) == 20 and steps[-1]["trained"] == 20
    rows = {row["arch"]: row for row in nb201_table.rows}
    assert steps[-1]["elapsed_seconds"] == pytest.approx(sum(rows[s["arch"]]["train_seconds"] for s in steps))
    best_vals = [s["best_val"] for s in steps]
    assert best_vals == sorted(best_vals) and best_vals[-1] == max(s["val"] for s in steps)
    assert steps[-1]["best_test"] == rows[steps[-1]["best_arch"]]["test_accuracy"]
    assert result.best_test_at(20) == steps[-1]["best_test"]
    # The front is non-dominated among the trials and its hypervolume is exact.
    assert result.reference == [0.1, max(r["latency_ms"] for r in nb201_table.rows)]
    points = [[f["val_accuracy"], f["latency_ms"]] for f in result.pareto_front]
    assert result.hypervolume == pytest.approx(pareto.hypervolume(points, ["max", "min"], result.reference))
    assert 0 < result.hypervolume
    again = tabular.run("evolution", nb201_table, max_trials=20, seed=3,
                        strategy_kwargs={"population_size": 6})
    assert [s["arch"] for s in again.trajectory] == [s["arch"] for s in steps]


def test_tabular_hyperband_pays_for_its_budget(nb201_table):
    result = tabular.run("hyperband", nb201_table, max_trials=13, seed=1,
                         strategy_kwargs={"max_epochs": 9, "hyperband_iterations": 1})
    rows = {row["arch"]: row for row in nb201_table.rows}
    # Bracket 2: 9 x (1 epoch of 9, a quarter of the data), 3 x (2 of 9, a third), 1 x (6 of 9, all).
    shares = [1 / 9 * 0.25] * 9 + [2 / 9 * (1 / 3)] * 3 + [6 / 9]
    expected = sum(rows[s["arch"]]["train_seconds"] * share for s, share in zip(result.trajectory, shares))
    assert result.trajectory[-1]["elapsed_seconds"] == pytest.approx(expected, rel=1e-5)


def test_tabular_values_table_with_constraints(tmp_path):
    table = tabular.TabularBenchmark.from_file(os.path.join(TABLES, "values_synthetic.jsonl"))
    assert table.kind == "values" and len(table) == 72
    result = tabular.run("random", table, max_trials=15, seed=1, constraints={"flash_kb": 10})
    statuses = [s["status"] for s in result.trajectory]
    assert statuses.count("COMPLETED") == 15 and "REJECTED" in statuses
    rows = {row["arch"]: row for row in table.rows}
    assert all(rows[s["arch"]]["flash_kb"] > 10 for s in result.trajectory if s["status"] == "REJECTED")
    assert all(rows[s["arch"]]["flash_kb"] <= 10 for s in result.trajectory if s["status"] == "COMPLETED")


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_tabular_malformed_files(tmp_path):
    arch = "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_1x1~1|skip_connect~2|"
    with pytest.raises(tabular.TableError, match="no 'arch' column"):
        tabular.TabularBenchmark.from_file(write(tmp_path, "a.csv", f"genotype,val_accuracy\n{arch},0.5\n"))
    with pytest.raises(tabular.TableError, match="row 1, column 'val_accuracy' is 'high', not a number"):
        tabular.TabularBenchmark.from_file(write(tmp_path, "b.csv", f"arch,val_accuracy\n{arch},high\n"))
    with pytest.raises(tabular.TableError, match="row 1.*not a NAS-Bench-201 operation|row 1.*conv_9x9"):
        tabular.TabularBenchmark.from_file(write(tmp_path, "c.csv", f"arch,val_accuracy\n{arch.replace('none', 'conv_9x9')},0.5\n"))
    with pytest.raises(tabular.TableError, match="line 2 is not valid JSON"):
        tabular.TabularBenchmark.from_file(write(tmp_path, "d.jsonl", '{"arch": {"w": 1}, "val_accuracy": 1}\n{oops\n'))
    with pytest.raises(tabular.TableError, match="unknown table format"):
        tabular.TabularBenchmark.from_file(write(tmp_path, "e.xlsx", "x"))
    with pytest.raises(FileNotFoundError, match="No table file"):
        tabular.TabularBenchmark.from_file(str(tmp_path / "missing.csv"))


def test_tabular_unknown_arch_and_column(tmp_path):
    table = tabular.TabularBenchmark.from_rows(
        [{"arch": {"w": w, "k": k}, "val_accuracy": 0.5 + w / 100, "train_seconds": 1} for w in (1, 2) for k in (3, 5)]
    )
    with pytest.raises(tabular.TableError, match="not in the table"):
        table.lookup({"w": 7, "k": 3})
    with pytest.raises(tabular.TableError, match="test metric 'test_accuracy' is not a column.*val_accuracy"):
        tabular.run("random", table, max_trials=2)
    result = tabular.run("random", table, max_trials=4, test_metric=None, seed=1)
    assert result.trajectory[-1]["best_val"] == pytest.approx(0.52)
    # A table missing architectures of its own space stops the search with a clear error.
    partial = tabular.TabularBenchmark.from_rows(
        [{"arch": {"w": 1, "k": 3}, "val_accuracy": 0.5}, {"arch": {"w": 2, "k": 5}, "val_accuracy": 0.6}]
    )
    with pytest.raises(tabular.TableError, match="is not in the table"):
        tabular.run("random", partial, max_trials=4, test_metric=None, time_metric=None, seed=2)
