"""The strategy registry: one list of names for NASModel, get_strategy, the CLI and the docs;
a strategy registered in a user's own module; oracle classes and instances as strategies."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from keras_nas import NASModel, commands, strategies
from keras_nas.cli import build_parser
from keras_nas.data import prepare_data
from keras_nas.datasets import load_digits
from keras_nas.search_setup import make_tuner
from keras_nas.strategies import NASOracle, RandomSearch, get_strategy, lookup, register
from keras_nas.weight_sharing import WeightSharingTuner

REPO = Path(__file__).resolve().parents[1]
BUILT_IN = {"random", "evolution", "reinforce", "bayesian", "hyperband", "pareto", "oneshot", "darts"}
TINY = dict(constraints={"flash_kb": 64, "peak_ram_kb": 32}, latency_runs=3, finalists=1,
            initial_architectures=None)

# A user's strategy module, written outside the package by the tests.
PLUGIN = '''
from keras_nas.strategies import NASOracle, register


def _candidate_epochs(fit):
    return {{"candidate_epochs": fit.epochs}}


@register("{name}", fit_arguments=_candidate_epochs)
class CountingRandom(NASOracle):
    """Random proposals, counted; it takes the epochs per candidate from `fit`."""

    def __init__(self, candidate_epochs=None, **kwargs):
        super().__init__(**kwargs)
        self.candidate_epochs = candidate_epochs
        self.proposals = 0

    def propose(self, trial_id, rng):
        self.proposals += 1
        return self.new_random_values(rng)
'''


@pytest.fixture
def registry_restored():
    """Unregisters what a test registered."""
    before = set(strategies.names())
    yield
    for name in set(strategies.names()) - before:
        strategies.unregister(name)


@pytest.fixture(scope="module")
def digits():
    (x, y), (xv, yv), _ = load_digits()
    return x[:300], y[:300], xv[:100], yv[:100]


def built_in_names() -> set:
    return {name for name in strategies.names() if lookup(name).oracle.__module__.startswith("keras_nas.")}


def readme_strategies() -> set:
    readme = (REPO / "README.md").read_text()
    table = readme[readme.index("| `strategy=` | what it does |"):]
    table = table[: table.index("\n\n")]
    return set(re.findall(r"^\| `([\w-]+)`", table, flags=re.M))


def search_help() -> str:
    parser = build_parser()
    search = parser._subparsers._group_actions[0].choices["search"]
    # Unwrapped: argparse may break a line after a name's hyphen ("mlperf-\nvww").
    return re.sub(r"-\n\s*", "-", search.format_help())


def test_registry_holds_the_builtin_strategies_and_the_docs_list_them_all():
    assert BUILT_IN <= set(strategies.names())
    built_in = built_in_names()
    assert readme_strategies() == built_in
    for name in built_in:
        assert f'"{name}"' in NASModel.__doc__, f"NASModel's docstring does not describe {name!r}"
        assert name in search_help()
    # The weight-sharing strategies declare their supernet tuners; the others run on NASTuner.
    for name in ("oneshot", "darts"):
        assert issubclass(lookup(name).tuner_class, WeightSharingTuner) and name not in strategies.STRATEGIES
    assert set(strategies.STRATEGIES) == {
        name for name in strategies.names() if not issubclass(lookup(name).tuner_class, WeightSharingTuner)
    }


def test_a_registered_name_appears_in_every_list(registry_restored, tmp_path):
    @register("test-listed")
    class Listed(RandomSearch):
        pass

    assert "test-listed" in strategies.names() and strategies.STRATEGIES["test-listed"] is Listed
    assert isinstance(get_strategy("test-listed", max_trials=2), Listed)
    assert "test-listed" in search_help()
    commands.check_config({"strategy": "test-listed"}, need_data=False)
    with pytest.raises(ValueError, match=r"Unknown strategy 'nope'\. Available strategies: \[.*'test-listed'"):
        NASModel(strategy="nope")
    with pytest.raises(ValueError, match="Unknown strategy_kwargs \\['population_size'\\] for strategy='test-listed'"):
        NASModel(strategy="test-listed", strategy_kwargs={"population_size": 3})
    assert NASModel(strategy="test-listed")._strategy_name() == "test-listed"
    strategies.unregister("test-listed")
    assert "test-listed" not in strategies.names()
    with pytest.raises(commands.ConfigError, match=r"'test-listed'; allowed: .*pass --plugin, or name it in `plugins:` and pass --allow-plugins"):
        commands.check_config({"strategy": "test-listed"}, need_data=False)


def test_register_refuses_bad_names_and_classes(registry_restored):
    with pytest.raises(ValueError, match=r"'random' is already registered by keras_nas\.strategies\.random_search\.RandomSearch"):
        register("random")(type("Other", (RandomSearch,), {}))
    with pytest.raises(ValueError, match="decorates a keras_nas.strategies.NASOracle subclass"):
        register("test-not-an-oracle")(dict)
    with pytest.raises(ValueError, match="non-empty string"):
        register("")
    with pytest.raises(ValueError, match="No strategy named 'test-never'"):
        strategies.unregister("test-never")
    with pytest.raises(ValueError, match=r"\['supernet_epochs'\] are arguments of the tuner of strategy 'oneshot'"):
        get_strategy("oneshot", max_trials=2, supernet_epochs=3)
    # The same class registered again (a module imported twice) replaces its entry.
    register("random")(RandomSearch)
    assert lookup("random").oracle is RandomSearch


def test_hyperband_takes_its_max_epochs_from_fit_through_its_declared_hook(tmp_path, digits):
    x, y, xv, yv = digits
    data = prepare_data(x, y, (xv, yv), 0.0, 32, None)
    for strategy_kwargs, expected in (({}, 3), ({"max_epochs": 5}, 5)):
        model = NASModel(strategy="hyperband", max_trials=2, seed=0, directory=str(tmp_path),
                         project_name=f"hb{expected}", strategy_kwargs=strategy_kwargs, **TINY)
        tuner = make_tuner(model._search_setup(), lookup(model.strategy), data, epochs=3)
        assert tuner.oracle.max_epochs == expected


def test_strategy_from_the_users_own_module_runs_through_nasmodel(registry_restored, tmp_path, digits):
    from keras_nas.plugins import import_plugin

    folder = tmp_path / "user_code"
    folder.mkdir()
    (folder / "my_strategies.py").write_text(PLUGIN.format(name="test-counting"))
    import_plugin(str(folder / "my_strategies.py"))
    assert import_plugin("my_strategies.py", base=folder) is import_plugin(str(folder / "my_strategies.py"))
    x, y, xv, yv = digits
    model = NASModel(strategy="test-counting", max_trials=2, seed=3, directory=str(tmp_path),
                     project_name="user", **TINY)
    model.fit(x, y, validation_data=(xv, yv), epochs=1, verbose=0)
    oracle = model.tuner.oracle
    assert type(oracle).__name__ == "CountingRandom" and oracle.candidate_epochs == 1
    assert model.search_summary()["trained"] == 2 and oracle.proposals >= 2
    winner = json.loads((Path(model.tuner.project_dir) / "winner.json").read_text())
    assert winner["search"]["strategy"] == "test-counting"


def test_strategy_from_the_users_own_module_runs_through_the_cli(tmp_path):
    folder = tmp_path / "user_code"
    folder.mkdir()
    (folder / "my_strategies.py").write_text(PLUGIN.format(name="test-cli-counting"))
    config = {
        "data": {"builtin": "digits", "max_samples": 300},
        "constraints": {"flash_kb": 64, "peak_ram_kb": 32},
        "strategy": "test-cli-counting",
        "plugins": ["user_code/my_strategies.py"],  # relative to the config
        "max_trials": 2, "epochs": 1, "seed": 2, "latency_runs": 3, "finalists": 1,
        "directory": str(tmp_path / "runs"), "project_name": "cli_user",
    }
    (tmp_path / "search.yaml").write_text(yaml.safe_dump(config))
    command = [sys.executable, "-m", "keras_nas.cli", "search", "--config", str(tmp_path / "search.yaml"), "--quiet"]
    done = subprocess.run(command + ["--allow-plugins"], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((tmp_path / "runs" / "cli_user" / "report.json").read_text())
    assert report["search"]["strategy"] == "test-cli-counting" and report["summary"]["trained"] == 2
    # Without the plugin the name is unknown, and the error says how to make it known.
    del config["plugins"]
    (tmp_path / "bare.yaml").write_text(yaml.safe_dump(config))
    bare = subprocess.run(command[:5] + [str(tmp_path / "bare.yaml"), "--quiet"], capture_output=True, text=True)
    assert bare.returncode == 2 and "'test-cli-counting'; allowed:" in bare.stderr and "--plugin" in bare.stderr
    # --plugin (relative to the current directory) and --strategy do the same from the command line.
    with_option = subprocess.run(
        command[:5] + [str(tmp_path / "bare.yaml"), "--plugin", "user_code/my_strategies.py",
                       "--strategy", "test-cli-counting", "--project-name", "cli_option", "--max-trials", "1",
                       "--quiet"],
        capture_output=True, text=True, cwd=tmp_path,
    )
    assert with_option.returncode == 0, with_option.stderr[-3000:]
    report = json.loads((tmp_path / "runs" / "cli_option" / "report.json").read_text())
    assert report["search"]["strategy"] == "test-cli-counting" and report["summary"]["trained"] == 1


def test_bad_plugins_are_named(tmp_path, capsys):
    (tmp_path / "broken.py").write_text("raise RuntimeError('half-written plugin')\n")
    (tmp_path / "clash.py").write_text(
        "from keras_nas.strategies import RandomSearch, register\n"
        "register('random')(type('Clash', (RandomSearch,), {}))\n"
    )
    for plugins, message in (
        (["missing.py"], r"Plugin file .*missing\.py' does not exist"),
        (["no_such_module_xyz"], r"Cannot import plugin 'no_such_module_xyz'.*PYTHONPATH"),
        (["broken.py"], r"Importing plugin 'broken.py' .* failed: RuntimeError: half-written plugin"),
        (["clash.py"], r"Importing plugin 'clash.py' .* failed: ValueError: Strategy name 'random' is already registered"),
        ([3], r"`plugins` in .* must be a list of module names or \.py files"),
    ):
        path = tmp_path / "c.json"
        path.write_text(json.dumps({"data": {"builtin": "digits"}, "plugins": plugins}))
        with pytest.raises(commands.ConfigError, match=message):
            commands.load_config(path, allow_plugins=True)
    args = build_parser().parse_args(["search", "--config", str(path), "--plugin", "missing.py"])
    assert args.func(args) == 2
    assert "Plugin file" in capsys.readouterr().err


def test_every_space_preset_is_a_cli_space():
    from keras_nas.blocks import MLPerfICSpace, MLPerfKWSSpace, MLPerfVWWSpace, NB201Space, OneShotSpace

    presets = (("nb201", NB201Space), ("oneshot", OneShotSpace), ("mlperf-kws", MLPerfKWSSpace),
               ("mlperf-vww", MLPerfVWWSpace), ("mlperf-ic", MLPerfICSpace))
    for name, cls in presets:
        commands.check_config({"space": name}, need_data=False)
        assert isinstance(commands._make_space(name), cls)
        assert name in search_help()
    assert commands._make_space("default") is None


def test_an_oracle_instance_is_used_as_made_and_conflicts_are_refused(tmp_path, digits):
    def instance():
        return RandomSearch(max_trials=2, seed=11, max_rejected_trials=9)

    for kwargs, message in (
        ({"max_trials": 5}, r"NASModel\(max_trials=5\) conflicts with the strategy instance, a RandomSearch made "
                            r"with max_trials=2\. Drop max_trials"),
        ({"seed": 1}, r"NASModel\(seed=1\) conflicts .* made with seed=11"),
        ({"objective": "int8_val_accuracy"}, r"NASModel\(objective='int8_val_accuracy'\) conflicts .* objective='val_accuracy'"),
        ({"max_rejected_trials": 3}, r"NASModel\(max_rejected_trials=3\) conflicts"),
        ({"strategy_kwargs": {"worker_timeout": 5}}, r"NASModel\(strategy_kwargs=\.\.\.\) is handed to the oracle"),
        ({"max_search_seconds": 60}, r"NASModel\(max_search_seconds=\.\.\.\) .* pass the class"),
        ({"initial_architectures": [{}]}, r"NASModel\(initial_architectures=\.\.\.\)"),
    ):
        with pytest.raises(ValueError, match=message):
            NASModel(strategy=instance(), **kwargs)
    # Equal values are no conflict; unset ones are read from the instance.
    model = NASModel(strategy=instance(), max_trials=2, directory=str(tmp_path), project_name="inst", **TINY)
    assert (model.max_trials, model.seed, model.objective, model.max_rejected_trials) == (2, 11, "val_accuracy", 9)
    x, y, xv, yv = digits
    model.fit(x, y, validation_data=(xv, yv), epochs=1, verbose=0)
    assert model.search_summary()["trained"] == 2
    search = json.loads((Path(model.tuner.project_dir) / "winner.json").read_text())["search"]
    assert (search["max_trials"], search["seed"], search["max_rejected_trials"]) == (2, 11, 9)


def test_an_oracle_class_is_made_with_the_models_arguments_registered_or_not(tmp_path, digits):
    model = NASModel(strategy=RandomSearch, max_trials=2)
    assert model._strategy_name() == "random" and lookup(RandomSearch) is lookup("random")

    class Unregistered(NASOracle):
        """Random proposals; registered nowhere."""

        def propose(self, trial_id, rng):
            return self.new_random_values(rng)

    assert "Unregistered" not in strategies.names()
    with pytest.raises(ValueError, match=r"Unknown strategy_kwargs \['population_size'\] for strategy='Unregistered'"):
        NASModel(strategy=Unregistered, strategy_kwargs={"population_size": 3})
    model = NASModel(strategy=Unregistered, max_trials=2, seed=4, directory=str(tmp_path), project_name="cls", **TINY)
    x, y, xv, yv = digits
    model.fit(x, y, validation_data=(xv, yv), epochs=1, verbose=0)
    assert type(model.tuner.oracle) is Unregistered and model.tuner.oracle.seed == 4
    assert model.search_summary()["trained"] == 2
    search = json.loads((Path(model.tuner.project_dir) / "winner.json").read_text())["search"]
    assert search["strategy"] == "Unregistered" and search["max_trials"] == 2
    assert model.search_settings()["strategy"] == "Unregistered"
    with pytest.raises(ValueError, match=r"`strategy` must be a strategy name .* got 3"):
        NASModel(strategy=3)
