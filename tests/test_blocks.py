"""Tests of `keras_nas.blocks`: hyperparameter declaration, and real int8
conversion of sampled candidates run in LiteRT and TFLite Micro."""

import os
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import keras_tuner  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_nas.blocks import (  # noqa: E402
    ACTIVATIONS,
    Block,
    ClassifierHead,
    ConvBNAct,
    ConvSpace,
    DenseBlock,
    DepthwiseSeparable,
    MBConv,
    MLPSpace,
    Sequence,
    Stage,
    default_space,
)
from keras_nas.blocks import ops  # noqa: E402

IMG = (8, 8, 1)  # digits
SIG = (40, 1)  # mnist1d
TAB = (64,)


# ----------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(0)  # deterministic weights, hence conversions


def build_model(space, shape, hp, num_classes=10):
    inputs = keras.Input(shape, name="inputs")
    features = space.build(hp, inputs)
    outputs = ClassifierHead(num_classes).build(hp, features)
    return keras.Model(inputs, outputs)


def declared_space(space, shape):
    """Builds once with default values; returns the hp holding the full space."""
    hp = keras_tuner.HyperParameters()
    build_model(space, shape, hp)
    return hp


def with_values(space_hp, values):
    """A copy of `space_hp` with `values` (only active entries are kept)."""
    hp = space_hp.copy()
    hp.values = dict(values)
    return hp


def random_hp(space, shape, seed):
    """Samples a candidate with Keras Tuner's own random-search oracle."""
    space_hp = declared_space(space, shape)
    oracle = keras_tuner.oracles.RandomSearchOracle(seed=seed)
    oracle.update_space(space_hp)
    values = oracle.populate_space("trial")["values"]
    return with_values(space_hp, values)


def forced_hp(space, shape, overrides):
    """Defaults everywhere except `overrides` (names without the space scope)."""
    space_hp = declared_space(space, shape)
    hp = keras_tuner.HyperParameters()
    for p in space_hp.space:
        hp.merge([p])
        if hp.is_active(p):
            short = p.name.split("/", 1)[1] if "/" in p.name else p.name
            hp.values[p.name] = overrides.get(short, overrides.get(p.name, p.default))
    return hp


def to_int8_tflite(model, shape):
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    rng = np.random.default_rng(0)

    def representative_data():
        for _ in range(8):
            yield [rng.standard_normal((1,) + tuple(shape)).astype(np.float32)]

    converter.representative_dataset = representative_data
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    return converter.convert()


def run_litert(flatbuffer, x):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=flatbuffer)
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])


_TFLM_SCRIPT = """
import sys
import numpy as np
from tflite_micro.python.tflite_micro import runtime
model, x, out = sys.argv[1:4]
interpreter = runtime.Interpreter.from_bytes(open(model, "rb").read(), arena_size=1 << 20)
interpreter.set_input(np.load(x), 0)
interpreter.invoke()
np.save(out, interpreter.get_output(0))
"""


def run_tflm(flatbuffer, x, tmp_path):
    """Runs TFLite Micro in a child process: TFLM aborts (SIGABRT) on some
    failures, which would otherwise kill the whole pytest session."""
    model, inputs, out = (tmp_path / n for n in ("m.tflite", "x.npy", "y.npy"))
    model.write_bytes(flatbuffer)
    np.save(inputs, x)
    result = subprocess.run(
        [sys.executable, "-c", _TFLM_SCRIPT, str(model), str(inputs), str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, f"TFLite Micro failed: {result.stderr[-2000:]}"
    return np.load(out)


def architecture(model):
    return (
        [(type(l).__name__, l.get_config()) for l in model.layers],
        [tuple(l.output.shape) for l in model.layers],
        model.count_params(),
    )


def hp_names(hp):
    return [p.name for p in hp.space]


def conditions(hp, name):
    (p,) = [p for p in hp.space if p.name == name]
    return [(c.name, list(c.values)) for c in p.conditions]


# Hand-picked candidates covering every op: SE (GAP keepdims, Conv 1x1 relu,
# hard_sigmoid, broadcast Multiply), hard_swish, residual Add, max pooling,
# stride guard (stage_3 stride 2 on a 1x1 map), DS-CNN stack, flatten, dropout.
FORCED = {
    "img_mbconv_se": (
        IMG,
        {
            "activation": "hard_swish",
            "stem/strides": 2,
            "num_stages": 3,
            **{f"stage_{i}/block_type": "mbconv" for i in (1, 2, 3)},
            **{f"stage_{i}/expansion": 4 for i in (1, 2, 3)},
            **{f"stage_{i}/se_ratio": 0.25 for i in (1, 2, 3)},
            **{f"stage_{i}/strides": 2 for i in (1, 2, 3)},
            **{f"stage_{i}/filters": 16 for i in (1, 2, 3)},
            "stage_2/depth": 2,
            "stage_3/skip": True,
            "pooling": "max",
        },
    ),
    "sig_dscnn_mix": (
        SIG,
        {
            "activation": "relu6",
            "stem/filters": 32,
            "stem/kernel_size": 7,
            "stem/strides": 1,
            "num_stages": 3,
            "stage_1/block_type": "ds",
            "stage_1/depth": 3,
            "stage_1/filters": 64,
            "stage_1/strides": 2,
            "stage_2/block_type": "mbconv",
            "stage_2/expansion": 1,
            "stage_2/se_ratio": 0.0,
            "stage_2/filters": 64,
            "stage_3/block_type": "mbconv",
            "stage_3/expansion": 6,
            "stage_3/se_ratio": 0.25,
            "stage_3/strides": 2,
            "stage_3/kernel_size": 5,
            "pooling": "flatten",
            "dropout": 0.25,
        },
    ),
}


# ----------------------------------------------------------------------------
# The Block contract
# ----------------------------------------------------------------------------


class TinyConv(Block):
    def build(self, hp, inputs):
        filters = hp.Choice("filters", [4, 8])
        return keras.layers.Conv2D(
            filters, 3, padding="same", name=f"{self.name}_conv"
        )(inputs)


def test_custom_block_in_a_few_lines():
    hp = keras_tuner.HyperParameters()
    inputs = keras.Input(IMG)
    outputs = ClassifierHead(3, pooling="avg", dropout=0.0).build(
        hp, TinyConv().build(hp, inputs)
    )
    model = keras.Model(inputs, outputs)
    assert hp_names(hp) == ["tiny_conv/filters"]
    assert model.get_layer("tiny_conv_conv").filters == 4
    assert model.output_shape == (None, 3)

    hp = keras_tuner.HyperParameters()
    TinyConv(name="mine").build(hp, inputs)
    assert hp_names(hp) == ["mine/filters"]


def test_name_scope_nesting_and_super_build():
    class Wider(TinyConv):
        def build(self, hp, inputs):
            return super().build(hp, inputs)

    hp = keras_tuner.HyperParameters()
    Sequence([TinyConv(), Wider()]).build(hp, keras.Input(IMG))
    # One scope per block, not one per class in the MRO.
    assert hp_names(hp) == ["sequence/tiny_conv/filters", "sequence/wider/filters"]


def test_default_names_are_snake_case():
    assert ConvBNAct().name == "conv_bn_act"
    assert MBConv().name == "mb_conv"
    assert DepthwiseSeparable().name == "depthwise_separable"
    assert ConvSpace().name == "conv_space"
    assert MLPSpace().name == "mlp_space"
    with pytest.raises(ValueError, match="identifier"):
        ConvBNAct(name="a/b")


def test_sequence_uniquifies_default_names_and_rejects_duplicates():
    seq = Sequence([MBConv(), MBConv(), MBConv()])
    assert [b.name for b in seq.blocks] == ["mb_conv", "mb_conv_1", "mb_conv_2"]
    hp = keras_tuner.HyperParameters()
    keras.Model(*(lambda i: (i, seq.build(hp, i)))(keras.Input(SIG)))
    with pytest.raises(ValueError, match="Duplicate"):
        Sequence([MBConv(name="b"), MBConv(name="b")])
    block = MBConv()
    with pytest.raises(ValueError, match="twice"):
        Sequence([block, block])


# ----------------------------------------------------------------------------
# Hyperparameter declaration
# ----------------------------------------------------------------------------


def test_fixed_args_declare_no_hyperparameters():
    hp = keras_tuner.HyperParameters()
    x = keras.Input(SIG)
    x = ConvBNAct(8, 3, 1, "relu").build(hp, x)
    x = DepthwiseSeparable(16, 5, 2, "relu6").build(hp, x)
    x = MBConv(16, 3, 4, 1, 0.25, True, "hard_swish").build(hp, x)
    x = Stage(2, "mbconv", 24, 3, 2, 2, 0.0, True, "relu", "none").build(hp, x)
    x = Stage(1, "ds", 24, 3, None, 1, None, None, "relu", "max", name="s2").build(hp, x)
    y = ClassifierHead(10, pooling="avg", dropout=0.1).build(hp, x)
    z = DenseBlock(32, 2, 0.0, "relu", use_batchnorm=True).build(
        hp, keras.Input(TAB)
    )
    assert hp.space == [] and hp.values == {}
    assert y.shape == (None, 10) and z.shape == (None, 32)


def test_none_args_declare_documented_choices():
    hp = keras_tuner.HyperParameters()
    ConvBNAct().build(hp, keras.Input(SIG))
    ConvBNAct(name="stem_2d").build(hp, keras.Input(IMG))
    choices = {p.name: list(p.values) for p in hp.space}
    assert choices == {
        "conv_bn_act/filters": [8, 16, 24, 32],
        "conv_bn_act/kernel_size": [3, 5, 7],
        "conv_bn_act/strides": [1, 2],
        "conv_bn_act/activation": ACTIVATIONS,
        "stem_2d/filters": [8, 16, 24, 32],
        "stem_2d/kernel_size": [3, 5],
        "stem_2d/strides": [1, 2],
        "stem_2d/activation": ["relu", "relu6", "hard_swish"],
    }
    hp = keras_tuner.HyperParameters()
    MBConv().build(hp, keras.Input(IMG))
    values = {p.name: getattr(p, "values", None) for p in hp.space}
    assert values["mb_conv/expansion"] == [1, 2, 4, 6]
    assert values["mb_conv/filters"] == [8, 16, 24, 32, 48, 64]
    assert values["mb_conv/se_ratio"] == [0.0, 0.25]
    assert "mb_conv/skip" in values

    # A list searches exactly these values.
    hp = keras_tuner.HyperParameters()
    ConvBNAct(filters=[4, 12], kernel_size=3, strides=1).build(hp, keras.Input(IMG))
    assert {p.name: list(p.values) for p in hp.space} == {
        "conv_bn_act/filters": [4, 12],
        "conv_bn_act/activation": ACTIVATIONS,
    }


def test_stage_declares_mbconv_hps_only_under_conditional_scope():
    hp = keras_tuner.HyperParameters()
    Stage(name="stage_1").build(hp, keras.Input(IMG))
    assert hp_names(hp) == [
        "stage_1/block_type",
        "stage_1/pool",
        "stage_1/depth",
        "stage_1/filters",
        "stage_1/kernel_size",
        "stage_1/strides",
        "stage_1/activation",
        "stage_1/expansion",
        "stage_1/se_ratio",
        "stage_1/skip",
    ]
    for name in ("expansion", "se_ratio", "skip"):
        assert conditions(hp, f"stage_1/{name}") == [
            ("stage_1/block_type", ["mbconv"])
        ]
    for name in ("block_type", "pool", "depth", "filters", "kernel_size", "strides"):
        assert conditions(hp, f"stage_1/{name}") == []
    # Default block type is "conv": the mbconv-only values are inactive.
    assert "stage_1/expansion" not in hp.values

    hp = keras_tuner.HyperParameters()
    Stage(block_type="ds", name="s").build(hp, keras.Input(IMG))
    assert not any("expansion" in n or "se_ratio" in n for n in hp_names(hp))
    with pytest.raises(ValueError, match="mbconv"):
        Stage(block_type="ds", se_ratio=0.25)


def test_stage_blocks_are_fixed_and_strided_once():
    hp = keras_tuner.HyperParameters()
    hp.values.update({"s/block_type": "mbconv", "s/depth": 3, "s/strides": 2})
    inputs = keras.Input(IMG)
    model = keras.Model(inputs, Stage(name="s").build(hp, inputs))
    assert hp_names(hp)[:3] == ["s/block_type", "s/pool", "s/depth"]
    assert all(n.startswith("s/") and n.count("/") == 1 for n in hp_names(hp))
    assert model.get_layer("s_0_dw_conv").strides == (2, 2)
    assert model.get_layer("s_1_dw_conv").strides == (1, 1)
    assert model.get_layer("s_2_dw_conv").strides == (1, 1)
    # Default expansion 1: no expand conv; skip on where shapes allow.
    names = [l.name for l in model.layers]
    assert "s_0_expand_conv" not in names
    assert "s_0_add" not in names and "s_1_add" in names and "s_2_add" in names
    assert not any("_se_" in n for n in names)  # default se_ratio 0.0


def test_se_layers_only_when_se_ratio_positive():
    inputs = keras.Input(SIG)
    hp = keras_tuner.HyperParameters()
    y = MBConv(16, 3, 2, 1, 0.25, True, "relu", name="m").build(hp, inputs)
    names = [l.name for l in keras.Model(inputs, y).layers]
    assert [n for n in names if "_se_" in n] == [
        "m_se_squeeze",
        "m_se_reduce",
        "m_se_expand",
        "m_se_gate",
        "m_se_excite",
    ]
    y = MBConv(16, 3, 2, 1, 0.0, True, "relu", name="m").build(hp, inputs)
    assert not any("_se_" in l.name for l in keras.Model(inputs, y).layers)


def test_conv_space_hyperparameters_and_conditions():
    hp = declared_space(ConvSpace(), SIG)
    names = hp_names(hp)
    assert names[:5] == [
        "conv_space/activation",
        "conv_space/stem/filters",
        "conv_space/stem/kernel_size",
        "conv_space/stem/strides",
        "conv_space/num_stages",
    ]
    assert len(names) == 5 + 3 * 9 + 2  # + classifier_head pooling, dropout
    assert conditions(hp, "conv_space/stage_1/filters") == []
    assert conditions(hp, "conv_space/stage_2/filters") == [
        ("conv_space/num_stages", [2, 3])
    ]
    assert conditions(hp, "conv_space/stage_3/se_ratio") == [
        ("conv_space/num_stages", [3]),
        ("conv_space/stage_3/block_type", ["mbconv"]),
    ]
    # Only one activation hp: shared by every block of a candidate.
    assert [n for n in names if n.endswith("activation")] == ["conv_space/activation"]


def test_inactive_scope_builds_nothing():
    hp = keras_tuner.HyperParameters()
    inputs = keras.Input(IMG)
    hp.Choice("family", ["mlp", "conv"])
    with hp.conditional_scope("family", ["conv"]):
        out = ConvSpace().build(hp, inputs)
    assert out is inputs

    hp = keras_tuner.HyperParameters()
    model = build_model(ConvSpace(), IMG, hp)  # num_stages defaults to 1
    names = [l.name for l in model.layers]
    assert any(n.startswith("stage_1_") for n in names)
    assert not any(n.startswith(("stage_2_", "stage_3_")) for n in names)


def test_keras_tuner_discovers_the_whole_space(tmp_path):
    def build(hp):
        return build_model(default_space(SIG), SIG, hp)

    tuner = keras_tuner.RandomSearch(
        build,
        objective="val_loss",
        max_trials=1,
        directory=str(tmp_path),
        project_name="p",
        seed=0,
    )
    names = hp_names(tuner.oracle.get_space())
    assert "conv_space/stage_3/se_ratio" in names
    assert len(names) == len(hp_names(declared_space(ConvSpace(), SIG)))


def test_dense_block_and_mlp_space():
    hp = declared_space(MLPSpace(), TAB)
    assert conditions(hp, "mlp_space/dense_block/units_0") == []
    assert conditions(hp, "mlp_space/dense_block/units_2") == [
        ("mlp_space/dense_block/num_layers", [3])
    ]
    assert "classifier_head/pooling" not in hp_names(hp)
    hp = forced_hp(MLPSpace(), TAB, {"dense_block/num_layers": 3,
                                     "dense_block/use_batchnorm": True,
                                     "dense_block/dropout": 0.1})
    model = build_model(MLPSpace(), TAB, hp)
    names = [l.name for l in model.layers]
    for i in range(3):
        assert f"dense_block_dense_{i}" in names and f"dense_block_bn_{i}" in names


def test_default_space():
    assert isinstance(default_space((40, 1)), ConvSpace)
    assert isinstance(default_space((8, 8, 1)), ConvSpace)
    assert isinstance(default_space((64,)), MLPSpace)
    with pytest.raises(ValueError, match=r"\(2, 2, 2, 2\).*MLPSpace"):
        default_space((2, 2, 2, 2))
    with pytest.raises(ValueError, match="rank 0"):
        default_space(())


def test_stride_guard_on_unit_dimensions():
    assert ops.effective_strides(keras.Input((1, 4, 3)), 2) == (1, 2)
    assert ops.effective_strides(keras.Input((1, 1, 3)), 2) == 1
    assert ops.effective_strides(keras.Input((None, 3)), 2) == 2
    assert ops.effective_strides(keras.Input((5, 3)), 2) == 2
    shape, overrides = FORCED["img_mbconv_se"]
    model = build_model(ConvSpace(), shape, forced_hp(ConvSpace(), shape, overrides))
    # 8x8 -> stem 4x4 -> 2x2 -> 1x1 -> stride 2 skipped on the 1x1 map.
    assert model.get_layer("stage_3_0_dw_conv").strides == (1, 1)
    assert model.get_layer("stage_3_0_dw_conv").output.shape[1:3] == (1, 1)
    assert "stage_3_0_add" in [l.name for l in model.layers]


def test_invalid_arguments():
    with pytest.raises(ValueError, match="activation"):
        MBConv(activation="gelu")
    with pytest.raises(ValueError, match="pooling"):
        ClassifierHead(10, pooling="sum")
    with pytest.raises(ValueError, match="block_type"):
        Stage(block_type="resnet")
    with pytest.raises(ValueError, match="feature map"):
        ConvBNAct().build(keras_tuner.HyperParameters(), keras.Input(TAB))


# ----------------------------------------------------------------------------
# Reproducibility and serialization
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [IMG, SIG, TAB], ids=["img", "sig", "tab"])
def test_same_values_rebuild_identical_architecture(shape):
    make_space = MLPSpace if len(shape) == 1 else ConvSpace
    for seed in range(3):
        hp = random_hp(make_space(), shape, seed)
        first = build_model(make_space(), shape, hp)
        hp2 = with_values(declared_space(make_space(), shape), hp.values)
        second = build_model(make_space(), shape, hp2)
        assert architecture(first) == architecture(second)
        assert hp2.values == hp.values


@pytest.mark.parametrize("case", ["img_mbconv_se", "sig_dscnn_mix", "tab"])
def test_save_and_reload_keras_file(case, tmp_path):
    if case == "tab":
        shape, space = TAB, MLPSpace()
        hp = forced_hp(space, shape, {"dense_block/use_batchnorm": True,
                                      "dense_block/activation": "hard_swish"})
    else:
        shape, overrides = FORCED[case]
        space = ConvSpace()
        hp = forced_hp(space, shape, overrides)
    model = build_model(space, shape, hp)
    path = tmp_path / "model.keras"
    model.save(path)
    reloaded = keras.models.load_model(path)  # safe_mode, no custom objects
    x = np.random.default_rng(0).standard_normal((4,) + shape).astype("float32")
    np.testing.assert_allclose(
        np.asarray(model(x, training=False)),
        np.asarray(reloaded(x, training=False)),
        atol=1e-6,
    )
    assert [l.name for l in model.layers] == [l.name for l in reloaded.layers]


# ----------------------------------------------------------------------------
# Real int8 conversion, LiteRT and TFLite Micro
# ----------------------------------------------------------------------------

# Each conversion exports a SavedModel (~2-4 s here): 10 conversions in all.
CONVERSION_CASES = (
    [("img", IMG, seed) for seed in range(3)]
    + [("sig", SIG, seed) for seed in range(3, 6)]
    + [("tab", TAB, seed) for seed in range(2)]
    + [(name, FORCED[name][0], name) for name in FORCED]
)


@pytest.mark.parametrize(
    "kind,shape,seed", CONVERSION_CASES, ids=[f"{c[0]}-{c[2]}" for c in CONVERSION_CASES]
)
def test_candidate_runs_int8_in_litert_and_tflm(kind, shape, seed, tmp_path):
    space = MLPSpace() if kind == "tab" else ConvSpace()
    if isinstance(seed, str):
        hp = forced_hp(space, shape, FORCED[seed][1])
    else:
        hp = random_hp(space, shape, seed)
    model = build_model(space, shape, hp)
    flatbuffer = to_int8_tflite(model, shape)
    x = np.random.default_rng(1).integers(-128, 128, (1,) + shape).astype(np.int8)
    litert_out = run_litert(flatbuffer, x)
    tflm_out = run_tflm(flatbuffer, x, tmp_path)
    assert litert_out.shape == (1, 10) and litert_out.dtype == np.int8
    assert tflm_out.shape == (1, 10) and tflm_out.dtype == np.int8
    # Different kernels (XNNPACK vs TFLM reference) round differently; the
    # differences stay within a few output steps of 1/256.
    assert np.abs(litert_out.astype(int) - tflm_out.astype(int)).max() <= 8
