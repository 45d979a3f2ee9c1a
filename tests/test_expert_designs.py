"""Every preset holds the designs an expert would write for small boards as points."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras_tuner  # noqa: E402
import pytest  # noqa: E402

from keras_nas.blocks.genotype import allowed_values  # noqa: E402
from keras_nas.hypermodel import NASHyperModel  # noqa: E402


def stage(i, block_type, depth, filters, strides, pool="none", kernel_size=3, space="conv_space", **mbconv):
    values = {"block_type": block_type, "pool": pool, "depth": depth, "filters": filters,
              "kernel_size": kernel_size, "strides": strides, **mbconv}
    return {f"{space}/stage_{i}/{k}": v for k, v in values.items()}


def conv_space_designs():
    common = {"conv_space/activation": "relu", "conv_space/stem/kernel_size": 3, "conv_space/stem/strides": 1,
              "classifier_head/pooling": "avg", "classifier_head/dropout": 0.0}
    return {
        # conv 8 -> max-pool -> conv 16 -> flatten -> dense
        "plain_cnn": {**common, "conv_space/stem/filters": 8, "conv_space/num_stages": 1,
                      "classifier_head/pooling": "flatten", **stage(1, "conv", 1, 16, 1, pool="max")},
        # Hello Edge DS-CNN (S): conv 64, four DS layers of 64, average pooling (64 is the space's widest)
        "ds_cnn": {**common, "conv_space/stem/filters": 32, "conv_space/num_stages": 2,
                   **stage(1, "ds", 2, 64, 2), **stage(2, "ds", 2, 64, 1)},
        # MobileNetV1 at width 0.25: stride-2 conv 8, DS 16, DS 32 x2 (s2), DS 64 x2 (s2)
        "mobilenet_v1_025": {**common, "conv_space/stem/filters": 8, "conv_space/stem/strides": 2,
                             "conv_space/num_stages": 3, **stage(1, "ds", 1, 16, 1),
                             **stage(2, "ds", 2, 32, 2), **stage(3, "ds", 2, 64, 2)},
        # MLPerf Tiny image classification: ResNet-8 (conv 16, residual stages 16, 32, 64)
        "resnet8": {**common, "conv_space/stem/filters": 16, "conv_space/num_stages": 3,
                    **stage(1, "residual", 1, 16, 1), **stage(2, "residual", 1, 32, 2),
                    **stage(3, "residual", 1, 64, 2)},
    }


def micro_space_designs():
    common = {"micro_space/activation": "relu", "micro_space/stem/strides": 1,
              "classifier_head/pooling": "flatten", "classifier_head/dropout": 0.0}
    return {
        "plain_cnn": {**common, "micro_space/stem/filters": 8, "micro_space/num_stages": 1,
                      **stage(1, "conv", 1, 16, 1, pool="max", space="micro_space")},
        "ds_cnn": {**common, "micro_space/stem/filters": 16, "micro_space/num_stages": 2,
                   **stage(1, "ds", 2, 16, 1, space="micro_space"), **stage(2, "ds", 2, 32, 2, space="micro_space")},
    }


def built(hypermodel, values):
    hp = keras_tuner.HyperParameters()
    hp.values.update(values)
    return hypermodel.build(hp), hp


def assert_is_a_point(hypermodel, values):
    model, hp = built(hypermodel, values)
    declared = {h.name: h for h in hp.space}
    for name, value in values.items():
        assert name in declared, f"{name} is not a hyperparameter of the space"
        assert hp.is_active(declared[name]), f"{name} is inactive in this design"
        assert value in allowed_values(declared[name]), f"{name}={value!r} not in {allowed_values(declared[name])}"
    return model


@pytest.mark.parametrize("name", sorted(conv_space_designs()))
@pytest.mark.parametrize("shape", [(32, 32, 3), (8, 8, 1), (40, 1)])
def test_conv_preset_contains_the_classic_tiny_designs(name, shape):
    assert_is_a_point(NASHyperModel(shape, 10, space="conv"), conv_space_designs()[name])


@pytest.mark.parametrize("name", sorted(micro_space_designs()))
def test_micro_preset_contains_the_classic_tiny_designs(name):
    assert_is_a_point(NASHyperModel((8, 8, 1), 10, space="micro"), micro_space_designs()[name])


def test_resnet8_point_has_the_mlperf_tiny_reference_size():
    # MLPerf Tiny's ResNet-8 on 32x32x3 CIFAR-10 has 78,666 parameters. Its nine
    # convolutions carry biases (16 + 16 + 16 + 32 + 32 + 32 + 64 + 64 + 64 = 336), ours
    # do not (a batch norm follows each); our projection shortcuts have a batch norm
    # (4 x (32 + 64) = 384 parameters), the reference's do not.
    model = assert_is_a_point(NASHyperModel((32, 32, 3), 10, space="conv"), conv_space_designs()["resnet8"])
    assert model.count_params() == 78_666 - 336 + 384
    layers = [layer.name for layer in model.layers]
    assert sum(n.endswith("_add") for n in layers) == 3


def test_plain_cnn_point_is_the_hand_written_cnn():
    model = assert_is_a_point(NASHyperModel((8, 8, 1), 10, space="conv"), conv_space_designs()["plain_cnn"])
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds.count("Conv2D") == 2 and kinds.count("MaxPooling2D") == 1 and kinds.count("Dense") == 1
    # conv 3x3x1x8 + 8, conv 3x3x8x16 + 16 (batch norm folds into them), dense 256x10 + 10
    weights = {layer.name: layer.count_params() for layer in model.layers if type(layer).__name__ in ("Conv2D", "Dense")}
    assert sorted(weights.values()) == [72, 1152, 2570]
