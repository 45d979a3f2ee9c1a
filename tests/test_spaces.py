"""Tests of the search-space presets, NB201 encoding, genotype I/O, space size and scaling."""

import itertools
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import keras_tuner  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from keras_nas import tflite  # noqa: E402
from keras_nas.blocks import (  # noqa: E402
    Block,
    ClassifierHead,
    ConvSpace,
    DenseBlock,
    FireBlock,
    GhostBlock,
    KWSSpace,
    MicroSpace,
    OneShotSpace,
    MLPSpace,
    MobileSpace,
    NB201Cell,
    NB201Space,
    Pooling,
    ResidualBlock,
    Sequence,
    Stage,
    compound_scale,
    from_json,
    search_compound_scaling,
    space_size,
    to_json,
)
from keras_nas.blocks.genotype import validate_values  # noqa: E402
from keras_nas.blocks.introspect import allowed_values, declared_hyperparameters  # noqa: E402
from keras_nas.blocks.scaling import coefficient_grid, scaling_roles  # noqa: E402
from keras_nas.datasets import load_digits, load_mnist1d  # noqa: E402
from keras_nas.hypermodel import NASHyperModel  # noqa: E402

from keras_nas.blocks.nb201 import (  # noqa: E402
    NB201_EDGES,
    NB201_OPS,
    declare_nb201,
    edge_name,
    from_nb201_string,
    to_nb201_string,
)

PAPER_ARCH = (
    "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_1x1~1|skip_connect~2|"
)


# ----------------------------------------------------------------- NB201 codec
def test_nb201_declare_names_and_string():
    hp = keras_tuner.HyperParameters()
    declare_nb201(hp, name="cell")
    assert list(hp.values) == [
        "cell/edge_1_0", "cell/edge_2_0", "cell/edge_2_1",
        "cell/edge_3_0", "cell/edge_3_1", "cell/edge_3_2",
    ]
    for h in hp.space:
        assert list(h.values) == list(NB201_OPS)
    values = from_nb201_string(PAPER_ARCH, name="cell")
    assert values["cell/edge_2_0"] == "none"
    assert values["cell/edge_3_0"] == "avg_pool_3x3"
    hp.values.update(values)
    assert to_nb201_string(hp, name="cell") == PAPER_ARCH
    assert edge_name(3, 1) == "edge_3_1"


def test_nb201_round_trip_all_15625_architectures():
    seen = set()
    for combo in itertools.product(NB201_OPS, repeat=len(NB201_EDGES)):
        values = {f"nb201/{edge_name(*e)}": op for e, op in zip(NB201_EDGES, combo)}
        arch = to_nb201_string(values)
        assert from_nb201_string(arch) == values
        seen.add(arch)
    assert len(seen) == 15625


def test_nb201_entries_in_any_order_within_a_node():
    shuffled = "|nor_conv_3x3~0|+|skip_connect~1|none~0|+|skip_connect~2|avg_pool_3x3~0|nor_conv_1x1~1|"
    assert to_nb201_string(from_nb201_string(shuffled)) == PAPER_ARCH


@pytest.mark.parametrize(
    "arch, message",
    [
        ("|nor_conv_3x3~0|+|none~0|skip_connect~1|", "3 nodes"),
        ("|conv_5x5~0|+|none~0|skip_connect~1|+|none~0|none~1|none~2|", "unknown operation 'conv_5x5'"),
        ("|none~1|+|none~0|skip_connect~1|+|none~0|none~1|none~2|", "0..0"),
        ("|none~0|+|none~0|skip_connect~0|+|none~0|none~1|none~2|", "two inputs from node 0"),
        ("|none~0|+|none~0|+|none~0|none~1|none~2|", "2 input(s)"),
        ("|none~0|+|none~0|none~1|+|none~0|none~1|none|", "'op~index'"),
        ("none~0|+|none~0|none~1|+|none~0|none~1|none~2|", "start and end with '|'"),
        (42, "must be a str"),
    ],
)
def test_nb201_malformed_strings_raise(arch, message):
    with pytest.raises(ValueError, match=None) as info:
        from_nb201_string(arch)
    assert message in str(info.value)


def test_nb201_bad_values_raise():
    values = from_nb201_string(PAPER_ARCH)
    with pytest.raises(ValueError, match="Missing NAS-Bench-201 edge hyperparameter 'other/edge_1_0'"):
        to_nb201_string(values, name="other")
    values["nb201/edge_3_2"] = "conv_7x7"
    with pytest.raises(ValueError, match="not a NAS-Bench-201 operation"):
        to_nb201_string(values)
    with pytest.raises(ValueError, match="not an edge"):
        edge_name(1, 1)


# ----------------------------------------------------------------- helpers
IMG, SIG, MFCC, TAB = (8, 8, 1), (40, 1), (49, 10, 1), (64,)

# (id, space factory, input shape): one entry per preset and input kind.
SPACES = [
    ("conv_img", ConvSpace, IMG),
    ("mlp_tab", MLPSpace, TAB),
    ("kws_mfcc", KWSSpace, MFCC),
    ("kws_sig", KWSSpace, SIG),
    ("micro_img", MicroSpace, IMG),
    ("micro_sig", MicroSpace, SIG),
    ("mobile_img", MobileSpace, IMG),
    ("mobile_sig", MobileSpace, SIG),
    ("nb201_img", NB201Space, IMG),
    ("nb201_sig", NB201Space, SIG),
]


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(0)


_DECLARED = {}


def declared_for(kind, hypermodel):
    """The declared space of a hypermodel, built once per test session and kind."""
    if kind not in _DECLARED:
        _DECLARED[kind] = declared_hyperparameters(hypermodel)
    return _DECLARED[kind]


def head_model(space, shape, hp, num_classes=10):
    inputs = keras.Input(shape)
    outputs = ClassifierHead(num_classes).build(hp, space.build(hp, inputs))
    return keras.Model(inputs, outputs)


def sample_values(declared, seed, base=None):
    """Draws every active hyperparameter, as `NASOracle.random_values` does
    (keeping `base` values where their hyperparameter is active)."""
    rng = np.random.default_rng(seed)
    base = base or {}
    hp = keras_tuner.HyperParameters()
    for p in declared.space:
        hp.merge([p])
        if hp.is_active(p):
            draw = p.random_sample(int(rng.integers(2**31 - 1)))
            hp.values[p.name] = base.get(p.name, draw)
    return dict(hp.values)


def architecture(model):
    return (
        [(type(layer).__name__, layer.get_config()) for layer in model.layers],
        [tuple(layer.output.shape) for layer in model.layers],
        model.count_params(),
    )


def names(hp):
    return [p.name for p in hp.space]


def conditions(hp, name):
    (p,) = [p for p in hp.space if p.name == name]
    return [(c.name, list(c.values)) for c in p.conditions]


# ------------------------------------------------------------ NB201 in Keras
def test_nb201_space_uses_declare_nb201_names_and_shared_genotype():
    reference = keras_tuner.HyperParameters()
    declare_nb201(reference, name="nb201")
    hp = keras_tuner.HyperParameters()
    hp.values.update(from_nb201_string(PAPER_ARCH))
    model = head_model(NB201Space(num_cells=2), IMG, hp)
    assert names(hp)[:6] == names(reference)
    assert to_nb201_string(hp.values) == PAPER_ARCH
    layers = [layer.name for layer in model.layers]
    # Same genotype in all 6 cells: edge 2<-0 is none, 3<-0 avg pool, 3<-1 conv 1x1.
    for stage, i in itertools.product(range(3), range(2)):
        cell = f"nb201_cell_{stage}_{i}"
        assert f"{cell}_e10_conv" in layers and f"{cell}_e31_conv" in layers
        assert f"{cell}_e30_pool" in layers and f"{cell}_e20_conv" not in layers
        assert model.get_layer(f"{cell}_e31_conv").kernel_size == (1, 1)
    assert model.get_layer("nb201_cell_2_0_e10_conv").filters == 32  # 4C
    assert model.get_layer("nb201_reduction_1_conv_1").strides == (2, 2)


@pytest.mark.parametrize("shape", [IMG, SIG], ids=["2d", "1d"])
def test_nb201_cell_1d_2d_and_fixed_genotypes(shape):
    inputs = keras.Input(shape[:-1] + (8,))
    hp = keras_tuner.HyperParameters()
    out = NB201Cell(name="cell").build(hp, inputs)
    assert out.shape == inputs.shape
    assert names(hp) == [f"cell/edge_{t}_{f}" for t, f in NB201_EDGES]
    hp = keras_tuner.HyperParameters()
    fixed = NB201Cell(PAPER_ARCH, name="fixed")
    out = fixed.build(hp, inputs)
    assert hp.space == [] and out.shape == inputs.shape
    with pytest.raises(ValueError, match="unknown operation"):
        NB201Cell("|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    with pytest.raises(ValueError, match="one op for each edge"):
        NB201Cell({(1, 0): "none"})


def test_nb201_disconnected_cell_outputs_zeros_and_converts():
    dead = "|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|"
    inputs = keras.Input((6, 6, 4))
    model = keras.Model(inputs, ResidualBlock(8, 3, 1, "relu", name="r").build(
        keras_tuner.HyperParameters(), NB201Cell(dead, name="cell").build(keras_tuner.HyperParameters(), inputs)))
    assert "cell_zero" in [layer.name for layer in model.layers]
    assert "cell_e10_conv" not in [layer.name for layer in model.layers]  # leads nowhere
    x = np.random.default_rng(0).standard_normal((3, 6, 6, 4)).astype("float32")
    zero = keras.Model(inputs, model.get_layer("cell_zero").output)
    assert np.all(np.asarray(zero(x)) == 0)
    flatbuffer = tflite.to_tflite(model, "int8", representative_data=x)
    out = tflite.predict(flatbuffer, x, runtime="litert")
    assert out.shape == (3, 6, 6, 8) and np.allclose(out, out[0])  # input-independent


class DilatedTemporalConv(Block):
    """The custom block of docs/blocks.md: a conditional choice in a few lines."""

    def build(self, hp, inputs):
        dilation = hp.Choice("dilation", [1, 2, 4])
        use_bn = hp.Boolean("batchnorm")
        with hp.conditional_scope("batchnorm", [True]):
            momentum = hp.Choice("bn_momentum", [0.9, 0.99])
        x = keras.layers.Conv1D(8, 3, dilation_rate=dilation, padding="same", name=f"{self.name}_conv")(inputs)
        if use_bn:
            x = keras.layers.BatchNormalization(momentum=momentum, name=f"{self.name}_bn")(x)
        return x


def test_custom_block_with_conditional_scope():
    space = Sequence([DilatedTemporalConv(name="tcn"), Pooling("max", 2, name="pool")])
    hp = keras_tuner.HyperParameters()
    hp.values.update({"sequence/tcn/dilation": 4, "sequence/tcn/batchnorm": True,
                      "sequence/tcn/bn_momentum": 0.99})
    model = head_model(space, SIG, hp)
    assert model.get_layer("tcn_conv").dilation_rate == (4,)
    assert model.get_layer("tcn_bn").momentum == 0.99
    assert conditions(hp, "sequence/tcn/bn_momentum") == [("sequence/tcn/batchnorm", [True])]
    assert space_size(space, SIG) == 3 * (1 + 2)
    hp = keras_tuner.HyperParameters()
    head_model(space, SIG, hp)
    assert "sequence/tcn/bn_momentum" not in hp.values  # batchnorm defaults to False


# ------------------------------------------------------------ new blocks
@pytest.mark.parametrize("shape", [(8, 8, 4), (40, 4)], ids=["2d", "1d"])
def test_new_blocks_build_1d_and_2d(shape):
    rank = len(shape) - 1
    inputs = keras.Input(shape)
    hp = keras_tuner.HyperParameters()
    seq = Sequence([ResidualBlock(name="res"), FireBlock(name="fire"), GhostBlock(name="ghost"), Pooling(name="pool")])
    out = seq.build(hp, inputs)
    model = keras.Model(inputs, out)
    assert sorted(names(hp)) == sorted(
        [f"sequence/res/{n}" for n in ("filters", "kernel_size", "strides", "activation")]
        + [f"sequence/fire/{n}" for n in ("squeeze_filters", "expand_filters", "activation")]
        + [f"sequence/ghost/{n}" for n in ("filters", "ratio", "strides", "activation")]
        + [f"sequence/pool/{n}" for n in ("pool_type", "pool_size")]
    )
    choices = {p.name.split("/", 1)[1]: allowed_values(p) for p in hp.space}
    assert choices["res/kernel_size"] == ([3, 5] if rank == 2 else [3, 5, 7])
    assert choices["ghost/ratio"] == [2, 3] and choices["pool/pool_type"] == ["max", "avg"]
    # Defaults: 4 -> 8 channels needs a projection; fire outputs 2 x 8; pool halves.
    layers = [layer.name for layer in model.layers]
    assert "res_proj_conv" in layers and "res_add" in layers
    assert model.get_layer("fire_concat").output.shape[-1] == 16
    assert out.shape[1:-1] == tuple(d // 2 for d in shape[:-1])
    conv_type = "Conv2D" if rank == 2 else "Conv1D"
    assert type(model.get_layer("res_conv_1")).__name__ == conv_type


@pytest.mark.parametrize("shape", [(8, 8, 8), (40, 8)], ids=["2d", "1d"])
def test_new_blocks_fixed_values(shape):
    inputs = keras.Input(shape)
    hp = keras_tuner.HyperParameters()
    same = ResidualBlock(8, 3, 1, "relu", name="same").build(hp, inputs)
    model = keras.Model(inputs, same)
    assert "same_proj_conv" not in [layer.name for layer in model.layers]  # identity shortcut
    ghost = GhostBlock(filters=10, ratio=3, strides=2, activation="hard_swish", name="g").build(hp, inputs)
    assert ghost.shape[-1] == 12  # ceil(10 / 3) * 3
    assert ghost.shape[1] == shape[0] // 2
    fire = FireBlock(4, 6, activation="relu6", name="f").build(hp, inputs)
    assert fire.shape[-1] == 12
    pooled = Pooling("avg", 3, name="p").build(hp, inputs)
    assert pooled.shape[1] == -(-shape[0] // 3)
    assert hp.space == []
    with pytest.raises(ValueError, match="ratio"):
        GhostBlock(ratio=1)
    with pytest.raises(ValueError, match="pool_type"):
        Pooling("sum")
    with pytest.raises(ValueError, match="activation"):
        ResidualBlock(activation="gelu")


# ------------------------------------------------------------ presets
def test_kws_space_hyperparameters_and_structure():
    hp = declared_hyperparameters(KWSSpace(), MFCC)
    assert {p.name: allowed_values(p) for p in hp.space} == {
        "kws_space/width": [16, 24, 32, 40, 48, 64, 96, 128],
        "kws_space/num_layers": [2, 3, 4, 5, 6],
        "kws_space/stem_kernel": [3, 5, 10],
        "kws_space/stem_strides": [1, 2],
        "kws_space/freq_strides": [1, 2],
        "kws_space/kernel_size": [3, 5],
    }
    hp = keras_tuner.HyperParameters()
    hp.values.update({"kws_space/width": 64, "kws_space/num_layers": 4,
                      "kws_space/stem_kernel": 10, "kws_space/stem_strides": 2, "kws_space/freq_strides": 1})
    model = head_model(KWSSpace(), MFCC, hp, num_classes=12)
    stem = model.get_layer("kws_space_stem_conv")
    assert stem.kernel_size == (10, 4) and stem.strides == (2, 1) and stem.filters == 64
    assert model.get_layer("kws_space_ds_4_pw_conv").filters == 64
    assert model.output_shape == (None, 12)
    # Issue 32: the frequency stride is searched by default, so a wide DS-CNN can halve its
    # activations (the MLPerf Tiny DS-CNN's 2x2 first stride is a point of the default space).
    hp.values["kws_space/freq_strides"] = 2
    strided = head_model(KWSSpace(), MFCC, hp, num_classes=12)
    assert strided.get_layer("kws_space_stem_conv").strides == (2, 2)
    assert strided.get_layer("kws_space_stem_conv").output.shape[1:3] == (
        model.get_layer("kws_space_stem_conv").output.shape[1], model.get_layer("kws_space_stem_conv").output.shape[2] // 2)
    hp = declared_hyperparameters(KWSSpace(activation=None), SIG)
    assert "kws_space/activation" in names(hp)
    assert "kws_space/freq_strides" not in names(hp)  # a 1D signal has no frequency axis
    (kernel,) = [p for p in hp.space if p.name == "kws_space/kernel_size"]
    assert allowed_values(kernel) == [3, 5, 7]


def test_micro_space_hyperparameters():
    hp = declared_hyperparameters(MicroSpace(), SIG)
    got = {p.name: allowed_values(p) for p in hp.space}
    assert got["micro_space/stem/filters"] == [8, 16]
    assert got["micro_space/stage_1/filters"] == [8, 16, 24]
    assert got["micro_space/stage_3/filters"] == [24, 32, 48, 64]
    assert got["micro_space/stage_2/expansion"] == [1, 2, 3]
    assert not any("se_ratio" in n for n in got)
    assert conditions(hp, "micro_space/stage_2/depth") == [("micro_space/num_stages", [2, 3])]
    assert conditions(hp, "micro_space/stage_3/expansion") == [
        ("micro_space/num_stages", [3]),
        ("micro_space/stage_3/block_type", ["mbconv"]),
    ]
    with pytest.raises(ValueError, match="max_stages"):
        MicroSpace(max_stages=4)


def test_mobile_space_resolution_width_and_stages():
    hp = declared_hyperparameters(MobileSpace(), IMG)
    got = {p.name: allowed_values(p) for p in hp.space}
    assert got["mobile_space/resolution"] == [6, 8, 10]
    assert got["mobile_space/width_multiplier"] == [0.25, 0.5, 0.75, 1.0]
    for i in range(1, 5):
        assert got[f"mobile_space/stage_{i}/kernel_size"] == [3, 5, 7]
        assert got[f"mobile_space/stage_{i}/depth"] == [1, 2, 3]
        assert got[f"mobile_space/stage_{i}/expansion"] == [1, 3, 6]
        assert got[f"mobile_space/stage_{i}/se_ratio"] == [0.0, 0.25]
    assert "mobile_space/resolution" not in names(declared_hyperparameters(MobileSpace(), SIG))
    hp = keras_tuner.HyperParameters()
    hp.values.update({"mobile_space/resolution": 10, "mobile_space/width_multiplier": 0.5})
    model = head_model(MobileSpace(), IMG, hp)
    assert model.get_layer("mobile_space_resize").output.shape[1:3] == (10, 10)
    assert model.get_layer("mobile_space_stem_conv").filters == 16
    assert model.get_layer("stage_4_0_project_conv").filters == 32
    hp = keras_tuner.HyperParameters()
    model = head_model(MobileSpace(), IMG, hp)  # default resolution = input: no resize
    assert "mobile_space_resize" not in [layer.name for layer in model.layers]
    with pytest.raises(ValueError, match="width_multiplier"):
        MobileSpace(width_multiplier=0)


def test_get_space_by_preset_name():
    from keras_nas.blocks import PRESETS, get_space

    assert isinstance(get_space("KWS"), KWSSpace) and isinstance(get_space("nb201"), NB201Space)
    assert sorted(PRESETS) == [
        "autoencoder", "conv", "conv_autoencoder", "kws", "micro", "mlp", "mlperf-ad", "mlperf-ic", "mlperf-kws", "mlperf-vww",
        "mobile", "nb201", "oneshot"]
    assert get_space("MLPerf-KWS").name == "mlperf_kws"
    block = MicroSpace()
    assert get_space(block) is block
    with pytest.raises(ValueError, match=r"Unknown search space 'resnet'.*'kws'"):
        get_space("resnet")


# ------------------------------------------------------------ space size
def brute_force_size(declared):
    """Enumerates the full product of all domains and counts distinct active dicts."""
    hps = declared.space
    seen = set()
    for combo in itertools.product(*(allowed_values(p) for p in hps)):
        walker = keras_tuner.HyperParameters()
        active = []
        for p, v in zip(hps, combo):
            walker.merge([p])
            if walker.is_active(p):
                walker.values[p.name] = v
                active.append((p.name, v))
        seen.add(tuple(active))
    return len(seen)


@pytest.mark.parametrize(
    "space, shape, expected",
    [
        (DenseBlock(units=[8, 16], num_layers=[1, 2, 3], dropout=0.0, activation="relu",
                    use_batchnorm=False), TAB, 2 + 4 + 8),
        (Stage(depth=[1, 2], filters=8, kernel_size=3, strides=1, activation="relu",
               expansion=[1, 2], se_ratio=[0.0, 0.25]), SIG, 3 * 2 * (3 + 8)),
        (ConvSpace(max_stages=2, activation="relu",
                   stem=ResidualBlock(8, 3, 1, "relu", name="stem")), None, None),
    ],
    ids=["dense", "stage", "conv_space_nested"],
)
def test_space_size_matches_brute_force(space, shape, expected):
    if shape is None:  # Nested conditions: count only, the product is too large.
        declared = declared_hyperparameters(space, SIG)
        # num_stages 1: stage_1 only; 2: stage_1 and stage_2; stage = 4 types.
        per_stage_ds = 3 * 9 * 4 * 2 * 3  # depth, filters, kernel (1D), strides, pool
        per_stage = per_stage_ds * (3 + 4 * 2 * 2)  # conv | ds | residual | mbconv (expansion, se, skip)
        assert space_size(space, SIG) == per_stage + per_stage**2
        assert len(declared.space) == 1 + 2 * 9
        return
    declared = declared_hyperparameters(space, shape)
    assert space_size(space, shape) == brute_force_size(declared) == expected


def test_space_size_of_presets_and_errors():
    assert space_size(KWSSpace(), MFCC) == 8 * 5 * 3 * 2 * 2 * 2  # width, layers, stem kernel, time and frequency strides, kernel
    assert space_size(NB201Space(), IMG) == 15625
    hm = NASHyperModel(TAB, 10, space=MLPSpace())
    # 3 layer counts with 5 widths each, x 2 batchnorm x 3 act x 4 dropout; head dropout 4; lr 2
    assert space_size(hm) == (5 + 25 + 125) * 2 * 3 * 4 * 4 * 2
    with pytest.raises(ValueError, match="input_shape is required"):
        space_size(KWSSpace())

    def continuous(hp):
        hp.Float("lr", 1e-4, 1e-2)

    with pytest.raises(ValueError, match="continuous Float"):
        space_size(continuous)


# ------------------------------------------------------------ genotype JSON
@pytest.mark.parametrize("case", SPACES, ids=[c[0] for c in SPACES])
def test_json_round_trip_rebuilds_identical_architecture(case):
    kind, make_space, shape = case
    hypermodel = NASHyperModel(shape, 10, space=make_space())
    values = sample_values(declared_for(kind, hypermodel), seed=7)
    first = hypermodel.build(_hp(values))
    text = to_json(values)
    assert json.loads(text)["format"] == "keras-nas-genotype"
    hp = from_json(text, space=hypermodel)  # validated against the space
    assert hp.values == values
    second = NASHyperModel(shape, 10, space=make_space()).build(hp)
    assert architecture(first) == architecture(second)


def test_json_errors_name_the_hyperparameter():
    hm = NASHyperModel(MFCC, 12, space=KWSSpace())
    good = sample_values(declared_hyperparameters(hm), seed=1)
    with pytest.raises(ValueError, match="Malformed genotype JSON"):
        from_json("{not json")
    with pytest.raises(ValueError, match="format"):
        from_json(json.dumps({"format": "other", "values": {}}))
    with pytest.raises(ValueError, match="version"):
        from_json(json.dumps({"format": "keras-nas-genotype", "version": 9, "values": {}}))
    with pytest.raises(ValueError, match="JSON object"):
        from_json("[1, 2]")
    with pytest.raises(ValueError, match="NaN"):
        from_json('{"kws_space/width": NaN}')
    with pytest.raises(ValueError, match="only bool, int, float or str"):
        from_json(json.dumps({"kws_space/width": [64]}))
    with pytest.raises(ValueError, match=r"Unknown hyperparameter\(s\) \['kws_space/depth'\]"):
        from_json(json.dumps({**good, "kws_space/depth": 3}), space=hm)
    with pytest.raises(ValueError, match=r"'kws_space/width'; allowed values: \[16, 24, 32, 40, 48, 64, 96, 128\]"):
        from_json(json.dumps({**good, "kws_space/width": 65}), space=hm)
    with pytest.raises(ValueError, match=r"'kws_space/num_layers'; allowed values: \[2, 3, 4, 5, 6\]"):
        to_json({**good, "kws_space/num_layers": 7}, space=hm)
    missing = dict(good)
    del missing["kws_space/stem_kernel"]
    with pytest.raises(ValueError, match=r"Missing value .*'kws_space/stem_kernel'.*\[3, 5, 10\]"):
        from_json(json.dumps(missing), space=hm)
    with pytest.raises(ValueError, match="input_shape is required"):
        from_json(json.dumps(good), space=KWSSpace())
    # A string that looks like code is just a value, rejected as not allowed.
    with pytest.raises(ValueError, match="not allowed"):
        from_json(json.dumps({**good, "kws_space/width": "__import__('os')"}), space=hm)


def test_json_drops_inactive_values():
    hm = NASHyperModel(SIG, 10, space=ConvSpace())
    values = sample_values(declared_hyperparameters(hm), seed=3)
    values["conv_space/num_stages"] = 1
    values["conv_space/stage_3/filters"] = 8  # inactive with one stage
    hp = from_json(to_json(values), space=hm)
    assert "conv_space/stage_3/filters" not in hp.values


# ------------------------------------------------------------ compound scaling
def test_compound_scale_values():
    base = {"kws_space/width": 32, "kws_space/num_layers": 3, "kws_space/stem_kernel": 10,
            "mobile_space/width_multiplier": 0.5, "mobile_space/resolution": 8,
            "classifier_head/dropout": 0.1, "x/skip": True}
    roles = scaling_roles(base)
    assert roles == {"kws_space/width": "width", "kws_space/num_layers": "depth",
                     "mobile_space/width_multiplier": "width", "mobile_space/resolution": "resolution"}
    assert compound_scale(base, 0) == base
    scaled = compound_scale(base, 2, alpha=1.2, beta=1.1, gamma=1.15)
    assert scaled["kws_space/num_layers"] == 5  # ceil(3 * 1.44)
    assert scaled["kws_space/width"] == 40  # make_divisible(38.7)
    assert scaled["mobile_space/width_multiplier"] == pytest.approx(0.605)
    assert scaled["mobile_space/resolution"] == 11  # round(8 * 1.3225)
    assert scaled["kws_space/stem_kernel"] == 10 and scaled["x/skip"] is True
    # num_layers of a DenseBlock is a conditional-scope parent: not scaled with space=.
    mlp = {"mlp_space/dense_block/num_layers": 2, "mlp_space/dense_block/units_0": 32,
           "mlp_space/dense_block/units_1": 64}
    scaled = compound_scale(mlp, 3, alpha=1.3, beta=1.2, space=MLPSpace(), input_shape=TAB)
    assert scaled == {"mlp_space/dense_block/num_layers": 2, "mlp_space/dense_block/units_0": 56,
                      "mlp_space/dense_block/units_1": 112}
    model = head_model(MLPSpace(), TAB, _hp(scaled))
    assert model.get_layer("dense_block_dense_1").units == 112
    assert compound_scale(mlp, 3, alpha=1.3)["mlp_space/dense_block/num_layers"] == 5
    for alpha, beta, gamma in coefficient_grid():
        assert alpha * beta**2 * gamma**2 == pytest.approx(2, rel=1e-3)
    with pytest.raises(ValueError, match="phi"):
        compound_scale(base, -1)
    with pytest.raises(ValueError, match="role"):
        compound_scale(base, 1, roles={"kws_space/width": "height"})


def test_search_compound_scaling_under_parameter_budget():
    space = KWSSpace()

    def build(hp):
        return head_model(space, SIG, hp)

    base = {"kws_space/width": 16, "kws_space/num_layers": 2, "kws_space/stem_kernel": 5,
            "kws_space/stem_strides": 2, "kws_space/kernel_size": 3,
            "classifier_head/pooling": "avg", "classifier_head/dropout": 0.0}
    base_params = build(_hp(base)).count_params()
    budget = 4 * base_params
    result = search_compound_scaling(
        build, base, lambda m: m.count_params(), budget,
        coefficients=[(1.2, 1.1, 1.15), (2.0, 1.0, 1.0)],
        phis=(1, 2, 4),
    )
    assert base_params < result.cost <= budget and result.phi > 0
    assert result.cost == build(_hp(result.values)).count_params()
    assert len(result.candidates) == 2
    # The next phi for the chosen coefficients is over budget (the search stopped there).
    next_phi = min([p for p in (1, 2, 4) if p > result.phi], default=None)
    if next_phi is not None:
        over = compound_scale(base, next_phi, result.alpha, result.beta, result.gamma)
        assert build(_hp(over)).count_params() > budget
    # Chosen: the candidate using most of the budget.
    assert result.cost == max(c[4] for c in result.candidates)
    with pytest.raises(ValueError, match="already costs"):
        search_compound_scaling(build, base, lambda m: m.count_params(), base_params - 1)


def _hp(values):
    hp = keras_tuner.HyperParameters()
    hp.values.update(values)
    return hp


# ------------------------------------------------------------ int8 in LiteRT and TFLite Micro
def _data(shape):
    if shape == IMG:
        return load_digits()[0][0][:60]
    if shape == SIG:
        return load_mnist1d()[0][0][:60]
    if shape == TAB:
        return load_digits()[0][0][:60].reshape(60, 64)
    return np.random.default_rng(0).standard_normal((60,) + shape).astype("float32")


def _blocks_space():
    return Sequence([ResidualBlock(name="res"), FireBlock(name="fire"), GhostBlock(name="ghost"),
                     Pooling(name="pool")], name="blocks")


# One sample of every space (and of every new block), through the real pipeline:
# Normalization -> space -> ClassifierHead, int8 conversion, both interpreters.
# Depths are pinned low where a space searches them (conversion time grows with
# the layer count); the property test below builds random depths.
_SHALLOW_MOBILE = {f"mobile_space/stage_{i}/depth": 1 for i in range(1, 5)}
CONVERSIONS = [
    ("conv_img", ConvSpace, IMG, {"conv_space/num_stages": 2, "conv_space/stage_1/depth": 1,
                                  "conv_space/stage_2/depth": 1}),
    ("mlp_tab", MLPSpace, TAB, {}),
    ("kws_mfcc", KWSSpace, MFCC, {"kws_space/num_layers": 3}),
    ("kws_sig", KWSSpace, SIG, {"kws_space/num_layers": 2}),
    ("micro_img", MicroSpace, IMG, {}),
    ("mobile_img_resized", MobileSpace, IMG, {"mobile_space/resolution": 10,
                                              "mobile_space/width_multiplier": 0.25,
                                              **_SHALLOW_MOBILE}),
    # The paper's example cell has every NB201 op (conv 3x3/1x1, skip, pool, none).
    ("nb201_sig", NB201Space, SIG, from_nb201_string(PAPER_ARCH)),
    # Ghost ratio 3: a depthwise conv with depth multiplier 2 on TFLite Micro.
    ("blocks_sig", _blocks_space, SIG, {"blocks/ghost/ratio": 3, "blocks/pool/pool_type": "avg"}),
    ("oneshot_img", OneShotSpace, IMG, {f"oneshot_space/stage_{i}/depth": 1 for i in (1, 2, 3)}),
]


@pytest.mark.parametrize("case", CONVERSIONS, ids=[c[0] for c in CONVERSIONS])
def test_space_sample_runs_int8_in_litert_and_micro(case):
    kind, make_space, shape, overrides = case
    x = _data(shape)
    axes = tuple(range(x.ndim - 1))
    hypermodel = NASHyperModel(shape, 10, space=make_space(), mean=x.mean(axis=axes),
                               variance=x.var(axis=axes))
    values = sample_values(declared_hyperparameters(hypermodel), seed=0, base=overrides)
    assert all(values[name] == value for name, value in overrides.items())
    model = hypermodel.build(from_json(to_json(values), space=hypermodel))
    if kind == "mobile_img_resized":
        assert "mobile_space_resize" in [layer.name for layer in model.layers]
    flatbuffer = tflite.to_tflite(model, "int8", representative_data=x)
    sample = x[:16]
    litert = tflite.predict(flatbuffer, sample, runtime="litert")
    micro = tflite.predict(flatbuffer, sample, runtime="micro")
    keras_out = np.asarray(model(sample, training=False))
    assert litert.shape == micro.shape == (16, 10)
    np.testing.assert_allclose(litert.sum(1), 1, atol=0.05)
    np.testing.assert_allclose(micro.sum(1), 1, atol=0.05)
    # XNNPACK (LiteRT) and the TFLite Micro reference kernels round differently.
    assert np.mean(litert.argmax(1) == micro.argmax(1)) >= 0.75
    assert np.abs(litert - micro).mean() <= 0.02
    assert np.abs(litert - keras_out).mean() <= 0.1  # int8 error of an untrained model
    if kind == "micro_img":  # the board budget MicroSpace is designed for
        assert len(flatbuffer) <= 64 * 1024 and tflite.arena_bytes(flatbuffer) <= 32 * 1024


# ------------------------------------------------------------ property: random architectures build
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=st.sampled_from(SPACES + [("blocks_img", _blocks_space, IMG)]),
       seed=st.integers(0, 2**31 - 1))
def test_random_architectures_of_every_space_build(case, seed):
    kind, make_space, shape = case
    hypermodel = NASHyperModel(shape, 10, space=make_space())
    declared = declared_for(kind, hypermodel)
    values = sample_values(declared, seed)
    assert validate_values(json.loads(to_json(values))["values"], declared) == values
    hp = from_json(to_json(values))
    model = hypermodel.build(hp)
    assert model.output_shape == (None, 10)
    assert hp.values == values  # nothing undeclared appeared while building
    keras.backend.clear_session()


def test_scaled_net_space_checks_its_arguments_and_builds_on_signals():
    from keras_nas.blocks import ScaledNetSpace

    common = dict(stem_filters=8, stage_filters=(8, 16), stage_depths=(1, 2), stage_strides=(1, 2))
    with pytest.raises(ValueError, match="same length"):
        ScaledNetSpace("ds", 8, (8, 16), (1,), (1, 2), width_multipliers=[1.0])
    with pytest.raises(ValueError, match="min_stages must be in 1..2"):
        ScaledNetSpace("ds", **common, width_multipliers=[1.0], min_stages=3)
    with pytest.raises(ValueError, match="width_multipliers"):
        ScaledNetSpace("ds", **common, width_multipliers=[0.0])
    with pytest.raises(ValueError, match="Unsupported block_type"):
        ScaledNetSpace("dense", **common, width_multipliers=[1.0])
    # On a 1D signal there is no resolution to search; the rest is as on images.
    space = ScaledNetSpace("ds", **common, width_multipliers=[0.5, 1.0], resolution_scales=(0.5, 1.0),
                           min_stages=1, name="net")
    hp = keras_tuner.HyperParameters()
    outputs = space.build(hp, keras.Input((40, 3)))
    assert [h.name for h in hp.space] == ["net/width_multiplier", "net/num_stages", "net/stage_2/depth"]
    assert outputs.shape[-1] == 4  # make_divisible(8 * 0.5, 4), the first stage only (defaults)
