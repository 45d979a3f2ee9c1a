"""Tests of the zero-cost proxies (keras_nas.proxies) on small real models and digits data."""

import math

import keras
import keras_tuner
import numpy as np
import pytest

from keras_nas import proxies
from keras_nas.blocks import ConvSpace
from keras_nas.datasets import load_digits
from keras_nas.hypermodel import NASHyperModel
from keras_nas.strategies import RandomSearch


@pytest.fixture(scope="module")
def digits():
    (x, y), _, _ = load_digits()
    return x[:256], y[:256]


def conv_stack(width, depth=3, seed=0, mean=None, variance=None, softmax=True):
    """A plain conv-BN-ReLU stack on 8x8 images (what synflow/naswot must rank)."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((8, 8, 1))
    x = inputs
    if mean is not None:
        x = keras.layers.Normalization(mean=mean, variance=variance)(x)
    for i in range(depth):
        x = keras.layers.Conv2D(width, 3, padding="same", name=f"conv_{i}")(x)
        x = keras.layers.BatchNormalization(name=f"bn_{i}")(x)
        x = keras.layers.ReLU(name=f"relu_{i}")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dropout(0.5)(x)
    outputs = keras.layers.Dense(10, activation="softmax" if softmax else None)(x)
    return keras.Model(inputs, outputs)


@pytest.fixture(scope="module")
def space():
    """A one-stage ConvSpace hypermodel for digits (small, fast), and 3 random candidates."""
    (x, _), _, _ = load_digits()
    hypermodel = NASHyperModel(
        (8, 8, 1),
        10,
        space=ConvSpace(max_stages=1),
        mean=x.mean(axis=(0, 1, 2)),
        variance=x.var(axis=(0, 1, 2)),
    )
    hp = keras_tuner.HyperParameters()
    hypermodel.build(hp)
    oracle = RandomSearch(max_trials=3, seed=0)
    oracle.update_space(hp)
    rng = np.random.default_rng(3)
    return hypermodel, [oracle.random_values(rng) for _ in range(3)]


# -- synflow ------------------------------------------------------------------------------


def test_synflow_equals_closed_form_on_linear_mlp():
    # With zero biases, R = 1^T |W1| |W2| 1 is of degree 1 in each kernel, so
    # sum |theta * dR/dtheta| = (number of kernels) * R (Euler). This catches a
    # missing abs, a kept softmax (zero gradient) or a wrong reduction.
    keras.utils.set_random_seed(1)
    inputs = keras.Input((4,))
    h = keras.layers.Dense(5, activation="relu")(inputs)
    outputs = keras.layers.Dense(3, activation="softmax")(h)
    model = keras.Model(inputs, outputs)
    w1, w2 = np.abs(model.layers[1].kernel.numpy()), np.abs(model.layers[2].kernel.numpy())
    expected = 2 * float(np.ones(4) @ w1.astype("float64") @ w2 @ np.ones(3))
    assert proxies.synflow(model, (4,)) == pytest.approx(expected, rel=1e-6)
    assert proxies.synflow(model) == pytest.approx(expected, rel=1e-6)
    # Same with the softmax as a separate output layer.
    logits = keras.layers.Dense(3, name="logits")(h)
    split = keras.Model(inputs, keras.layers.Activation("softmax")(logits))
    split.get_layer("logits").kernel.assign(model.layers[2].kernel)
    assert proxies.synflow(split, (4,)) == pytest.approx(expected, rel=1e-6)


def test_synflow_grows_with_width_and_leaves_the_model_unchanged(digits):
    x, _ = digits
    mean, var = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))
    narrow = conv_stack(8, mean=mean, variance=var)
    wide = conv_stack(32, mean=mean, variance=var)
    # Make BN statistics non-trivial to check they are not touched.
    narrow.get_layer("bn_0").moving_mean.assign(np.full(8, -0.5, "float32"))
    before = [w.numpy().copy() for w in narrow.weights]
    s_narrow = proxies.synflow(narrow, (8, 8, 1))
    s_wide = proxies.synflow(wide, (8, 8, 1))
    assert math.isfinite(s_narrow) and s_narrow > 0
    assert s_wide > 2 * s_narrow
    assert proxies.synflow(narrow, (8, 8, 1)) == s_narrow  # deterministic
    after = [w.numpy() for w in narrow.weights]
    assert all(np.array_equal(b, a) for b, a in zip(before, after))


def test_synflow_rejects_a_wrong_input_shape():
    model = conv_stack(8)
    with pytest.raises(ValueError, match=r"does not match model"):
        proxies.synflow(model, (40, 1))
    with pytest.raises(ValueError, match=r"tuple of ints"):
        proxies.synflow(model, "8x8")


# -- naswot -------------------------------------------------------------------------------


def test_naswot_kernel_is_n_a_minus_hamming():
    keras.utils.set_random_seed(2)
    inputs = keras.Input((6,))
    h = keras.layers.Dense(64, name="hidden")(inputs)
    h = keras.layers.ReLU(name="act")(h)
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(h))
    x = np.random.default_rng(0).normal(size=(10, 6)).astype("float32")
    codes = (x @ model.get_layer("hidden").kernel.numpy() > 0).astype(int)
    hamming = (codes[:, None, :] != codes[None, :, :]).sum(-1)
    sign, expected = np.linalg.slogdet(codes.shape[1] - hamming)
    assert sign > 0
    assert proxies.naswot(model, x) == pytest.approx(expected, rel=1e-9)


def test_naswot_is_finite_deterministic_and_keeps_bn_statistics(digits):
    x, _ = digits
    model = conv_stack(16, mean=x.mean(axis=(0, 1, 2)), variance=x.var(axis=(0, 1, 2)))
    before = [w.numpy().copy() for w in model.weights]
    score = proxies.naswot(model, x[:64])
    assert math.isfinite(score)
    assert proxies.naswot(model, x[:64]) == score
    assert all(np.array_equal(b, w.numpy()) for b, w in zip(before, model.weights))


def test_naswot_scores_dead_or_identical_activations_lower(digits):
    x, _ = digits
    mean, var = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))
    healthy = conv_stack(16, mean=mean, variance=var)
    healthy_score = proxies.naswot(healthy, x[:64])
    dead = conv_stack(16, mean=mean, variance=var)
    for i in range(3):  # a large negative BN shift kills every ReLU unit
        dead.get_layer(f"bn_{i}").beta.assign(np.full(16, -1e3, "float32"))
    assert proxies.naswot(dead, x[:64]) < healthy_score
    # Identical samples have identical codes: the kernel is singular.
    same = np.repeat(x[:1], 64, axis=0)
    assert proxies.naswot(healthy, same, training=False) == float("-inf")


def test_naswot_rejects_bad_batches_and_models_without_relu(digits):
    x, _ = digits
    model = conv_stack(8)
    with pytest.raises(ValueError, match=r"shape \(8, 8, 1\)"):
        proxies.naswot(model, x.reshape(len(x), 64))
    with pytest.raises(ValueError, match="at least 2"):
        proxies.naswot(model, x[:1])
    bad = x[:8].copy()
    bad[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        proxies.naswot(model, bad)
    inputs = keras.Input((8, 8, 1))
    linear = keras.Model(inputs, keras.layers.Dense(10)(keras.layers.Flatten()(inputs)))
    with pytest.raises(ValueError, match="no ReLU-like activation"):
        proxies.naswot(linear, x[:8])


# -- grad_norm and jacob_cov -----------------------------------------------------------------


def test_grad_norm_is_positive_deterministic_and_matches_a_direct_gradient(digits):
    x, y = digits
    model = conv_stack(8)
    score = proxies.grad_norm(model, x[:32], y[:32])
    assert math.isfinite(score) and score > 0
    assert proxies.grad_norm(model, x[:32], y[:32]) == score
    # Without BN batch statistics the copy computes exactly what the model does.
    import tensorflow as tf

    kernels = [w for w in model.trainable_weights if len(w.shape) >= 2]
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(
            keras.losses.sparse_categorical_crossentropy(y[:32], model(x[:32], training=False))
        )
    expected = sum(float(tf.norm(g)) for g in tape.gradient(loss, kernels))
    assert proxies.grad_norm(model, x[:32], y[:32], training=False) == pytest.approx(
        expected, rel=1e-4
    )
    one_hot = np.eye(10)[y[:32]]
    assert proxies.grad_norm(model, x[:32], one_hot) == pytest.approx(score, rel=1e-4)


def test_grad_norm_rejects_bad_labels(digits):
    x, y = digits
    model = conv_stack(8)
    with pytest.raises(ValueError, match="one label per sample"):
        proxies.grad_norm(model, x[:32], y[:31])
    with pytest.raises(ValueError, match=r"indices must lie in \[0, 9\]"):
        proxies.grad_norm(model, x[:4], np.array([0, 1, 2, 10]))


def test_jacob_cov_is_finite_and_deterministic(digits):
    x, _ = digits
    model = conv_stack(8)
    score = proxies.jacob_cov(model, x[:32])
    assert math.isfinite(score)
    assert proxies.jacob_cov(model, x[:32]) == score


# -- candidates and screening ------------------------------------------------------------------


def test_unknown_proxy_names_are_rejected(space, digits):
    hypermodel, values = space
    x, y = digits
    with pytest.raises(ValueError, match=r"Unknown proxy 'snip'.*'naswot'"):
        proxies.score_candidates(hypermodel, values, x, y, proxy="snip")
    with pytest.raises(ValueError, match="Unknown proxy"):
        proxies.ProxyScreen(hypermodel, x, y, proxy="params")
    with pytest.raises(ValueError, match="pool_size"):
        proxies.ProxyScreen(hypermodel, x, y, pool_size=0)
    with pytest.raises(ValueError, match="one label per sample"):
        proxies.ProxyScreen(hypermodel, x, y[:10])
    with pytest.raises(ValueError, match="needs labels"):
        proxies.ProxyScreen(hypermodel, x, None, proxy="grad_norm")
    assert set(proxies.PROXIES) >= {"synflow", "naswot", "grad_norm"}


def test_score_candidates_is_reproducible_and_screen_picks_the_argmax(space, digits):
    hypermodel, values = space
    x, y = digits
    scores = proxies.score_candidates(hypermodel.build, values, x, y, proxy="naswot", seed=0)
    assert len(scores) == 3 and all(math.isfinite(s) for s in scores)
    assert len(set(scores)) == 3  # distinct architectures get distinct scores

    # Same seed, same batch: the screen (given the HyperModel itself) reproduces the scores.
    screen = proxies.ProxyScreen(hypermodel, x, y, proxy="naswot", pool_size=3)
    best = screen(values)
    assert screen.last_scores == scores
    assert best == int(np.argmax(scores))
    with pytest.raises(ValueError, match="non-empty"):
        screen([])
