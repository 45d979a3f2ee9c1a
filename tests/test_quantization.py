"""int16x8, SavedModel, tf_keras bridge, QAT, pruning, metadata and the export report.

Real runtimes only (TF converter, LiteRT, TFLite Micro, tfmot on tf_keras); tiny
models on the offline digits data so that the whole file runs in about a minute.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import json  # noqa: E402

import keras  # noqa: E402
import keras_tuner  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from keras_nas import blocks, tflite  # noqa: E402
from keras_nas.datasets import load_digits  # noqa: E402
from keras_nas.export import export_model  # noqa: E402
from keras_nas.hypermodel import NASHyperModel  # noqa: E402
from keras_nas.tflite.bridge import BridgeError, to_tf_keras  # noqa: E402
from keras_nas.tflite.convert import convert, export_saved_model  # noqa: E402
from keras_nas.tflite.metadata import add_metadata, read_metadata  # noqa: E402
from keras_nas.tflite.qat import prune, quantization_aware_training  # noqa: E402


@pytest.fixture(scope="module")
def digits():
    return load_digits()


def _mlp(x_train, units=32, name="mlp"):
    inputs = keras.Input((8, 8, 1), name="input")
    x = keras.layers.Normalization(mean=[x_train.mean()], variance=[x_train.var()], name="normalization")(inputs)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(units, name="hidden")(x)
    x = keras.layers.ReLU(name="relu")(x)
    outputs = keras.layers.Dense(10, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name=name)


@pytest.fixture(scope="module")
def trained_mlp(digits):
    (x_train, y_train), _, _ = digits
    keras.utils.set_random_seed(0)
    model = _mlp(x_train)
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=30, batch_size=32, verbose=0)
    return model


@pytest.fixture(scope="module")
def small_cnn(digits):
    """A ConvSpace candidate (relu, depthwise-separable), trained briefly."""
    (x_train, y_train), _, _ = digits
    keras.utils.set_random_seed(1)
    hypermodel = NASHyperModel(
        (8, 8, 1), 10, space=blocks.ConvSpace(max_stages=1, activation="relu", block_type="ds"),
        head=blocks.ClassifierHead(10, pooling="avg", dropout=0.0),
        mean=np.array([x_train.mean()]), variance=np.array([x_train.var()]),
    )
    hp = keras_tuner.HyperParameters()
    hp.Fixed("conv_space/stem/filters", 16)
    hp.Fixed("conv_space/stage_1/filters", 24)
    hp.Fixed("conv_space/stage_1/depth", 1)
    model = hypermodel.build(hp)
    model.fit(x_train, y_train, epochs=6, batch_size=32, verbose=0)
    return model


def _accuracy(model, x, y):
    return float(np.mean(np.asarray(model(x, training=False)).argmax(-1) == y))


# -- int16x8 and SavedModel -----------------------------------------------------


def test_int16x8_runs_on_litert_and_tflite_micro(small_cnn, digits):
    (x_train, _), (x_val, y_val), _ = digits
    content = convert(small_cnn, "int16x8", representative_data=x_train)
    details = tflite.load_interpreter(content).get_input_details()[0]
    assert np.dtype(details["dtype"]) == np.int16
    float_accuracy = _accuracy(small_cnn, x_val, y_val)
    assert tflite.accuracy(content, x_val, y_val) >= float_accuracy - 0.02
    # The reference kernels of TFLite Micro give the same int16 outputs as LiteRT.
    litert = tflite.predict(content, x_val[:20])
    micro = tflite.predict(content, x_val[:20], runtime="micro")
    np.testing.assert_allclose(micro, litert, atol=2e-3)


def test_int16x8_needs_data_and_names_unsupported_ops(digits):
    (x_train, _), _, _ = digits
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(4, 3, padding="same")(inputs)
    x = keras.layers.Activation("hard_swish", name="hs")(x)
    outputs = keras.layers.Dense(10, activation="softmax")(keras.layers.Flatten()(x))
    model = keras.Model(inputs, outputs)
    with pytest.raises(ValueError, match="int16x8.*representative_data"):
        convert(model, "int16x8")
    with pytest.raises(tflite.ConversionError, match="HARD_SWISH"):
        convert(model, "int16x8", representative_data=x_train[:50])


def test_saved_model_reloads_with_same_outputs(small_cnn, digits, tmp_path):
    import tensorflow as tf

    _, (x_val, _), _ = digits
    path = export_saved_model(small_cnn, tmp_path / "sm", x_val[:16])
    loaded = tf.saved_model.load(path)  # keep a reference: its variables die with it
    reloaded = loaded.serve(tf.constant(x_val[:16]))
    np.testing.assert_allclose(np.asarray(reloaded), np.asarray(small_cnn(x_val[:16])), atol=1e-5)
    with pytest.raises(ValueError, match="already exists"):
        export_saved_model(small_cnn, path)


# -- bridge -----------------------------------------------------------------------


def _random_candidate(input_shape, space, seed):
    hypermodel = NASHyperModel(
        input_shape, 10, space=space,
        mean=np.full(input_shape[-1:], 0.3, np.float32), variance=np.full(input_shape[-1:], 2.0, np.float32),
    )
    declared = keras_tuner.HyperParameters()
    hypermodel.build(declared)
    rng = np.random.default_rng(seed)
    hp = keras_tuner.HyperParameters()
    for parameter in declared.space:
        hp.merge([parameter])
        if hp.is_active(parameter):
            hp.values[parameter.name] = parameter.random_sample(int(rng.integers(2**31 - 1)))
    model = hypermodel.build(hp)
    # Non-trivial BN statistics and weights, so a wrong weight order would show.
    weights = [w + rng.normal(0, 0.2, w.shape).astype(w.dtype) for w in model.get_weights()]
    weights = [np.abs(w) + 0.5 if "variance" in v.path else w for w, v in zip(weights, model.weights)]
    model.set_weights(weights)
    return model


@pytest.mark.parametrize(
    "input_shape, space, seed",
    [
        ((8, 8, 1), blocks.ConvSpace(max_stages=2, block_type="mbconv", activation="hard_swish"), 0),
        ((8, 8, 1), None, 1),
        ((40, 1), None, 2),
        ((40, 2), blocks.ConvSpace(max_stages=1, block_type="ds"), 3),
        ((16,), blocks.MLPSpace(use_batchnorm=True), 4),
    ],
)
def test_bridge_reproduces_block_models(input_shape, space, seed):
    model = _random_candidate(input_shape, space, seed)
    tf_model = to_tf_keras(model)
    assert [layer.name for layer in tf_model.layers] == [layer.name for layer in model.layers]
    x = np.random.default_rng(seed).normal(0, 2, (32, *input_shape)).astype(np.float32)
    np.testing.assert_allclose(
        tf_model(x, training=False).numpy(), np.asarray(model(x, training=False)), atol=1e-5
    )


def test_bridge_names_the_layer_it_cannot_rebuild():
    inputs = keras.Input((8, 4))
    x = keras.layers.LayerNormalization(name="my_layer_norm")(inputs)
    outputs = keras.layers.Dense(2)(keras.layers.Flatten()(x))
    with pytest.raises(BridgeError, match=r"my_layer_norm.*LayerNormalization.*Conv2D"):
        to_tf_keras(keras.Model(inputs, outputs))
    inputs = keras.Input((4,))
    outputs = keras.layers.Dense(2, activation="gelu", name="gelu_dense")(inputs)
    with pytest.raises(BridgeError, match="gelu_dense.*gelu"):
        to_tf_keras(keras.Model(inputs, outputs))
    with pytest.raises(TypeError, match="keras.Model"):
        to_tf_keras("not a model")


# -- QAT and pruning --------------------------------------------------------------


def _imbalanced(model, gain=300.0, units=(0, 1)):
    """The same float function with two hidden units scaled by `gain` (and undone after ReLU).

    ReLU is positively homogeneous, so the float outputs do not change; but the
    hidden activation tensor (quantized per tensor) now has a range `gain` times
    wider, which costs the other units their int8 resolution under PTQ.
    """
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    kernel, bias = clone.get_layer("hidden").get_weights()
    out_kernel, out_bias = clone.get_layer("predictions").get_weights()
    kernel[:, list(units)] *= gain
    bias[list(units)] *= gain
    out_kernel[list(units), :] /= gain
    clone.get_layer("hidden").set_weights([kernel, bias])
    clone.get_layer("predictions").set_weights([out_kernel, out_bias])
    return clone


def test_qat_recovers_what_ptq_loses_and_keras3_still_works(trained_mlp, digits, tmp_path):
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = digits
    model = _imbalanced(trained_mlp)
    float_accuracy = _accuracy(model, x_test, y_test)
    assert abs(float_accuracy - _accuracy(trained_mlp, x_test, y_test)) < 0.01
    ptq = tflite.accuracy(tflite.to_tflite(model, "int8", x_train), x_test, y_test)
    int8, qat_model, history = quantization_aware_training(
        model, x_train, y_train, validation_data=(x_val, y_val), epochs=5, learning_rate=1e-3
    )
    qat = tflite.accuracy(int8, x_test, y_test)
    assert ptq < float_accuracy - 0.1, (float_accuracy, ptq)  # PTQ hurts...
    assert qat > ptq + 0.1 and qat >= float_accuracy - 0.05, (float_accuracy, ptq, qat)  # ...QAT recovers
    assert len(history.history["val_accuracy"]) == 5
    assert type(qat_model).__module__.startswith("tf_keras")
    # The QAT int8 model is full-integer at its boundary and runs on TFLite Micro.
    details = tflite.load_interpreter(int8)
    assert np.dtype(details.get_input_details()[0]["dtype"]) == np.int8
    assert np.dtype(details.get_output_details()[0]["dtype"]) == np.int8
    # (Reference kernels round a few outputs differently from LiteRT's optimized ones.)
    micro = tflite.accuracy(int8, x_test[:100], y_test[:100], runtime="micro")
    assert abs(micro - tflite.accuracy(int8, x_test[:100], y_test[:100])) <= 0.03
    assert tflite.arena_bytes(int8) > 0

    # tfmot set TF_USE_LEGACY_KERAS on import: it must be gone, Keras 3 must still be Keras 3.
    import tensorflow as tf

    assert "TF_USE_LEGACY_KERAS" not in os.environ
    assert keras.__version__.startswith("3.") and tf.keras.__version__.startswith("3.")
    content = tflite.to_tflite(_mlp(x_train, 8, name="after_qat"), "int8", x_train[:50])
    assert tflite.accuracy(content, x_val, y_val) >= 0.0
    from keras_nas import NASModel

    search = NASModel(
        num_classes=10, max_trials=1, strategy="random", seed=0, directory=str(tmp_path),
        project_name="after_qat",
        space=blocks.MLPSpace(units=8, num_layers=1, dropout=0.0, activation="relu", use_batchnorm=False),
    )
    search.fit(x_train[:200], y_train[:200], validation_data=(x_val, y_val), epochs=1, verbose=0)
    assert isinstance(search.model, keras.Model) and not type(search.model).__module__.startswith("tf_keras")


def test_qat_int8_of_a_1d_mbconv_matches_its_qat_keras_model():
    """Conv1D, DepthwiseConv1D, stand-alone BN, SE gate and hard_swish need our QuantizeConfigs.

    When the outputs of the linear 1D convolutions were left without fake
    quantization, this model's int8 file scored 0.19 while its QAT Keras model
    scored 0.65 (measured): the converter had no range for those tensors.
    """
    from keras_nas.datasets import load_mnist1d

    (x_train, y_train), _, (x_test, y_test) = load_mnist1d()
    x_train, y_train = x_train[:1200], y_train[:1200]
    hypermodel = NASHyperModel(
        (40, 1), 10, space=blocks.ConvSpace(max_stages=1, block_type="mbconv", activation="hard_swish"),
        head=blocks.ClassifierHead(10, pooling="avg", dropout=0.0),
        mean=np.array([x_train.mean()]), variance=np.array([x_train.var()]),
    )
    hp = keras_tuner.HyperParameters()
    for name, value in {"conv_space/stage_1/se_ratio": 0.25, "conv_space/stage_1/expansion": 2,
                        "conv_space/stage_1/depth": 1, "conv_space/stem/filters": 8,
                        "conv_space/stage_1/filters": 8, "learning_rate": 3e-3}.items():
        hp.Fixed(name, value)
    keras.utils.set_random_seed(0)
    model = hypermodel.build(hp)
    model.fit(x_train, y_train, epochs=5, verbose=0)
    int8, qat_model, _ = quantization_aware_training(model, x_train, y_train, epochs=1)
    assert {"CONV_2D", "DEPTHWISE_CONV_2D", "HARD_SWISH"} <= set(tflite.model_ops(int8))
    qat_keras = float(np.mean(qat_model.predict(x_test, verbose=0).argmax(-1) == y_test))
    assert qat_keras >= 0.5
    assert abs(tflite.accuracy(int8, x_test, y_test) - qat_keras) <= 0.03


def test_prune_reaches_the_target_sparsity(trained_mlp, digits):
    (x_train, y_train), _, (x_test, y_test) = digits
    pruned, int8, sparsity = prune(trained_mlp, x_train, y_train, target_sparsity=0.6, epochs=2)
    assert 0.55 <= sparsity <= 0.65
    kernel = pruned.get_layer("hidden").get_weights()[0]
    assert 0.5 <= np.mean(kernel == 0) <= 0.7
    assert tflite.accuracy(int8, x_test, y_test) >= _accuracy(trained_mlp, x_test, y_test) - 0.08
    np.testing.assert_allclose(
        tflite.predict(int8, x_test[:5], runtime="micro"), tflite.predict(int8, x_test[:5]), atol=1e-6
    )


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"target_sparsity": 1.0}, r"target_sparsity must be a fraction in \[0, 1\)"),
        ({"target_sparsity": -0.1}, "target_sparsity"),
        ({"x": None}, "needs training data"),
        ({"epochs": 0}, "epochs must be a positive int"),
        ({"x": np.zeros((3, 4, 4, 1), np.float32)}, r"x must have shape \(n, 8, 8, 1\)"),
    ],
)
def test_prune_rejects_bad_arguments(trained_mlp, digits, kwargs, message):
    (x_train, y_train), _, _ = digits
    arguments = {"x": x_train, "y": y_train, **kwargs}
    with pytest.raises(ValueError, match=message):
        prune(trained_mlp, **arguments)


def test_qat_rejects_bad_arguments(trained_mlp, digits):
    (x_train, y_train), _, _ = digits
    with pytest.raises(ValueError, match="needs training data"):
        quantization_aware_training(trained_mlp, x_train, None)
    with pytest.raises(ValueError, match="learning_rate"):
        quantization_aware_training(trained_mlp, x_train, y_train, learning_rate=5.0)
    with pytest.raises(ValueError, match="1167 samples but y has 3"):
        quantization_aware_training(trained_mlp, x_train, y_train[:3])


# -- metadata and export report ----------------------------------------------------


def test_metadata_round_trip_keeps_outputs_identical(trained_mlp, digits):
    (x_train, _), (x_val, _), _ = digits
    content = tflite.to_tflite(trained_mlp, "int8", x_train)
    labels = [f"digit_{i}" for i in range(10)]
    tagged = add_metadata(content, labels=labels, normalization={"mean": [4.9], "std": [6.0], "in_model": True},
                          description="digits MLP")
    meta = read_metadata(tagged)
    assert meta["labels"] == labels and meta["normalization"]["in_model"] is True
    assert meta["description"] == "digits MLP" and "min_runtime_version" in meta["entries"]
    assert "keras_nas" not in read_metadata(content)["entries"]
    np.testing.assert_array_equal(tflite.predict(tagged, x_val), tflite.predict(content, x_val))
    np.testing.assert_array_equal(
        tflite.predict(tagged, x_val[:5], runtime="micro"), tflite.predict(content, x_val[:5], runtime="micro")
    )
    # Writing again replaces the entries instead of piling them up.
    again = read_metadata(add_metadata(tagged, labels=["a", "b"]))
    assert again["labels"] == ["a", "b"] and list(again["entries"]).count("keras_nas") == 1
    with pytest.raises(ValueError, match="without newlines"):
        add_metadata(content, labels=["a\nb"])
    with pytest.raises(tflite.InvalidModelError):
        add_metadata(b"not a tflite model")


def test_export_writes_every_format_with_a_deployment_report(trained_mlp, digits, tmp_path):
    (x_train, y_train), (x_val, y_val), _ = digits
    formats = ["tflite-int8", "tflite-dynamic", "tflite-int16x8", "tflite-int8-qat", "saved-model", "c-array"]
    with pytest.raises(ValueError, match="x_train and y_train"):
        export_model(trained_mlp, tmp_path / "bad", ["tflite-int8-qat"], representative_data=x_train)
    labels = [str(i) for i in range(10)]
    report = export_model(trained_mlp, tmp_path, formats, x_val=x_val, y_val=y_val, labels=labels,
                          verbose=False, x_train=x_train[:400], y_train=y_train[:400])
    assert json.loads((tmp_path / "report.json").read_text())["formats"] == json.loads(json.dumps(report["formats"]))
    markdown = (tmp_path / "report.md").read_text()
    for fmt in ("tflite-int8", "tflite-dynamic", "tflite-int16x8", "tflite-int8-qat"):
        entry = report["formats"][fmt]
        data = (tmp_path / os.path.basename(entry["file"])).read_bytes()
        assert entry["size_bytes"] == len(data) and entry["ops"] and fmt in markdown
        assert entry["accuracy"] >= report["accuracy"]["keras"] - 0.1
        assert read_metadata(data)["normalization"]["in_model"] is True
        assert read_metadata(data)["labels"] == labels
    for fmt in ("tflite-int8", "tflite-int8-qat"):
        entry = report["formats"][fmt]
        assert entry["arena_bytes"] > 0 and entry["macs"] > 0
        assert entry["latency_ms"]["host"]["median_ms"] > 0 and entry["latency_ms"]["host"]["cv"] >= 0
        assert entry["latency_ms"]["cortex-m4"]["median_ms"] > 0
    int8 = (tmp_path / "model_int8.tflite").read_bytes()
    assert tflite.read_c_array(tmp_path / "model_data.cc") == int8
    assert report["int8_cost"]["flash_bytes"] == len(int8)
    assert report["formats"]["saved-model"]["size_bytes"] > 0 and (tmp_path / "saved_model").is_dir()
