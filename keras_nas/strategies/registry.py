"""The strategy registry: the one list of names `NASModel`, `get_strategy` and the CLI accept.

A strategy is a `NASOracle` subclass registered under a name. Registering it
declares everything a search needs besides the oracle's own proposals:

- the tuner that runs its trials (`NASTuner` unless `tuner=` says otherwise,
  e.g. `OneShotTuner` for a supernet search) and which `strategy_kwargs` go to
  that tuner instead of the oracle (`tuner_arguments=`);
- what the oracle takes from `NASModel.fit` (`fit_arguments=`, a function of a
  `FitInfo`; Hyperband takes its `max_epochs` from the epochs per candidate);
- optionally a `plan=` function, for strategies whose space, head or oracle
  follow from their arguments (the weight-sharing ones).

A strategy in your own module works like a built-in one once that module is
imported (on the command line: `--plugin my_module.py` or `plugins:` in the
config):

```python
import numpy as np
from keras_nas.strategies import NASOracle, register

@register("my-random")
class MyRandom(NASOracle):
    def propose(self, trial_id, rng: np.random.Generator):
        return self.new_random_values(rng)

NASModel(strategy="my-random", max_trials=10).fit(x, y, epochs=5)
```
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from keras_nas.strategies.base import NASOracle

# Built-in strategies registered by modules that themselves import `keras_nas.strategies`
# (and the tuners): imported on the first look-up instead of at package import.
LATE_BUILTIN_MODULES = ("keras_nas.weight_sharing.plan",)

_REGISTRY: dict[str, "Strategy"] = {}


@dataclasses.dataclass(frozen=True)
class FitInfo:
    """What `NASModel.fit` knows when its search starts, for a strategy's `fit_arguments`.

    Attributes:
        epochs: Epochs per candidate during the search (`search_epochs`, or
            the `epochs` given to `fit`).
        input_shape: Shape of one sample.
        num_classes: Number of classes.
    """

    epochs: int
    input_shape: tuple
    num_classes: int


@dataclasses.dataclass
class SearchPlan:
    """The parts of one search: space, oracle and tuner, with their arguments.

    Attributes:
        space: The search space (`None`: the default for the input rank).
        oracle_class: The `NASOracle` subclass proposing candidates.
        oracle_kwargs: Its arguments from `strategy_kwargs`.
        tuner_class: The `NASTuner` (sub)class running the trials.
        tuner_kwargs: Its arguments from `strategy_kwargs`.
        initial_architectures: Whether the oracle starts with `NASModel`'s
            `initial_architectures` (when its class proposes any).
        learning_rates: The learning rates candidates may choose from;
            `None`: the hypermodel's.
    """

    space: Any
    oracle_class: type[NASOracle]
    oracle_kwargs: dict
    tuner_class: type
    tuner_kwargs: dict
    initial_architectures: bool = True
    learning_rates: tuple | None = None

    def head(self, num_classes: int):
        """The classifier head of the candidates; `None`: the hypermodel's default."""
        return None


@dataclasses.dataclass(frozen=True)
class Strategy:
    """A registered strategy: what a name stands for (see `register`).

    Attributes:
        name: The name given to `NASModel(strategy=...)`.
        oracle: The `NASOracle` subclass (for a `plan` strategy: the default one).
        tuner: The tuner class; `None`: `keras_nas.NASTuner`.
        tuner_arguments: Names in `strategy_kwargs` that go to the tuner.
        fit_arguments: `FitInfo -> dict` of oracle arguments taken from `fit`
            (defaults: `strategy_kwargs` given by the user win).
        planner: `(strategy, space, strategy_kwargs, objective) -> SearchPlan`;
            `None`: the oracle and tuner above over the given space.
    """

    name: str
    oracle: type[NASOracle]
    tuner: type | None = None
    tuner_arguments: tuple[str, ...] = ()
    fit_arguments: Callable[[FitInfo], dict] | None = None
    planner: Callable[..., SearchPlan] | None = None

    @property
    def tuner_class(self) -> type:
        """The tuner class (imported here: the tuner module needs TensorFlow, the registry does not)."""
        if self.tuner is not None:
            return self.tuner
        from keras_nas.tuner import NASTuner

        return NASTuner

    def plan(self, space, strategy_kwargs: Mapping, objective: str = "val_accuracy") -> SearchPlan:
        """Resolves the space, oracle and tuner of a search with this strategy.

        Args:
            space: `NASModel`'s space (a `Block` or `None`).
            strategy_kwargs: `NASModel`'s `strategy_kwargs` (not modified).
            objective: The search objective.

        Returns:
            The `SearchPlan`.

        Raises:
            ValueError: If the strategy cannot search this space or objective.
        """
        if self.planner is not None:
            return self.planner(self, space, dict(strategy_kwargs), objective)
        return self.direct_plan(space, strategy_kwargs)

    def direct_plan(self, space, strategy_kwargs: Mapping, oracle: type[NASOracle] | None = None,
                    plan_class: type[SearchPlan] = SearchPlan) -> SearchPlan:
        """The plan of `oracle` (default: this strategy's) and this tuner over `space`.

        `strategy_kwargs` named in `tuner_arguments` go to the tuner, the rest to the oracle.
        """
        kwargs = dict(strategy_kwargs)
        tuner_kwargs = {key: kwargs.pop(key) for key in self.tuner_arguments if key in kwargs}
        return plan_class(space, oracle or self.oracle, kwargs, self.tuner_class, tuner_kwargs)

    def from_fit(self, fit: FitInfo) -> dict:
        """The oracle arguments this strategy takes from `fit` (empty without `fit_arguments`)."""
        return dict(self.fit_arguments(fit)) if self.fit_arguments is not None else {}


def register(
    name: str,
    *,
    tuner: type | None = None,
    tuner_arguments: tuple[str, ...] = (),
    fit_arguments: Callable[[FitInfo], dict] | None = None,
    plan: Callable[..., SearchPlan] | None = None,
) -> Callable[[type[NASOracle]], type[NASOracle]]:
    """Class decorator: registers a `NASOracle` subclass as strategy `name`.

    The name then works in `NASModel(strategy=name)`, `get_strategy(name)` and
    a CLI config's `strategy:`. A class registered under several names stands
    for the first of them when passed as `NASModel(strategy=cls)`.

    Args:
        name: The strategy's name (a non-empty string, not yet registered by
            another class).
        tuner: The tuner class that runs the trials (a `keras_nas.NASTuner`
            subclass); `None`: `NASTuner`.
        tuner_arguments: Names in `strategy_kwargs` that go to the tuner
            instead of the oracle.
        fit_arguments: A function of a `FitInfo` returning oracle arguments
            taken from `fit`, e.g. `lambda fit: {"max_epochs": fit.epochs}`;
            a value the user gives in `strategy_kwargs` wins.
        plan: `(strategy, space, strategy_kwargs, objective) -> SearchPlan`,
            for strategies whose space, head or oracle follow from their
            arguments (see `keras_nas.weight_sharing.plan`).

    Returns:
        The decorator, which returns the class unchanged.

    Raises:
        ValueError: For an empty name, a name registered by another class, or
            a class that is not a `NASOracle` subclass.

    Example:

    ```python
    @register("my-random")
    class MyRandom(NASOracle):
        def propose(self, trial_id, rng):
            return self.new_random_values(rng)
    ```
    """
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"A strategy name must be a non-empty string, got {name!r}.")

    def decorate(cls: type[NASOracle]) -> type[NASOracle]:
        if not (isinstance(cls, type) and issubclass(cls, NASOracle)):
            raise ValueError(
                f"@register({name!r}) decorates a keras_nas.strategies.NASOracle subclass, got {cls!r}."
            )
        old = _REGISTRY.get(name)
        if old is not None and _qualified(old.oracle) != _qualified(cls):
            raise ValueError(
                f"Strategy name {name!r} is already registered by {_qualified(old.oracle)}; register "
                f"{_qualified(cls)} under another name, or call unregister({name!r}) first."
            )
        _REGISTRY[name] = Strategy(name, cls, tuner, tuple(tuner_arguments), fit_arguments, plan)
        return cls

    return decorate


def unregister(name: str) -> None:
    """Removes strategy `name` from the registry.

    Raises:
        ValueError: If no strategy has that name.
    """
    _load_builtins()
    if name not in _REGISTRY:
        raise ValueError(f"No strategy named {name!r} is registered; registered: {names()}.")
    del _REGISTRY[name]


def names() -> list[str]:
    """The registered strategy names, in registration order (built-in ones first)."""
    _load_builtins()
    return list(_REGISTRY)


def lookup(strategy: str | type[NASOracle] | NASOracle) -> Strategy:
    """The `Strategy` a name, a `NASOracle` subclass or an oracle instance stands for.

    Args:
        strategy: A registered name; a `NASOracle` subclass (registered or
            not: an unregistered one runs on `NASTuner` and is named after the
            class); or an oracle instance (as for its class).

    Returns:
        The `Strategy`.

    Raises:
        ValueError: For an unknown name or anything else, naming the registered strategies.
    """
    _load_builtins()
    if isinstance(strategy, str):
        if strategy in _REGISTRY:
            return _REGISTRY[strategy]
        raise ValueError(
            f"Unknown strategy {strategy!r}. Available strategies: {sorted(_REGISTRY)}. A strategy "
            "of your own must be registered first: decorate its NASOracle subclass with "
            "@keras_nas.strategies.register(name) and import its module (CLI: --plugin or `plugins:`)."
        )
    cls = type(strategy) if isinstance(strategy, NASOracle) else strategy
    if isinstance(cls, type) and issubclass(cls, NASOracle):
        for entry in _REGISTRY.values():
            if entry.oracle is cls:
                return entry
        return Strategy(cls.__name__, cls)
    raise ValueError(
        f"`strategy` must be a strategy name ({sorted(_REGISTRY)}), a keras_nas.strategies.NASOracle "
        f"subclass or an instance of one; got {strategy!r}."
    )


class OracleClasses(Mapping):
    """Name -> oracle class of the registered strategies whose trials run on plain `NASTuner`.

    A live view of the registry (strategies registered later appear in it);
    the weight-sharing strategies, which need their own tuner, are not in it.
    """

    def _plain(self) -> dict[str, type[NASOracle]]:
        _load_builtins()
        return {
            name: entry.oracle
            for name, entry in _REGISTRY.items()
            if entry.tuner is None and entry.planner is None
        }

    def __getitem__(self, name: str) -> type[NASOracle]:
        return self._plain()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._plain())

    def __len__(self) -> int:
        return len(self._plain())

    def __repr__(self) -> str:
        return f"OracleClasses({self._plain()!r})"


def _load_builtins() -> None:
    for module in LATE_BUILTIN_MODULES:
        importlib.import_module(module)


def _qualified(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"
