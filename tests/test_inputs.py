"""Bad input gets a clear error naming what is wrong, before any search starts."""

import re

import numpy as np
import pytest
import tensorflow as tf

from keras_nas import Constraints, NASModel, strategies
from keras_nas.data import prepare_data


@pytest.fixture
def digits():
    from sklearn.datasets import load_digits

    d = load_digits()
    return d.images[..., None].astype("float32"), d.target


def test_constraints_from_dict_and_violations():
    limits = Constraints.from_dict({"flash_kb": 64, "peak_ram_kb": 32})
    assert limits.active() == {"flash_kb": 64, "peak_ram_kb": 32}
    cost = {"flash_kb": 80.0, "peak_ram_kb": 12.0, "latency_ms": 0.1}
    assert limits.violations(cost) == ["flash 80.0 KB > 64 KB"]
    assert limits.violations({"flash_kb": 10.0, "peak_ram_kb": 32.0, "latency_ms": 9.0}) == []
    assert limits.worst_ratio(cost) == pytest.approx(80 / 64)


@pytest.mark.parametrize(
    "constraints, message",
    [
        ({"flash_kb": -1}, "'flash_kb' must be a positive"),
        ({"peak_ram_kb": 0}, "'peak_ram_kb' must be a positive"),
        ({"latency_ms": float("nan")}, "'latency_ms' must be a positive"),
        ({"flash_kb": "64"}, "'flash_kb' must be a number"),
        ({"flash": 64}, r"Unknown constraint name\(s\) \['flash'\]. Valid names: \['flash_kb', 'latency_ms', 'peak_ram_kb'\]"),
        ([64], "must be a dict"),
    ],
)
def test_bad_constraints(constraints, message):
    with pytest.raises((ValueError, TypeError), match=message):
        NASModel(constraints=constraints)


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match=re.escape(f"Unknown strategy 'grid'. Available strategies: {sorted(strategies.names())}")):
        NASModel(strategy="grid")
    with pytest.raises(ValueError, match="Unknown task 'segmentation'. Supported tasks: \\['classification', 'regression', 'anomaly'\\]"):
        NASModel(task="segmentation")
    with pytest.raises(ValueError, match="max_trials"):
        NASModel(max_trials=0)
    with pytest.raises(ValueError, match="num_classes"):
        NASModel(num_classes=1)


def test_infers_shape_and_classes(digits):
    x, y = digits
    data = prepare_data(x[:100], y[:100], validation_data=(x[100:150], y[100:150]))
    assert data.input_shape == (8, 8, 1)
    assert data.num_classes == 10
    assert not data.one_hot
    assert data.representative_x.dtype == np.float32
    assert data.mean.shape == (1,) and data.variance.shape == (1,)
    one_hot = np.eye(10)[y]
    data = prepare_data(x[:100], one_hot[:100], validation_split=0.25)
    assert data.one_hot and data.num_classes == 10
    assert len(data.train_args[0]) == 75 and len(data.x_val) == 25
    np.testing.assert_array_equal(data.y_val, y[75:100])


def test_no_validation_data_holds_out_a_fifth(digits):
    x, y = digits
    data = prepare_data(x[:100], y[:100])
    assert len(data.train_args[0]) == 80 and len(data.x_val) == 20


def test_dataset_input(digits):
    x, y = digits
    train = tf.data.Dataset.from_tensor_slices((x[:96], y[:96])).batch(32)
    val = tf.data.Dataset.from_tensor_slices((x[96:128], y[96:128])).batch(32)
    data = prepare_data(train, validation_data=val)
    assert data.input_shape == (8, 8, 1) and data.num_classes == 10
    assert data.train_args == (train,)
    assert len(data.x_val) == 32
    with pytest.raises(ValueError, match="validation_split.*only supported for numpy"):
        prepare_data(train, validation_split=0.2)
    with pytest.raises(ValueError, match="must be batched"):
        prepare_data(tf.data.Dataset.from_tensor_slices((x[:8], y[:8])), validation_data=val)


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda x, y: (x[:10], y[:9]), "`x` has 10 samples but `y` has 9"),
        (lambda x, y: (x[:10], y[:10] + 10), r"Label 19 is out of range for num_classes=10: labels must be in \[0, 9\]"),
        (lambda x, y: (x[:10], y[:10] - 5), "Labels must be >= 0"),
        (lambda x, y: (np.where(np.arange(10)[:, None, None, None] == 3, np.nan, x[:10]), y[:10]), r"NaN or infinite value\(s\) \(first in sample 3\)"),
        (lambda x, y: (x[:10], y[:10] + 0.5), "integer class indices"),
        (lambda x, y: (x[:0], y[:0]), "`x` is empty"),
        (lambda x, y: (x[:10].reshape(-1), y[:10]), r"must have shape \(samples, ...\)"),
        (lambda x, y: (np.array([["a"]] * 10), y[:10]), "must be numeric"),
        (lambda x, y: (x[:10], np.array(["cat"] * 10)), "Encode string labels"),
        (lambda x, y: (x[:10], None), "`y` is missing"),
    ],
)
def test_bad_training_data(digits, mutate, message):
    x, y = mutate(*digits)
    with pytest.raises(ValueError, match=message):
        NASModel(num_classes=10, max_trials=1).fit(x, y, validation_data=(digits[0][:5], digits[1][:5]))


def test_validation_data_of_another_shape(digits):
    x, y = digits
    with pytest.raises(ValueError, match=r"Validation inputs have sample shape \(64,\) but training inputs have \(8, 8, 1\)"):
        NASModel().fit(x[:50], y[:50], validation_data=(x[50:60].reshape(10, 64), y[50:60]))
    with pytest.raises(ValueError, match="input_shape=.*was given"):
        NASModel(input_shape=(64,)).fit(x[:50], y[:50], validation_data=(x[50:60], y[50:60]))


def test_model_before_fit_says_so():
    from keras_nas import NotFittedError

    model = NASModel()
    with pytest.raises(NotFittedError, match="call `fit` first"):
        model.predict(np.zeros((1, 8, 8, 1)))
    with pytest.raises(AttributeError, match="before `fit`"):
        model.layers
