"""Tests of `NASHyperModel.initial_architectures`: legal in the default space, and small enough."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras_tuner  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from keras_nas import tflite  # noqa: E402
from keras_nas.blocks import MLPSpace  # noqa: E402
from keras_nas.blocks.genotype import allowed_values  # noqa: E402
from keras_nas.hypermodel import NASHyperModel  # noqa: E402
from keras_nas.tuner import randomize_weights  # noqa: E402

# The digits (8x8 images) and MNIST-1D (40-step signals) shapes, and the usual 64 KB flash limit.
SHAPES = [(8, 8, 1), (40, 1)]
FLASH_LIMIT_BYTES = 64 * 1024


def built(hypermodel, values):
    """Builds the architecture `values` and returns (model, declared hyperparameters)."""
    hp = keras_tuner.HyperParameters()
    hp.values.update(values)
    return hypermodel.build(hp), hp


@pytest.mark.parametrize("shape", SHAPES)
def test_initial_architectures_use_only_legal_active_values(shape):
    hypermodel = NASHyperModel(shape, 10)
    architectures = hypermodel.initial_architectures()
    assert len(architectures) == 2
    for values in architectures:
        _, hp = built(hypermodel, values)
        declared = {h.name: h for h in hp.space}
        for name, value in values.items():
            assert name in declared, f"{name} is not a hyperparameter of the default space"
            assert hp.is_active(declared[name]), f"{name} is inactive in this architecture"
            assert value in allowed_values(declared[name]), (
                f"{name}={value!r} is not one of {allowed_values(declared[name])}")


@pytest.mark.parametrize("shape", SHAPES)
def test_initial_architectures_fit_64_kb_as_int8(shape):
    # As the search measures: input normalization, and distinct weights (an
    # untrained model converts 4-10 KB smaller: identical buffers are stored once).
    hypermodel = NASHyperModel(shape, 10, mean=np.array([0.5]), variance=np.array([0.25]))
    x = np.random.default_rng(0).normal(size=(16, *shape)).astype("float32")
    for values in hypermodel.initial_architectures():
        model, _ = built(hypermodel, values)
        randomize_weights(model, seed=0)
        content = tflite.to_tflite(model, "int8", representative_data=x)
        assert len(content) <= FLASH_LIMIT_BYTES, f"{len(content) / 1024:.1f} KB > 64 KB"


def test_no_initial_architectures_outside_the_default_conv_space():
    assert NASHyperModel((8, 8, 1), 10, space=MLPSpace()).initial_architectures() == []
    assert NASHyperModel((64,), 10).initial_architectures() == []
