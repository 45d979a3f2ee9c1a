"""Builds the search `NASModel.fit` runs: hypermodel, oracle and tuner, as the strategy declares."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import keras_tuner

from keras_nas import search_dir
from keras_nas.constraints import Constraints
from keras_nas.cost_predictor import scale_to_fit
from keras_nas.data import PreparedData
from keras_nas.hypermodel import NASHyperModel
from keras_nas.strategies import FitInfo, NASOracle, Strategy
from keras_nas.tasks import INT8_PREFIX, Task
from keras_nas.tflite import Target
from keras_nas.tuner import NASTuner


@dataclass(frozen=True)
class SearchSettings:
    """What a search follows, as the user gave it to `NASModel` (checked there).

    `oracle` is an oracle instance the user gave as `strategy` (used as it is),
    else `None`; the other fields are `NASModel`'s arguments of the same names.
    """

    space: Any
    strategy_kwargs: dict
    objective: str
    task: Task
    constraints: Constraints
    target: Target
    directory: str
    project_name: str
    overwrite: bool
    seed: int | None
    max_trials: int
    max_rejected_trials: int | None
    max_search_seconds: float | None
    initial_architectures: Any
    proxy: str | None
    proxy_pool_size: int
    latency_runs: int
    space_fit: bool = True
    front_end: Any = None
    oracle: NASOracle | None = None


def make_tuner(settings: SearchSettings, strategy: Strategy, data: PreparedData, epochs: int) -> NASTuner:
    """The tuner of a search, with its hypermodel and oracle.

    The strategy's plan gives the space, head, oracle and tuner classes; the
    oracle gets the settings' budget, seed and objective, the strategy's
    `fit_arguments` and, if its class proposes them, the initial architectures.
    An oracle instance given as the strategy (`settings.oracle`) is used as it is.

    Args:
        settings: What the search follows (space, constraints, directory, ...).
        strategy: The registered `Strategy`.
        data: The prepared fit data.
        epochs: Epochs per candidate.

    Returns:
        The tuner, its search marker written into the project directory.

    Raises:
        ValueError: If the project directory holds another search.
    """
    plan = strategy.plan(settings.space, settings.strategy_kwargs, settings.objective)
    hypermodel = NASHyperModel(
        input_shape=data.input_shape,
        num_classes=data.num_classes,
        space=plan.space,
        head=plan.head(data.num_classes) if data.num_classes is not None else None,
        mean=data.mean,
        variance=data.variance,
        one_hot=data.one_hot,
        learning_rates=list(plan.learning_rates) if plan.learning_rates else None,
        task=settings.task,
        targets=data.targets,
        objective=settings.objective,
        validation=(data.x_val, data.y_val),
        front_end=settings.front_end,
    )
    if settings.task.name != "classification":
        check_task_model(hypermodel, data.input_shape)
    if settings.oracle is not None:
        oracle = settings.oracle
    else:
        oracle = _make_oracle(settings, strategy, plan, hypermodel, epochs)
    if settings.proxy is not None:
        from keras_nas.proxies import ProxyScreen

        x, y = data.train_args if len(data.train_args) == 2 else (data.representative_x, None)
        oracle.screen = ProxyScreen(
            hypermodel, x, y, proxy=settings.proxy, pool_size=settings.proxy_pool_size, seed=settings.seed
        )
    # The marker (keras_nas/search_dir.py) refuses to resume another project's directory.
    info = search_dir.search_info(hypermodel, oracle)
    if not settings.overwrite:
        search_dir.check_search_marker(os.path.join(str(settings.directory), settings.project_name), info)
    tuner = plan.tuner_class(
        hypermodel=hypermodel,
        oracle=oracle,
        constraints=settings.constraints,
        representative_data=data.representative_x,
        latency_runs=settings.latency_runs,
        int8_validation=(data.x_val, data.y_val) if settings.objective.startswith(INT8_PREFIX) else None,
        target=settings.target,
        directory=settings.directory,
        project_name=settings.project_name,
        overwrite=settings.overwrite,
        **plan.tuner_kwargs,
    )
    search_dir.write_search_marker(tuner.project_dir, info)
    if settings.space_fit:
        tuner.fit_space_to_limits(settings.seed)
    if settings.initial_architectures == "auto" and tuner.cost_filter is not None:
        # The expert designs, sized for this board before any is measured.
        oracle.initial_architectures = scale_to_fit(
            oracle.initial_architectures, tuner.cost_filter, oracle.search_space()
        )
    return tuner


def check_task_model(hypermodel: NASHyperModel, input_shape: tuple) -> None:
    """Builds the space's first point once: its output must be what the task's targets need.

    Raises:
        ValueError: If the space's output cannot give the task's outputs (an
            anomaly space that does not reconstruct its input, ...).
    """
    model = hypermodel.build_graph(keras_tuner.HyperParameters())
    produced = tuple(model.outputs[0].shape[1:])
    task = hypermodel.task
    expected = tuple(input_shape) if task.name == "anomaly" else (hypermodel.targets.num_outputs,)
    if produced != expected:
        hint = ("an autoencoder whose output has the input's shape, e.g. space='autoencoder' or "
                "'conv_autoencoder'" if task.name == "anomaly" else "a space whose features the head can map")
        raise ValueError(
            f"task={task.name!r} needs outputs of shape {expected} per sample, but the space "
            f"{type(hypermodel.space).__name__} gives {produced}: use {hint}."
        )


def _make_oracle(settings: SearchSettings, strategy: Strategy, plan, hypermodel: NASHyperModel,
                 epochs: int) -> NASOracle:
    """The plan's oracle, made with the search's settings and what the strategy takes from `fit`."""
    kwargs = dict(plan.oracle_kwargs)
    if plan.initial_architectures and plan.oracle_class.proposes_initial_architectures:
        initial = settings.initial_architectures
        if initial == "auto":
            initial = hypermodel.initial_architectures()
        kwargs.setdefault("initial_architectures", list(initial or []))
    fit = FitInfo(epochs=epochs, input_shape=hypermodel.input_shape,
                  num_classes=hypermodel.targets.num_outputs)
    for key, value in strategy.from_fit(fit).items():
        kwargs.setdefault(key, value)
    if settings.max_search_seconds:
        # The oracle keeps time for the finalists and the winner's training (`work_after_search`).
        kwargs["max_search_seconds"] = settings.max_search_seconds
    return plan.oracle_class(
        objective=keras_tuner.Objective(settings.objective, direction=settings.task.direction(settings.objective)),
        max_trials=settings.max_trials,
        max_rejected_trials=settings.max_rejected_trials,
        seed=settings.seed,
        **kwargs,
    )
