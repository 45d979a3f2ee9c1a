"""Weight-sharing search: the one-shot space and supernet, SPOS, DARTS, and their tuners."""

import json
import math
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import keras_tuner  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from keras_nas import NASModel, blocks, tflite  # noqa: E402
from keras_nas.blocks import ClassifierHead, OneShotSpace, SuperNet  # noqa: E402
from keras_nas.datasets import load_digits  # noqa: E402
from keras_nas.strategies import RandomSearch  # noqa: E402
from keras_nas.strategies.learned import LearnedDistribution  # noqa: E402
from keras_nas.weight_sharing import CostModel, DartsTrainer, fit_cost_model  # noqa: E402

from test_strategies import CHOICES, run  # noqa: E402


def standalone(space, indices, shape):
    """The stand-alone subnet `OneShotSpace.build` makes for `indices` (head as in a search)."""
    hp = keras_tuner.HyperParameters()
    hp.values.update(space.decode(indices, len(shape) - 1))
    inputs = keras.Input(shape)
    outputs = ClassifierHead(10, pooling="avg", dropout=0.1).build(hp, space.build(hp, inputs))
    return keras.Model(inputs, outputs), hp


def test_oneshot_space_encodes_and_decodes_every_choice():
    space = OneShotSpace()
    rng = np.random.default_rng(0)
    for rank in (1, 2):
        points = space.choice_points(rank)
        assert [p.name for p in points][:4] == ["stem/filters", "stage_1/op", "stage_1/filters", "stage_1/depth"]
        ops = len(space.kernels(rank)) * (1 + len(space.expansions))
        assert len(points[1]) == ops  # ds per kernel + mbconv per kernel and expansion
        for _ in range(20):
            indices = space.sample(rng, rank)
            assert space.encode(space.decode(indices, rank), rank) == indices
    values = space.decode(space.largest(1), 1)
    assert values["oneshot_space/stage_3/expansion"] == 4 and values["oneshot_space/stage_3/kernel_size"] == 7
    with pytest.raises(ValueError, match="stage_1/op"):
        space.encode({**values, "oneshot_space/stage_1/kernel_size": 9}, 1)
    with pytest.raises(ValueError, match="out of range"):
        space.decode({**space.largest(1), "stage_2/depth": 7}, 1)
    with pytest.raises(ValueError, match="strides must be 1 or 2"):
        OneShotSpace(strides=(1, 3))


@pytest.mark.parametrize("shape", [(40, 1), (8, 8, 1)], ids=["1d", "2d"])
def test_the_space_and_the_supernet_are_the_same_set_of_architectures(shape):
    # Every hyperparameter the stand-alone build declares is one the supernet's choice
    # points decide (a stage pooling choice was not: issue 27), and the counts agree.
    space = OneShotSpace()
    rank = len(shape) - 1
    hp = keras_tuner.HyperParameters()
    space.build(hp, keras.Input(shape))
    points = space.choice_points(rank)
    decided = {key for point in points for option in point.options for key in option}
    assert {h.name for h in hp.space} == decided
    assert blocks.space_size(OneShotSpace(), shape) == math.prod(len(point) for point in points)
    assert blocks.space_size(OneShotSpace(), shape) == (2_187_000 if rank == 2 else 7_381_125)


@pytest.mark.parametrize("shape", [(40, 1), (8, 8, 1)], ids=["1d", "2d"])
def test_supernet_subnet_has_the_standalone_models_macs_and_ignores_weights_off_its_path(shape):
    space = OneShotSpace()
    rank = len(shape) - 1
    net = SuperNet(space, shape, 10)
    rng = np.random.default_rng(3)
    indices = space.sample(rng, rank)
    indices.update({"stage_1/op": 0, "stage_2/filters": 1, "stage_2/op": len(space.stage_ops(rank)) - 1})
    net.set_architecture(indices)
    x = rng.standard_normal((8, *shape)).astype("float32")
    # The supernet's op count is the converted stand-alone model's, MAC for MAC.
    model, _ = standalone(space, indices, shape)
    report = tflite.count_macs(tflite.to_tflite(model, "int8", representative_data=x, signatures=False))
    counted = sum(report.macs_by_kind[kind] for kind in ("conv", "depthwise", "fc"))
    assert float(net.expected_cost()["macs"]) == pytest.approx(counted)
    # Weights off the path do not matter: stage 1's unused MBConv op, the outer taps
    # of stage 1's kernel (3 of 5/7), stage 2's channels beyond its width (24 of 64).
    before = np.asarray(net(x, training=False))
    (ds_op, mb_op), _, _ = net.candidates[0]
    mb_op.expand.kernel.assign(mb_op.expand.kernel + 1.0)
    kernel = ds_op.depthwise.kernel
    outer = np.ones(kernel.shape, "float32")
    size = kernel.shape[0]
    centre = slice((size - 3) // 2, (size + 3) // 2)
    outer[(centre,) * rank] = 0.0
    kernel.assign(kernel + outer)
    for ds, mb in net.candidates[1]:
        for op in (ds, mb):
            conv = op.pointwise if op is ds else op.project
            values = np.array(conv.kernel)
            values[..., 24:] += 1.0
            conv.kernel.assign(values)
    np.testing.assert_allclose(np.asarray(net(x, training=False)), before, rtol=1e-5, atol=1e-6)


def test_cost_model_fits_measured_costs_and_rejects_too_few():
    expected = [{"macs": m, "weight_bytes": w, "blocks": b}
                for m, w, b in [(1e5, 8e3, 4), (2e5, 2e4, 5), (4e5, 3e4, 6), (8e5, 6e4, 7), (3e5, 1e4, 5)]]
    measured = [{"latency_ms": 0.01 + 1e-7 * e["macs"] + 0.002 * e["blocks"],
                 "flash_kb": 20 + e["weight_bytes"] / 1024 + 0.5 * e["blocks"]} for e in expected]
    model = fit_cost_model(expected, measured)
    assert model.r2["latency_ms"] > 0.999 and model.r2["flash_kb"] > 0.999
    predicted = model.predict({"macs": 5e5, "weight_bytes": 4e4, "blocks": 6})
    assert predicted["latency_ms"] == pytest.approx(0.01 + 0.05 + 0.012, rel=1e-6)
    assert CostModel.from_dict(json.loads(json.dumps(model.to_dict()))) == model
    with pytest.raises(ValueError, match="at least 4"):
        fit_cost_model(expected[:3], measured[:3])


def test_darts_size_penalty_moves_the_distribution_to_narrower_choices():
    (x, y), _, _ = load_digits()
    space = OneShotSpace(filters=(16, 64), stem_filters=(16, 32), expansions=(2,), depths=(1, 2))
    keras.utils.set_random_seed(0)
    net = SuperNet(space, x.shape[1:], 10, mean=x.mean(), variance=x.var())
    # Flash in KB = weight bytes / 1024: the limit is far below the mixture's size.
    cost = CostModel({"latency_ms": [0.0, 0.0, 0.01], "flash_kb": [1 / 1024, 0.0, 0.0]}, {}, 0)
    trainer = DartsTrainer(net, cost, limits={"flash_kb": 2.0}, constraint_weight=1.0,
                           arch_learning_rate=0.05)
    start = float(trainer.expected_costs()["flash_kb"])
    history = trainer.fit(x[:512], y[:512], epochs=1, batch_size=32, verbose=0)
    distribution = trainer.distribution()
    assert float(trainer.expected_costs()["flash_kb"]) < 0.8 * start
    for stage in (1, 2, 3):
        narrow, wide = distribution[f"stage_{stage}/filters"]
        assert narrow > wide
    assert history[0]["cost_penalty"] > 0 and np.isfinite(history[0]["loss"])
    with pytest.raises(ValueError, match="cost_model"):
        DartsTrainer(net, None, limits={"flash_kb": 2.0})


def test_learned_distribution_proposes_the_mode_first_then_new_samples(tmp_path):
    decisions = [([{name: v} for v in values], [0.1, 0.6, 0.2, 0.1]) for name, values in CHOICES.items()]
    oracle = LearnedDistribution(max_trials=6, seed=2)
    oracle.set_distribution(decisions)
    oracle = run(oracle, tmp_path)
    proposals = [oracle.trials[i].hyperparameters.values for i in oracle.start_order]
    assert {k: proposals[0][k] for k in CHOICES} == {name: 1 for name in CHOICES}
    keys = {tuple(sorted(p.items())) for p in proposals}
    assert len(keys) == len(proposals) == 6
    with pytest.raises(ValueError, match="non-negative probabilities"):
        oracle.set_distribution([([{"op0": 0}], [0.5, 0.5])])
    with pytest.raises(RuntimeError, match="no distribution"):
        LearnedDistribution(max_trials=1).most_likely()


def test_search_time_limit_stops_a_strategy(tmp_path):
    oracle = RandomSearch(max_trials=10_000, seed=1, max_search_seconds=0.5)
    start = time.monotonic()
    oracle = run(oracle, tmp_path)
    assert time.monotonic() - start < 30
    assert 1 <= len(oracle.trials) < 10_000
    with pytest.raises(ValueError, match="max_search_seconds"):
        RandomSearch(max_trials=1, max_search_seconds=0)


def test_weight_sharing_reads_arrays_and_batched_datasets_alike():
    import tensorflow as tf

    from keras_nas.weight_sharing.tuners import _arrays

    x = np.arange(40, dtype="float32").reshape(10, 4, 1)
    y = np.arange(10) % 3
    dataset = tf.data.Dataset.from_tensor_slices((x, keras.utils.to_categorical(y, 3))).batch(4)
    for args in [(x, y), (dataset,)]:
        xs, ys = _arrays(args)
        np.testing.assert_array_equal(xs, x)
        np.testing.assert_array_equal(ys, y)
        assert ys.dtype == np.int64


def test_weight_sharing_strategies_refuse_what_they_cannot_do():
    with pytest.raises(ValueError, match="inherited float weights"):
        NASModel(strategy="oneshot", objective="int8_val_accuracy")
    # A space a supernet cannot hold is refused where it is given, before any data is read.
    with pytest.raises(ValueError, match="strategy='darts' trains a supernet, which exists for a OneShotSpace only"):
        NASModel(strategy="darts", space="kws", max_trials=1, directory="/tmp/never_used_ws")


# A small space keeps these searches quick: every candidate fits the limits.
def small_space():
    return OneShotSpace(filters=(16, 24), stem_filters=(16,), expansions=(2,), depths=(1, 2))


def test_oneshot_search_end_to_end_scores_subnets_with_inherited_weights_and_resumes(tmp_path):
    (x, y), (xv, yv), (xt, yt) = load_digits()
    kwargs = dict(strategy="oneshot", max_trials=2, seed=1, constraints={"flash_kb": 64, "peak_ram_kb": 32},
                  space=small_space(),
                  directory=str(tmp_path), project_name="os", finalists=1,  # the finalists' round: test_finalists.py
                  strategy_kwargs={"supernet_epochs": 2, "search": "random"})
    model = NASModel(**kwargs)
    model.fit(x, y, validation_data=(xv, yv), epochs=1, verbose=0)
    project = model.tuner.project_dir
    assert os.path.exists(os.path.join(project, "supernet.weights.h5"))
    summary = model.search_summary()
    assert summary["trained"] == 2 and summary["supernet_seconds"] > 0
    rows = [r for r in model.trials() if r["status"] == "COMPLETED"]
    assert all(0.0 <= r["metrics"]["val_accuracy"] <= 1.0 and r["metrics"]["flash_kb"] <= 64 for r in rows)
    # The largest subnet was trained alone first: with inherited weights it beats chance clearly.
    largest_accuracy, _ = model.tuner.scorer.score(model.tuner.space.largest(2))
    assert largest_accuracy > 0.3
    assert model.predict(xt[:4], verbose=0).shape == (4, 10)
    content = tflite.to_tflite(model.model, "int8", representative_data=x[:64])
    assert tflite.predict(content, xt[:4], runtime="micro").shape == (4, 10)
    # Resumed: the supernet and the finished trials are reused, not redone.
    again = NASModel(**kwargs)
    again.fit(x, y, validation_data=(xv, yv), epochs=1, verbose=0)
    assert again.search_summary()["supernet_seconds"] < summary["supernet_seconds"]
    assert [r["metrics"] for r in again.trials()] == [r["metrics"] for r in model.trials()]


def test_darts_search_end_to_end_trains_the_derived_architecture_first(tmp_path):
    (x, y), (xv, yv), _ = load_digits()
    model = NASModel(strategy="darts", max_trials=1, seed=3, constraints={"flash_kb": 64}, space=small_space(),
                     directory=str(tmp_path), project_name="darts",
                     strategy_kwargs={"supernet_epochs": 1, "calibration_subnets": 4, "latency_weight": 0.1})
    model.fit(x, y, validation_data=(xv, yv), epochs=1, verbose=0)
    with open(os.path.join(model.tuner.project_dir, "darts.json")) as f:
        result = json.load(f)
    for probabilities in result["distribution"].values():
        assert sum(probabilities) == pytest.approx(1.0, abs=1e-5)
    assert set(result["cost_model"]["r2"]) == {"latency_ms", "flash_kb"}
    assert len(result["calibration"]) == 4 and len(result["history"]) == 1
    first = model.tuner.oracle.trials[model.tuner.oracle.start_order[0]].hyperparameters.values
    space = model.tuner.space
    assert space.encode(first, 2) == result["derived"]
    assert model.search_summary()["trained"] + model.search_summary()["rejected"] >= 1
