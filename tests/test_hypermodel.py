"""Tests of `NASHyperModel.initial_architectures`: the expert designs are legal points of the
default space, and scaled to the limits they fit them as measured."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras_tuner  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from keras_nas import tflite  # noqa: E402
from keras_nas.blocks import MLPSpace  # noqa: E402
from keras_nas.blocks.genotype import allowed_values  # noqa: E402
from keras_nas.hypermodel import NASHyperModel  # noqa: E402
from keras_nas.cost_predictor import FeasibilityFilter, graph_features, scale_to_fit  # noqa: E402
from keras_nas.tuner import randomize_weights  # noqa: E402
from test_expert_designs import graph_builder  # noqa: E402

# The digits (8x8 images) and MNIST-1D (40-step signals) shapes, and the usual 64 KB flash limit.
SHAPES = [(8, 8, 1), (40, 1)]


def built(hypermodel, values):
    """Builds the architecture `values` and returns (model, declared hyperparameters)."""
    hp = keras_tuner.HyperParameters()
    hp.values.update(values)
    return hypermodel.build(hp), hp


@pytest.mark.parametrize("shape", SHAPES)
def test_initial_architectures_use_only_legal_active_values(shape):
    hypermodel = NASHyperModel(shape, 10)
    architectures = hypermodel.initial_architectures()
    assert len(architectures) == 5  # plain CNN, conv stack, DS-CNN, ResNet-8, MobileNetV2-style
    for values in architectures:
        _, hp = built(hypermodel, values)
        declared = {h.name: h for h in hp.space}
        for name, value in values.items():
            assert name in declared, f"{name} is not a hyperparameter of the default space"
            assert hp.is_active(declared[name]), f"{name} is inactive in this architecture"
            assert value in allowed_values(declared[name]), (
                f"{name}={value!r} is not one of {allowed_values(declared[name])}")


@pytest.mark.parametrize(
    "shape, flash_kb, ram_kb", [((8, 8, 1), 64, 32), ((8, 8, 1), 10, 4), ((40, 1), 26, 8)]
)
def test_initial_architectures_scaled_to_the_limits_fit_them_as_int8(shape, flash_kb, ram_kb):
    # As the search measures: input normalization, and distinct weights (an
    # untrained model converts 4-10 KB smaller: identical buffers are stored once).
    hypermodel = NASHyperModel(shape, 10, mean=np.array([0.5]), variance=np.array([0.25]))
    space = keras_tuner.HyperParameters()
    hypermodel.build(space)
    feasibility = FeasibilityFilter(graph_builder(hypermodel), flash_kb, ram_kb)
    scaled = scale_to_fit(hypermodel.initial_architectures(), feasibility, space.space)
    assert scaled and scaled[0]["conv_space/stage_1/block_type"] == "conv"  # the plain CNN always fits
    x = np.random.default_rng(0).normal(size=(16, *shape)).astype("float32")
    fits = []
    for values in scaled:
        model, _ = built(hypermodel, values)
        randomize_weights(model, seed=0)
        content = tflite.to_tflite(model, "int8", representative_data=x, signatures=False)
        flash, arena = len(content) / 1024, tflite.arena_bytes(content) / 1024
        fits.append(flash <= flash_kb and arena <= ram_kb)
        # Widths are scaled on the predicted cost, before any measurement calibrated
        # the predictor, and may be over by the predictor's margin (the measurement
        # decides in a search): within 15 % here.
        assert flash <= 1.15 * flash_kb and arena <= 1.15 * ram_kb, (
            values, flash, arena, feasibility.predictor.predict(graph_features(model)))
    # A design predicted near or over a limit comes with its next narrower version:
    # the plain CNN (first, with its backup) fits, and so does half of what is tried.
    assert (fits[0] or fits[1]) and sum(fits) >= len(fits) / 2, fits


def test_plain_cnn_grows_on_a_roomy_board_and_shrinks_on_a_tight_one():
    hypermodel = NASHyperModel((8, 8, 1), 10)
    space = keras_tuner.HyperParameters()
    hypermodel.build(space)
    plain_cnn = hypermodel.initial_architectures()[:1]
    widths = {}
    for flash_kb, ram_kb in [(6, 3.5), (64, 32)]:
        feasibility = FeasibilityFilter(graph_builder(hypermodel), flash_kb, ram_kb)
        widest = scale_to_fit(plain_cnn, feasibility, space.space)[0]
        widths[flash_kb] = widest["conv_space/stage_1/filters"]
    assert widths[6] < plain_cnn[0]["conv_space/stage_1/filters"] < widths[64]


def test_initial_architectures_only_where_the_space_names_them():
    # Outside the default ConvSpace, a space's own designs: the default MLPSpace names the
    # engineer's MLP, one with a fixed width names none.
    assert NASHyperModel((8, 8, 1), 10, space=MLPSpace(units=64)).initial_architectures() == []
    (mlp,) = NASHyperModel((64,), 10).initial_architectures()
    assert mlp["mlp_space/dense_block/units_0"] == mlp["mlp_space/dense_block/units_1"] == 32


def test_standardized_inputs_get_no_normalization_layer_and_a_smaller_int8_file():
    # MNIST-1D's signals are standardized already (mean 0.0015, std 0.998): a Normalization
    # layer would be near the identity but cost the int8 file its SUB and MUL.
    from keras_nas.datasets import load_mnist1d
    from keras_nas.hypermodel import is_standardized

    (x, _), _, _ = load_mnist1d()
    x = x[:400].astype("float32")
    mean, variance = x.mean(axis=(0, 1)), x.var(axis=(0, 1))
    assert is_standardized(mean, variance)
    assert not is_standardized(mean + 0.2, variance) and not is_standardized(mean, variance * 1.3)
    values = {"conv_space/num_stages": 1}
    costs = {}
    for name, stats in [("standardized", (mean, variance)), ("shifted", (mean + 0.2, variance))]:
        hypermodel = NASHyperModel((40, 1), 10, mean=stats[0], variance=stats[1])
        model, _ = built(hypermodel, values)
        layers = [type(layer).__name__ for layer in model.layers]
        assert ("Normalization" in layers) == (name == "shifted")
        randomize_weights(model, seed=0)
        _, cost = tflite.measure_model(model, x[:64], latency_runs=1)
        costs[name] = cost
        assert ("SUB" in cost.ops) == (name == "shifted")
    assert costs["standardized"].flash_bytes < costs["shifted"].flash_bytes
    assert costs["standardized"].peak_ram_bytes < costs["shifted"].peak_ram_bytes


def test_features_are_built_without_variables_and_leave_nothing_behind():
    import tensorflow as tf
    from keras.src.backend.common import global_state

    hypermodel = NASHyperModel((8, 8, 1), 10, mean=np.array([0.5]), variance=np.array([0.25]))
    build = graph_builder(hypermodel)
    values = hypermodel.initial_architectures()[0]
    feasibility = FeasibilityFilter(build, 64, 32)
    created = []

    def creator(next_creator, **kwargs):
        created.append(kwargs.get("name"))
        return next_creator(**kwargs)

    with tf.variable_creator_scope(creator):
        features = feasibility.features(values)
        assert not created  # the graph alone: no TensorFlow variable was made
        assert features == graph_features(build(values)) and created  # as a model built with its variables
    assert not global_state.get_global_attribute("uninitialized_variables")
