"""Every preset holds the designs an expert would write for small boards as points; the MLPerf Tiny
presets start from their task's reference model."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras_tuner  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from keras_nas import NASModel, tflite  # noqa: E402
from keras_nas.blocks import get_space  # noqa: E402
from keras_nas.blocks.genotype import allowed_values  # noqa: E402
from keras_nas.blocks.introspect import declared_hyperparameters  # noqa: E402
from keras_nas.cost_predictor import FeasibilityFilter, scale_to_fit  # noqa: E402
from keras_nas.datasets import load_digits  # noqa: E402
from keras_nas.hypermodel import NASHyperModel  # noqa: E402
from keras_nas.strategies import RandomSearch  # noqa: E402
from keras_nas.tuner import randomize_weights  # noqa: E402


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


def graph_builder(hypermodel):
    """`build(values) -> keras.Model`: the uncompiled candidate of a point of `hypermodel`'s space."""

    def build(values):
        hp = keras_tuner.HyperParameters()
        hp.values.update(values)
        return hypermodel.build_graph(hp)

    return build


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


# The MLPerf Tiny presets. Published parameter counts: every weight of the trained reference
# models of github.com/mlcommons/tiny (benchmark/training/), batch-norm statistics included as
# Keras' count_params counts them: keyword_spotting/trained_models/kws_ref_model (SavedModel)
# 24,908; visual_wake_words/trained_models/vww_96.h5 221,794;
# image_classification/trained_models/pretrainedResnet.h5 78,666 (the same counts as the
# models of their keras_model.py / vww_model.py).
MLPERF_TINY_PUBLISHED_PARAMS = {"mlperf-kws": 24_908, "mlperf-vww": 221_794, "mlperf-ic": 78_666}
# Sizes of the published int8 models, same repository: keyword_spotting/trained_models/
# kws_ref_model.tflite, visual_wake_words/trained_models/vww_96_int8.tflite,
# image_classification/trained_models/pretrainedResnet_quant.tflite.
MLPERF_TINY_PUBLISHED_INT8_BYTES = {"mlperf-kws": 53_936, "mlperf-vww": 333_288, "mlperf-ic": 98_496}
# Layer kinds of each reference (biases and batch norms aside).
MLPERF_TINY_LAYERS = {
    "mlperf-kws": {"Conv2D": 5, "DepthwiseConv2D": 4, "Dense": 1, "Add": 0},
    "mlperf-vww": {"Conv2D": 14, "DepthwiseConv2D": 13, "Dense": 1, "Add": 0},
    "mlperf-ic": {"Conv2D": 9, "DepthwiseConv2D": 0, "Dense": 1, "Add": 3},
}
MLPERF_TINY = sorted(MLPERF_TINY_PUBLISHED_PARAMS)


def mlperf_reference(name):
    """The preset's hypermodel on the reference's input shape and classes, and its first design."""
    space = get_space(name)
    hypermodel = NASHyperModel(space.reference_input_shape, space.reference_num_classes, space=name)
    return hypermodel, hypermodel.initial_architectures()[0]


@pytest.mark.parametrize("name", MLPERF_TINY)
def test_mlperf_tiny_preset_builds_its_reference_with_the_published_size(name):
    hypermodel, reference = mlperf_reference(name)
    model = assert_is_a_point(hypermodel, reference)
    published = MLPERF_TINY_PUBLISHED_PARAMS[name]
    assert model.count_params() == published
    assert model.input_shape[1:] == get_space(name).reference_input_shape
    assert model.output_shape[1:] == (get_space(name).reference_num_classes,)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert {kind: kinds.count(kind) for kind in MLPERF_TINY_LAYERS[name]} == MLPERF_TINY_LAYERS[name]
    assert "Resizing" not in kinds and "GlobalAveragePooling2D" in kinds


def test_mlperf_kws_reference_has_the_strided_10x4_first_conv():
    hypermodel, reference = mlperf_reference("mlperf-kws")
    stem = built(hypermodel, reference)[0].get_layer("mlperf_kws_stem_conv")
    assert stem.kernel_size == (10, 4) and stem.strides == (2, 2) and stem.filters == 64


@pytest.mark.parametrize("name", MLPERF_TINY)
def test_mlperf_tiny_preset_first_candidate_is_its_reference(name):
    hypermodel, reference = mlperf_reference(name)
    oracle = RandomSearch(max_trials=3, seed=0, initial_architectures=hypermodel.initial_architectures())
    oracle.hyperparameters = declared_hyperparameters(hypermodel)
    # The reference names every active choice: the search completes nothing at random.
    assert oracle.populate_space("0")["values"] == reference


@pytest.mark.parametrize("name", MLPERF_TINY)
def test_mlperf_tiny_preset_spans_narrower_shallower_cheaper_designs(name):
    hypermodel, reference = mlperf_reference(name)
    declared = {hp.name: hp for hp in declared_hyperparameters(hypermodel).space}
    width = next(n for n in reference if n.endswith(("/width", "/width_multiplier")))
    widths = allowed_values(declared[width])
    assert reference[width] == max(widths) and min(widths) <= reference[width] / 4  # down to a quarter
    smallest = {**reference, width: min(widths)}
    for n in reference:
        if n.endswith(("depth", "num_layers", "num_stages")):
            smallest[n] = min(allowed_values(declared[n]))
    reference_size = built(hypermodel, reference)[0].count_params()
    assert built(hypermodel, smallest)[0].count_params() < reference_size / 10


def test_mlperf_tiny_reference_shrinks_to_a_small_board():
    # The search starts from the reference scaled to the limits (`scale_to_fit`), as for the
    # default space's designs: whole on a roomy board, narrower on a small one.
    hypermodel, reference = mlperf_reference("mlperf-ic")
    space = declared_hyperparameters(hypermodel).space
    build = graph_builder(hypermodel)
    roomy = scale_to_fit([reference], FeasibilityFilter(build, 512, 256), space)
    small = scale_to_fit([reference], FeasibilityFilter(build, 32, 32), space)
    assert roomy[0] == reference
    assert small and small[0]["mlperf_ic/width_multiplier"] < 1.0
    assert {k: v for k, v in small[0].items() if "width" not in k} == {
        k: v for k, v in reference.items() if "width" not in k}


@pytest.mark.parametrize("name", MLPERF_TINY)
def test_mlperf_tiny_reference_converts_to_int8_and_is_measured(name):
    hypermodel, reference = mlperf_reference(name)
    model = hypermodel.build_graph(built(hypermodel, reference)[1])
    randomize_weights(model, seed=0)  # distinct weights, as after training
    shape = get_space(name).reference_input_shape
    x = np.random.default_rng(0).normal(size=(16, *shape)).astype("float32")
    content, cost = tflite.measure_model(model, x, latency_runs=3)
    # The size of the published int8 reference, within what converter versions change (ours
    # measured 80-94 % of it).
    assert abs(cost.flash_bytes / MLPERF_TINY_PUBLISHED_INT8_BYTES[name] - 1) < 0.3
    assert cost.peak_ram_bytes > 0 and cost.latency_ms > 0
    assert {"CONV_2D", "FULLY_CONNECTED", "SOFTMAX"} <= set(cost.ops)
    # The int8 model computes what the Keras model does, within quantization error.
    int8, float32 = tflite.predict(content, x), model.predict(x, verbose=0)
    assert np.abs(int8 - float32).max() < 0.05
    assert (int8.argmax(axis=1) == float32.argmax(axis=1)).mean() >= 0.9


def test_a_search_on_an_mlperf_preset_starts_from_its_reference(tmp_path):
    # Real data: the digits (8x8x1). The presets are rank-generic; ResNet-8's values build on any image.
    (x_train, y_train), (x_val, y_val), _ = load_digits()
    model = NASModel(space="mlperf-ic", strategy="random", max_trials=1, seed=0, finalists=1, search_epochs=1,
                     latency_runs=1, directory=str(tmp_path), project_name="ic")
    model.fit(x_train[:300], y_train[:300], validation_data=(x_val, y_val), epochs=1, verbose=0)
    first = model.trials()[0]
    reference = NASHyperModel((8, 8, 1), 10, space="mlperf-ic").initial_architectures()[0]
    assert first["status"] == "COMPLETED"
    assert {name: first["hyperparameters"][name] for name in reference} == reference
    assert model.model.count_params() > 0 and model.cost_["flash_bytes"] > 0


def test_mlperf_tiny_reference_biases_fold_into_the_same_int8_model():
    # The preset builds as the reference does (conv biases before batch norms, ResNet-8's
    # shortcuts without batch norm); the converter folds both away: the same design built with
    # our default conventions converts to the same operators, size and arena.
    hypermodel, reference = mlperf_reference("mlperf-ic")
    design = {**reference, "mlperf_ic/width_multiplier": 0.25}
    as_published = hypermodel.build_graph(built(hypermodel, design)[1])
    hypermodel.space.reference_conventions = {}
    as_ours = hypermodel.build_graph(built(hypermodel, design)[1])
    assert as_published.count_params() != as_ours.count_params()  # biases in, shortcut batch norms out
    x = np.random.default_rng(0).normal(size=(16, 32, 32, 3)).astype("float32")
    costs = [tflite.measure_model(model, x, latency_runs=1)[1] for model in (as_published, as_ours)]
    assert costs[0].ops == costs[1].ops
    assert costs[0].flash_bytes == costs[1].flash_bytes and costs[0].peak_ram_bytes == costs[1].peak_ram_bytes


def test_mlperf_tiny_conventions_end_with_the_preset():
    # A preset's conventions hold while it builds, not for the spaces built after it.
    hypermodel, reference = mlperf_reference("mlperf-kws")
    built(hypermodel, reference)
    model = NASHyperModel((49, 10, 1), 12, space="kws").build_graph(keras_tuner.HyperParameters())
    convs = [layer for layer in model.layers if type(layer).__name__ in ("Conv2D", "DepthwiseConv2D")]
    assert convs and not any(layer.use_bias for layer in convs)


def test_tabular_search_starts_from_the_engineers_mlp_sized_for_the_board():
    hypermodel = NASHyperModel((10,), 3)
    design = hypermodel.initial_architectures()[0]
    model = assert_is_a_point(hypermodel, design)
    assert [layer.units for layer in model.layers if type(layer).__name__ == "Dense"] == [32, 32, 3]
    space = declared_hyperparameters(hypermodel).space
    build = graph_builder(hypermodel)
    # The dense units scale with the limits, as a CNN's filters do.
    roomy = scale_to_fit([design], FeasibilityFilter(build, 64, 32), space)[0]
    tight = scale_to_fit([design], FeasibilityFilter(build, 3.4, 2), space)[0]
    assert roomy["mlp_space/dense_block/units_0"] > 32
    assert tight["mlp_space/dense_block/units_0"] < 32 and tight["mlp_space/dense_block/num_layers"] == 2
    # A space whose dense block is not fully searched names no design.
    from keras_nas import blocks

    assert blocks.MLPSpace(units=64).initial_architectures((10,)) == []


def test_keyword_spotting_search_starts_from_the_ds_cnn_sized_for_the_board():
    # The "kws" preset names the DS-CNN of "Hello Edge" (MLPerf Tiny's): width 64, four 3x3 DS
    # layers, a 10x4 first conv striding 2 in time and frequency. On 49x40 log-mel it needs ~70 KB
    # of arena: at half that, the search starts from the same design made narrower, strides kept.
    hypermodel = NASHyperModel((49, 40, 1), 12, space="kws")
    (design,) = hypermodel.initial_architectures()
    model = assert_is_a_point(hypermodel, design)
    assert design["kws_space/width"] == 64 and design["kws_space/num_layers"] == 4
    assert design["learning_rate"] == 3e-3 and design["classifier_head/pooling"] == "avg"
    stem = model.get_layer("kws_space_stem_conv")
    assert stem.kernel_size == (10, 4) and stem.strides == (2, 2)
    space = declared_hyperparameters(hypermodel).space
    build = graph_builder(hypermodel)
    tight = scale_to_fit([design], FeasibilityFilter(build, 40, 35), space)[0]
    assert 16 < tight["kws_space/width"] < 64
    assert (tight["kws_space/stem_strides"], tight["kws_space/freq_strides"]) == (2, 2)
    # On a 1D signal the same design has no frequency stride; a space that fixes another
    # width does not hold the DS-CNN and names none.
    (signal,) = NASHyperModel((49, 10), 12, space="kws").initial_architectures()
    assert "kws_space/freq_strides" not in signal and signal["kws_space/stem_kernel"] == 10
    assert get_space("kws").initial_architectures((49, 40, 1)) != []
    from keras_nas.blocks import KWSSpace

    assert KWSSpace(width=32).initial_architectures((49, 40, 1)) == []
    fixed_depth = KWSSpace(num_layers=4).initial_architectures((49, 40, 1))[0]
    assert "kws_space/num_layers" not in fixed_depth and fixed_depth["kws_space/width"] == 64
