"""Builds the search `NASModel.fit` runs: hypermodel, oracle and tuner, as the strategy declares."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import keras_tuner

from keras_nas import search_dir
from keras_nas.cost_predictor import scale_to_fit
from keras_nas.data import PreparedData
from keras_nas.hypermodel import NASHyperModel
from keras_nas.strategies import FitInfo, NASOracle, Strategy
from keras_nas.tasks import INT8_PREFIX
from keras_nas.tuner import NASTuner

if TYPE_CHECKING:
    from keras_nas.model import NASModel

# With a time budget (`max_search_seconds`): the share of it the search may take
# (finalists and the final training take the rest).
SEARCH_SHARE_OF_BUDGET = 0.7


def make_tuner(model: NASModel, strategy: Strategy, data: PreparedData, epochs: int) -> NASTuner:
    """The tuner of `model`'s search, with its hypermodel and oracle.

    The strategy's plan gives the space, head, oracle and tuner classes; the
    oracle gets `model`'s budget, seed and objective, the strategy's
    `fit_arguments` and, if its class proposes them, the initial architectures.
    An oracle instance given as `model.strategy` is used as it is.

    Args:
        model: The `NASModel` whose settings (strategy_kwargs, space,
            constraints, directory, ...) the search follows.
        strategy: `model`'s registered `Strategy`.
        data: The prepared fit data.
        epochs: Epochs per candidate.

    Returns:
        The tuner, its search marker written into the project directory.

    Raises:
        ValueError: If the project directory holds another search.
    """
    plan = strategy.plan(model.space, model.strategy_kwargs, model.objective)
    hypermodel = NASHyperModel(
        input_shape=data.input_shape,
        num_classes=data.num_classes,
        space=plan.space,
        head=plan.head(data.num_classes) if data.num_classes is not None else None,
        mean=data.mean,
        variance=data.variance,
        one_hot=data.one_hot,
        learning_rates=list(plan.learning_rates) if plan.learning_rates else None,
        task=model._task,
        targets=data.targets,
        objective=model.objective,
        validation=(data.x_val, data.y_val),
    )
    if model._task.name != "classification":
        check_task_model(hypermodel, data.input_shape)
    if isinstance(model.strategy, NASOracle):
        oracle = model.strategy
    else:
        oracle = _make_oracle(model, strategy, plan, hypermodel, epochs)
    if model.proxy is not None:
        from keras_nas.proxies import ProxyScreen

        x, y = data.train_args if len(data.train_args) == 2 else (data.representative_x, None)
        oracle.screen = ProxyScreen(
            hypermodel, x, y, proxy=model.proxy, pool_size=model.proxy_pool_size, seed=model.seed
        )
    # The marker (keras_nas/search_dir.py) refuses to resume another project's directory.
    info = search_dir.search_info(hypermodel, oracle)
    if not model.overwrite:
        search_dir.check_search_marker(os.path.join(str(model.directory), model.project_name), info)
    tuner = plan.tuner_class(
        hypermodel=hypermodel,
        oracle=oracle,
        constraints=model.constraints,
        representative_data=data.representative_x,
        latency_runs=model.latency_runs,
        int8_validation=(data.x_val, data.y_val) if model.objective.startswith(INT8_PREFIX) else None,
        target=model.target,
        directory=model.directory,
        project_name=model.project_name,
        overwrite=model.overwrite,
        **plan.tuner_kwargs,
    )
    search_dir.write_search_marker(tuner.project_dir, info)
    if model.initial_architectures == "auto" and tuner.cost_filter is not None:
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


def _make_oracle(model: NASModel, strategy: Strategy, plan, hypermodel: NASHyperModel,
                 epochs: int) -> NASOracle:
    """The plan's oracle, made with `model`'s arguments and what the strategy takes from `fit`."""
    kwargs = dict(plan.oracle_kwargs)
    if plan.initial_architectures and plan.oracle_class.proposes_initial_architectures:
        initial = model.initial_architectures
        if initial == "auto":
            initial = hypermodel.initial_architectures()
        kwargs.setdefault("initial_architectures", list(initial or []))
    fit = FitInfo(epochs=epochs, input_shape=hypermodel.input_shape,
                  num_classes=hypermodel.targets.num_outputs)
    for key, value in strategy.from_fit(fit).items():
        kwargs.setdefault(key, value)
    if model.max_search_seconds:
        kwargs["max_search_seconds"] = SEARCH_SHARE_OF_BUDGET * model.max_search_seconds
    return plan.oracle_class(
        objective=keras_tuner.Objective(model.objective, direction=model._task.direction(model.objective)),
        max_trials=model.max_trials,
        max_rejected_trials=model.max_rejected_trials,
        seed=model.seed,
        **kwargs,
    )
