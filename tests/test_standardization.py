"""Integer files of models whose raw features or outputs differ in scale take and give standardized values.

Real data: scikit-learn's RLC-circuit simulation (`make_friedman2` and
`make_friedman3`: the impedance in ohms and the phase in radians of a series
circuit from its resistance in ohms, angular frequency in rad/s, inductance in
henry and capacitance in microfarad) and its diabetes set (features already of
one scale). Real runtimes: LiteRT, TFLite Micro and g++ for the C header.
"""

import shutil
import warnings
import subprocess

import keras
import numpy as np
import pytest

from keras_nas import NASModel, tflite
from keras_nas.tflite import metadata, standardization


def circuit(n: int = 3000, phase: bool = False):
    """`make_friedman2` (noise-free), split 2/3 train, 1/3 validation; float32.

    With `phase`, targets `(n, 2)`: the impedance (ohms, std ~380) and the phase
    (`make_friedman3`, radians, std ~0.3) of the same circuits.
    """
    from sklearn.datasets import make_friedman2, make_friedman3

    x, y = make_friedman2(n_samples=n, noise=0.0, random_state=0)
    if phase:
        x3, y3 = make_friedman3(n_samples=n, noise=0.0, random_state=0)
        assert np.array_equal(x, x3)  # the same circuits
        y = np.stack([y, y3], axis=1)
    x, y = x.astype("float32"), y.astype("float32")
    cut = 2 * n // 3
    return (x[:cut], y[:cut]), (x[cut:], y[cut:])


def trained_mlp(x, y, epochs: int = 60):
    """Normalization -> Dense 32 x2 -> linear output, trained on standardized targets."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input(x.shape[1:], name="input")
    h = keras.layers.Normalization(mean=x.mean(0), variance=x.var(0), name="normalization")(inputs)
    h = keras.layers.Dense(32, activation="relu")(h)
    h = keras.layers.Dense(32, activation="relu")(h)
    h = keras.layers.Dense(1)(h)
    inner = keras.Model(inputs, h)
    inner.compile(keras.optimizers.Adam(3e-3), "mse")
    inner.fit(x, (y - y.mean()) / y.std(), epochs=epochs, batch_size=64, verbose=0)
    outputs = keras.layers.Normalization(mean=[y.mean()], variance=[y.var()], invert=True, name="to_target_units")(h)
    return keras.Model(inputs, outputs)


@pytest.fixture(scope="module")
def circuit_model():
    (x_train, y_train), (x_val, y_val) = circuit()
    model = trained_mlp(x_train, y_train)
    return model, x_train, x_val, y_val


def test_raw_features_of_different_scales_would_lose_the_small_ones():
    (x, _), _ = circuit()
    steps = standardization.steps_per_std(x.mean(0), x.std(0))
    # The inductance (0-1 H) keeps well under a step per standard deviation beside the
    # angular frequency (up to 1,760 rad/s); diabetes' features, already scaled, keep 40.
    assert steps[2] < 0.1 and steps[1] > 10
    from sklearn.datasets import load_diabetes

    diabetes = load_diabetes().data
    assert standardization.steps_per_std(diabetes.mean(0), diabetes.std(0)).min() > 30


def test_int8_file_takes_standardized_features_and_keeps_the_float_accuracy(circuit_model, monkeypatch):
    model, x_train, x_val, y_val = circuit_model
    assert standardization.standardized_input(model, "int8")
    assert not standardization.standardized_input(model, "float32")
    content = tflite.to_tflite(model, "int8", representative_data=x_train)
    normalization = tflite.read_metadata(content)["normalization"]
    assert normalization["in_model"] is False
    np.testing.assert_allclose(normalization["mean"], x_train.mean(0), rtol=1e-5)
    np.testing.assert_allclose(normalization["std"], x_train.std(0), rtol=1e-4)
    assert "SUB" not in tflite.model_ops(content)  # the normalization is not in the file

    float_mae = np.abs(model.predict(x_val, verbose=0)[:, 0] - y_val).mean()
    int8 = tflite.predict(content, x_val)[:, 0]  # raw features in: predict standardizes them
    int8_mae = np.abs(int8 - y_val).mean()
    mean_predictor_mae = np.abs(y_val - y_val.mean()).mean()
    print(f"MAE float {float_mae:.2f}, int8 {int8_mae:.2f}, the mean {mean_predictor_mae:.2f}")
    assert int8_mae < 1.5 * float_mae + 1.0 and int8_mae < mean_predictor_mae / 20
    # TFLite Micro runs the same file on the same standardized features.
    micro = tflite.predict(content, x_val[:20], runtime="micro")[:, 0]
    np.testing.assert_allclose(micro, int8[:20], atol=1e-3 * np.abs(int8).max())

    # int16 inputs keep the inductance's steps, but folding the normalization into the first
    # layer's int8 weights would lose them there (measured MAE 221): standardized too.
    content16 = tflite.convert(model, "int16x8", representative_data=x_train)
    assert tflite.read_metadata(content16)["normalization"]["in_model"] is False
    assert np.abs(tflite.predict(content16, x_val)[:, 0] - y_val).mean() < 1.5 * float_mae + 1.0

    # with_metadata (what export writes) keeps the converter's entry.
    exported = tflite.read_metadata(metadata.with_metadata(model, content))["normalization"]
    assert exported == normalization

    # The same file with the layer inside, on raw features, predicts about the mean.
    monkeypatch.setattr(standardization, "INTEGER_LEVELS", {})  # converted as it was
    with_layer = tflite.to_tflite(model, "int8", representative_data=x_train)
    assert "normalization" not in tflite.read_metadata(with_layer)
    with_layer_mae = np.abs(tflite.predict(with_layer, x_val)[:, 0] - y_val).mean()
    print(f"MAE int8 with the layer in the file {with_layer_mae:.2f}")
    assert with_layer_mae > 0.8 * mean_predictor_mae


def test_float_file_and_features_of_one_scale_keep_the_layer(circuit_model):
    model, x_train, x_val, _ = circuit_model
    content = tflite.to_tflite(model, "float32")
    assert "normalization" not in tflite.read_metadata(content)
    np.testing.assert_allclose(tflite.predict(content, x_val[:50]), model.predict(x_val[:50], verbose=0),
                               rtol=1e-4, atol=1e-3)
    from sklearn.datasets import load_diabetes

    x, y = load_diabetes(return_X_y=True)
    x, y = x.astype("float32"), y.astype("float32")
    diabetes_model = trained_mlp(x[:350], y[:350], epochs=80)
    assert not standardization.standardized_input(diabetes_model)
    content = metadata.with_metadata(diabetes_model, tflite.to_tflite(diabetes_model, "int8", x[:350]))
    assert tflite.read_metadata(content)["normalization"]["in_model"] is True
    # The layer stays as the affine map the converter folds into the first Dense layer: no SUB
    # or MUL before it, whose int8 scales lose the inputs (measured: 0.22 target standard
    # deviations off the float outputs as SUB and MUL, 0.054 folded).
    assert tflite.model_ops(content) == ("FULLY_CONNECTED",)
    int8, float32 = tflite.predict(content, x[350:]), diabetes_model.predict(x[350:], verbose=0)
    assert np.abs(int8 - float32).mean() < 0.1 * y.std()


def test_c_header_gives_the_mean_and_std_to_standardize_with(circuit_model, tmp_path):
    model, x_train, _, _ = circuit_model
    content = tflite.to_tflite(model, "int8", representative_data=x_train)
    cc, header = tflite.write_c_array(content, tmp_path, name="circuit_model")
    text = header.read_text()
    assert "kCircuitModelInputMean[] = {" in text and "kCircuitModelInputStd[] = {" in text
    assert "constexpr int kCircuitModelNumInputFeatures = 4;" in text
    mean = text.split("kCircuitModelInputMean[] = {")[1].split("}")[0]
    np.testing.assert_allclose([float(v.rstrip("f")) for v in mean.split(", ")], x_train.mean(0), rtol=1e-6)
    if shutil.which("g++"):
        subprocess.run(["g++", "-std=c++17", "-c", str(cc), "-o", str(tmp_path / "m.o")], check=True)


def test_impedance_and_phase_search_exports_an_int8_file_that_works(tmp_path):
    # Two outputs of the same circuits in units 1,000x apart: one int8 output scale would
    # leave the phase a step or two. The file takes standardized features and gives
    # standardized outputs; predict and the C header put both in their units.
    (x_train, y_train), (x_val, y_val) = circuit(1500, phase=True)
    model = NASModel(task="regression", constraints={"flash_kb": 32, "peak_ram_kb": 16}, strategy="random",
                     max_trials=2, seed=1, directory=str(tmp_path), project_name="circuit", finalists=1)
    model.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=30, batch_size=64, verbose=0)
    model.export(tmp_path / "export", verbose=False)
    content = (tmp_path / "export" / "model_int8.tflite").read_bytes()
    entries = tflite.read_metadata(content)
    assert entries["normalization"]["in_model"] is False
    assert entries["output_normalization"]["in_model"] is False
    assert entries["description"].endswith("input shape [4], output shape [2].")  # not "a classifier"
    np.testing.assert_allclose(entries["output_normalization"]["mean"], y_train.mean(0), rtol=1e-4)
    float_mae = np.abs(model.predict(x_val, verbose=0) - y_val).mean(axis=0)
    int8_mae = np.abs(tflite.predict(content, x_val) - y_val).mean(axis=0)
    mean_mae = np.abs(y_val - y_train.mean(0)).mean(axis=0)
    print(f"MAE float {float_mae}, int8 {int8_mae}, the mean {mean_mae}")
    assert np.all(int8_mae < 1.5 * float_mae + 0.05 * mean_mae) and np.all(int8_mae < 0.5 * mean_mae)
    header = (tmp_path / "export" / "model_data.h").read_text()
    assert "kModelDataInputMean[]" in header and "kModelDataOutputStd[]" in header
    assert "standardized per output" in header
    if shutil.which("g++"):
        subprocess.run(["g++", "-std=c++17", "-c", str(tmp_path / "export" / "model_data.cc"),
                        "-o", str(tmp_path / "m.o")], check=True)


def test_one_output_scale_would_lose_the_phase():
    _, (_, y) = circuit(phase=True)
    assert standardization.steps_per_std(y.mean(0), y.std(0))[1] < 1


def test_quantization_aware_training_warns_that_it_keeps_the_layer():
    # Breast-cancer features span 0.001 to 4,000: QAT's int8 file keeps the input Normalization
    # (it is rebuilt in tf_keras as is), so the small features would be lost; it says so.
    from sklearn.datasets import load_breast_cancer

    x, y = load_breast_cancer(return_X_y=True)
    x = x.astype("float32")
    inputs = keras.Input(x.shape[1:])
    h = keras.layers.Normalization(mean=x.mean(0), variance=x.var(0))(inputs)
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(h))
    assert standardization.standardized_input(model)
    with pytest.warns(UserWarning, match="keeps the Normalization layer in the int8 file"):
        tflite.quantization_aware_training(model, x[:64], y[:64], epochs=1)


def test_anomaly_detector_on_features_of_different_scales_reconstructs_them_in_int8(tmp_path):
    # An autoencoder of the circuit's four raw quantities: its int8 file takes standardized
    # features and gives a standardized reconstruction; predict and the header give it back in
    # the inputs' units, where the anomaly score compares it with the input.
    (x_train, _), (x_val, _) = circuit(1500)
    model = NASModel(task="anomaly", constraints={"flash_kb": 32, "peak_ram_kb": 16}, strategy="random",
                     max_trials=1, seed=1, directory=str(tmp_path), project_name="circuit_ad", finalists=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # no labelled validation set: the proxy objective says so
        model.fit(x_train, validation_data=x_val, epochs=20, batch_size=64, verbose=0)
    model.export(tmp_path / "export", verbose=False)
    content = (tmp_path / "export" / "model_int8.tflite").read_bytes()
    entries = tflite.read_metadata(content)
    assert entries["normalization"]["in_model"] is False
    assert entries["output_normalization"]["in_model"] is False
    float_out, int8_out = model.predict(x_val, verbose=0), tflite.predict(content, x_val)
    # Per feature, int8 is off the float reconstruction by under a tenth of its spread.
    assert np.all(np.abs(int8_out - float_out).mean(axis=0) < 0.1 * x_val.std(axis=0))
    header = (tmp_path / "export" / "model_data.h").read_text()
    assert "kModelDataOutputStd[c] + kModelDataOutputMean[c]" in header
