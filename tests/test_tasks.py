"""Tasks beyond classification: regression and anomaly detection, end to end to int8 and C arrays.

Real data (scikit-learn's diabetes, MNIST-1D with injected faults), real
runtimes (LiteRT for int8 outputs), searches kept tiny.
"""

import json
import warnings

import keras
import keras_tuner
import numpy as np
import pytest

from keras_nas import NASModel, blocks, pareto, tasks, tflite
from keras_nas.data import prepare_data
from keras_nas.datasets import inject_faults, load_mnist1d
from keras_nas.hypermodel import NASHyperModel

LIMITS = {"flash_kb": 64, "peak_ram_kb": 32}


def diabetes(columns: int = 1):
    """scikit-learn's diabetes (442 patients, 10 features), split 340 / 102; targets (n,) or (n, 2)."""
    from sklearn.datasets import load_diabetes

    data = load_diabetes()
    x, y = data.data.astype("float32"), data.target.astype("float32")
    if columns == 2:  # a second target in other units: disease progression and BMI x 100
        y = np.stack([y, 100 * x[:, 2]], axis=1)
    order = np.random.default_rng(0).permutation(len(x))
    train, val = order[:340], order[340:]
    return (x[train], y[train]), (x[val], y[val])


def faulty_mnist1d(num_samples: int = 1200):
    """MNIST-1D: normal training signals; validation signals, half of them with an injected fault."""
    (x_train, _), (x_val, _), _ = load_mnist1d(num_samples=num_samples, validation_fraction=0.25)
    return x_train, inject_faults(x_val, fraction=0.5, seed=1)


# -- regression ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def regression_search(tmp_path_factory):
    (x_train, y_train), (x_val, y_val) = diabetes()
    directory = tmp_path_factory.mktemp("regression")
    model = NASModel(task="regression", constraints=LIMITS, strategy="random", max_trials=3, seed=3,
                     directory=str(directory), project_name="diabetes", finalists=1)
    model.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=25, batch_size=32, verbose=0)
    report = model.export(directory / "export", verbose=False)
    return model, report, directory / "export"


def test_regression_search_on_diabetes_to_int8_and_c_array(regression_search):
    model, report, out = regression_search
    (x_train, y_train), (x_val, y_val) = diabetes()
    trained = [row for row in model.trials() if row["status"] == "COMPLETED"]
    assert len(trained) == 3
    # val_mae is minimised: the oracle's direction, and the winner is the lowest MAE.
    assert model.tuner.oracle.objective.name == "val_mae"
    assert model.tuner.oracle.objective.direction == "min"
    assert model.best_trial_.trial_id == min(trained, key=lambda r: r["metrics"]["val_mae"])["trial_id"]
    # Better than predicting the training mean (MAE ~ 64 on these patients).
    constant = float(np.mean(np.abs(y_val - y_train.mean())))
    assert report["metric"] == "mae" and report["task"] == "regression"
    assert "accuracy" not in report
    assert report["scores"]["keras"] < 0.85 * constant
    # The int8 file predicts in the targets' units: its MAE, measured here on LiteRT, is the report's.
    content = (out / "model_int8.tflite").read_bytes()
    int8_pred = tflite.predict(content, x_val)
    assert int8_pred.shape == (len(x_val), 1)
    assert float(np.mean(np.abs(int8_pred[:, 0] - y_val))) == pytest.approx(report["scores"]["tflite-int8"])
    assert abs(report["scores"]["tflite-int8"] - report["scores"]["keras"]) < 0.1 * constant
    # The C array holds that file, and its header says how to read the output.
    assert tflite.read_c_array(out / "model_data.cc") == content
    header = (out / "model_data.h").read_text()
    assert "regression value(s) in the targets' units" in header
    assert "constexpr int kModelDataNumOutputs = 1;" in header
    saved = json.loads((out / "report.json").read_text())
    assert saved["metric"] == "mae" and saved["scores"] == report["scores"]


def test_regression_pareto_front_and_report_rank_mae_lowest_first(regression_search, tmp_path):
    model, _, _ = regression_search
    front = model.pareto_front()
    maes = [row["metrics"]["val_mae"] for row in front]
    assert maes == sorted(maes)
    best = min(row["metrics"]["val_mae"] for row in model.trials() if row["status"] == "COMPLETED")
    assert maes[0] == best  # the lowest MAE is never dominated
    from keras_nas.report import build_report, load_search

    built = build_report(load_search(model.tuner.project_dir))
    assert built["pareto_front"]["objectives"][0] == ["val_mae", "min"]
    assert built["pareto_front"]["trial_ids"][0] == front[0]["trial_id"]


def test_two_regression_outputs_keep_their_units_through_int8():
    (x_train, y_train), (x_val, y_val) = diabetes(columns=2)
    data = prepare_data(x_train, y_train, validation_data=(x_val, y_val), task="regression")
    assert data.targets.num_outputs == 2
    np.testing.assert_allclose(data.targets.target_mean, y_train.mean(axis=0), rtol=1e-5)
    hypermodel = NASHyperModel(data.input_shape, None, space="mlp", mean=data.mean,
                               variance=data.variance, task="regression", targets=data.targets)
    keras.utils.set_random_seed(0)
    model = hypermodel.build(keras_tuner.HyperParameters())
    hypermodel.fit(keras_tuner.HyperParameters(), model, *data.train_args,
                   validation_data=data.validation_data, epochs=30, batch_size=32, verbose=0)
    float_out = model.predict(x_val, verbose=0)
    assert float_out.shape == (len(x_val), 2)
    float_mae = np.mean(np.abs(float_out - y_val), axis=0)
    # Each column is predicted in its own units, better than its training mean.
    assert np.all(float_mae < np.mean(np.abs(y_val - y_train.mean(axis=0)), axis=0))
    content = tflite.to_tflite(model, "int8", data.representative_x)
    # The columns spread 16x apart: one int8 output scale would leave the narrow one 3 steps per
    # standard deviation, so the file gives standardized outputs (`tflite.standardization`).
    assert tflite.read_metadata(content)["output_normalization"]["in_model"] is False
    int8_out = tflite.predict(content, x_val)
    # LiteRT's dequantized outputs are in the same units: per column, the int8 MAE is within
    # 10 % of the float MAE, and the int8 outputs differ from Keras' by under a fifth of a
    # standard deviation of that column on average.
    int8_mae = np.mean(np.abs(int8_out - y_val), axis=0)
    assert np.all(int8_mae <= 1.1 * float_mae), (int8_mae, float_mae)
    assert np.all(np.mean(np.abs(int8_out - float_out), axis=0) < 0.2 * y_val.std(axis=0))


def test_huber_loss_is_an_argument_of_the_regression_task(tmp_path):
    task = tasks.Regression(loss="huber", huber_delta=0.5)
    targets = tasks.TargetInfo(num_outputs=2, target_mean=np.array([100.0, 0.0]),
                               target_variance=np.array([400.0, 1.0]))
    loss = task.compile_arguments(targets)["loss"]
    # Standardized: 20 units off in the first column (1 std) cost what 1 unit off in the second does.
    y_true = np.array([[100.0, 0.0]], "float32")
    first = float(loss(y_true, np.array([[120.0, 0.0]], "float32")))
    second = float(loss(y_true, np.array([[100.0, 1.0]], "float32")))
    assert first == pytest.approx(second) == pytest.approx(0.5 * (0.5 * 1.0 - 0.5 * 0.5 ** 2) * 2 / 2)
    # A model compiled with it saves and loads without custom objects.
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    model.compile("adam", loss=loss)
    model.save(tmp_path / "m.keras")
    assert keras.models.load_model(tmp_path / "m.keras").loss.get_config()["std"] == [20.0, 1.0]
    assert NASModel(task=task).task == "regression"
    with pytest.raises(ValueError, match="Unknown regression loss 'mape'"):
        tasks.Regression(loss="mape")


# -- anomaly detection -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def anomaly_search(tmp_path_factory):
    x_train, (x_val, labels) = faulty_mnist1d()
    directory = tmp_path_factory.mktemp("anomaly")
    model = NASModel(task="anomaly", constraints=LIMITS, strategy="random", max_trials=2, seed=2,
                     directory=str(directory), project_name="faults", finalists=1)
    model.fit(x_train, validation_data=(x_val, labels), epochs=8, batch_size=64, verbose=0)
    report = model.export(directory / "export", verbose=False)
    return model, report, directory / "export"


def test_anomaly_search_on_faulty_mnist1d_to_int8_and_c_array(anomaly_search):
    model, report, out = anomaly_search
    _, (x_val, labels) = faulty_mnist1d()
    trained = [row for row in model.trials() if row["status"] == "COMPLETED"]
    assert len(trained) == 2
    assert model.tuner.oracle.objective.name == "val_auc"
    assert model.tuner.oracle.objective.direction == "max"
    assert all(0.0 <= row["metrics"]["val_auc"] <= 1.0 for row in trained)
    # The reconstruction error separates faulty signals from normal ones, float and int8.
    assert report["metric"] == "auc"
    assert report["scores"]["keras"] > 0.6  # chance is 0.5; ~300 signals: 3 standard errors above it
    assert abs(report["scores"]["tflite-int8"] - report["scores"]["keras"]) < 0.05
    content = (out / "model_int8.tflite").read_bytes()
    reconstruction = tflite.predict(content, x_val)
    assert reconstruction.shape == x_val.shape  # the output is the input, reconstructed, in its units
    scores = tasks.reconstruction_errors(reconstruction, x_val)
    assert tasks.roc_auc(scores, labels) == pytest.approx(report["scores"]["tflite-int8"])
    float_out = model.predict(x_val, verbose=0)
    assert np.mean(np.abs(reconstruction - float_out)) < 0.1 * x_val.std()
    assert tflite.read_c_array(out / "model_data.cc") == content
    header = (out / "model_data.h").read_text()
    assert "Anomaly score: mean over the 40 values of (x_hat - x)^2" in header
    assert "constexpr int kModelDataNumValues = 40;" in header


def test_anomaly_without_labels_searches_on_the_reconstruction_error_and_says_so(tmp_path):
    x_train, (x_val, labels) = faulty_mnist1d(num_samples=600)
    normal = x_val[labels == 0]
    model = NASModel(task="anomaly", constraints=LIMITS, strategy="random", max_trials=1, seed=0,
                     directory=str(tmp_path), project_name="proxy", finalists=1)
    with pytest.warns(UserWarning, match="threshold-free proxy"):
        model.fit(x_train, validation_data=normal, epochs=2, verbose=0)
    assert model.objective == "val_loss"
    assert model.tuner.oracle.objective.direction == "min"
    report = model.export(tmp_path / "export", formats=["tflite-int8"], verbose=False)
    assert report["metric"] == "reconstruction_mse"
    int8 = tflite.predict(tmp_path / "export" / "model_int8.tflite", normal)
    assert report["scores"]["tflite-int8"] == pytest.approx(
        float(np.mean(tasks.reconstruction_errors(int8, normal))), rel=1e-6)


def test_mlperf_ad_reference_is_a_point_of_the_dense_autoencoder_space():
    hp = keras_tuner.HyperParameters()
    inputs = keras.Input(blocks.DenseAutoencoder.MLPERF_AD_INPUT_SHAPE)
    outputs = blocks.DenseAutoencoder(**blocks.DenseAutoencoder.MLPERF_AD).build(hp, inputs)
    model = keras.Model(inputs, outputs)
    assert model.count_params() == blocks.DenseAutoencoder.MLPERF_AD_PARAMS == 269_992
    assert model.output_shape == (None, 640)
    # ... and the first candidate of an anomaly search on 640 features, as a point of the searched space.
    hypermodel = NASHyperModel((640,), None, task="anomaly", targets=tasks.TargetInfo(num_outputs=640))
    first = hypermodel.initial_architectures()[0]
    values = keras_tuner.HyperParameters()
    hypermodel.build(values)
    for name, value in first.items():
        values.values[name] = value
    assert hypermodel.build_graph(values).count_params() == 269_992
    # The `mlperf-ad` preset starts from it too, and narrows it for smaller boards.
    preset = NASHyperModel((640,), None, task="anomaly", space="mlperf-ad",
                           targets=tasks.TargetInfo(num_outputs=640))
    first = preset.initial_architectures()[0]
    assert first["mlperf_ad/units"] == 128 and first["learning_rate"] == 1e-3
    values = keras_tuner.HyperParameters()
    preset.build(values)
    assert 8 in values.space[[p.name for p in values.space].index("mlperf_ad/units")].values
    for name, value in first.items():
        values.values[name] = value
    assert preset.build_graph(values).count_params() == 269_992
    # On a small board the search starts from it with fewer units (`scale_to_fit` scales dense units).
    from keras_nas.blocks.introspect import declared_hyperparameters
    from keras_nas.cost_predictor import FeasibilityFilter, scale_to_fit

    def build(design):
        hp = keras_tuner.HyperParameters()
        hp.values.update(design)
        return preset.build_graph(hp)

    small = scale_to_fit([first], FeasibilityFilter(build, 128, 64), declared_hyperparameters(preset).space)
    assert small and small[0]["mlperf_ad/units"] < 128
    assert {k: v for k, v in small[0].items() if k != "mlperf_ad/units"} == {
        k: v for k, v in first.items() if k != "mlperf_ad/units"}
    # A dense autoencoder that cannot hold the reference proposes nothing.
    assert blocks.DenseAutoencoder(units=64).initial_architectures((640,)) == []


def test_conv_autoencoder_reconstructs_signals_and_runs_on_tflite_micro():
    hp = keras_tuner.HyperParameters()
    inputs = keras.Input((40, 1))
    model = keras.Model(inputs, blocks.ConvAutoencoder1D(filters=8, stages=2).build(hp, inputs))
    assert model.output_shape == (None, 40, 1)
    x = np.random.default_rng(0).normal(size=(64, 40, 1)).astype("float32")
    content = tflite.to_tflite(model, "int8", x)
    # TFLite Micro's reference TRANSPOSE_CONV rounds a few values some output steps apart from
    # LiteRT's: both stay close to the float model.
    expected = model.predict(x[:4], verbose=0)
    for runtime in ("micro", "litert"):
        outputs = tflite.predict(content, x[:4], runtime=runtime)
        assert np.mean(np.abs(outputs - expected)) < 0.05 * expected.std(), runtime
    with pytest.raises(ValueError, match="divisible by 4"):
        blocks.ConvAutoencoder1D(stages=2).build(keras_tuner.HyperParameters(), keras.Input((42, 1)))


# -- bad inputs ----------------------------------------------------------------------------------------


def test_bad_regression_targets_are_named():
    (x, y), (x_val, y_val) = diabetes()
    with pytest.raises(ValueError, match="task='regression' needs numeric targets.*strings"):
        prepare_data(x, y.astype(str), validation_data=(x_val, y_val), task="regression")
    bad = y.copy()
    bad[7] = np.nan
    with pytest.raises(ValueError, match=r"`y` contains NaN or infinite targets \(first in sample 7\)"):
        prepare_data(x, bad, validation_data=(x_val, y_val), task="regression")
    with pytest.raises(ValueError, match=r"shape \(340, 2, 2\).*\(n,\) or \(n, outputs\)"):
        prepare_data(x, np.zeros((340, 2, 2)), validation_data=(x_val, y_val), task="regression")
    with pytest.raises(ValueError, match="1 column.*validation targets 2"):
        prepare_data(x, y, validation_data=(x_val, np.stack([y_val, y_val], 1)), task="regression")
    with pytest.raises(ValueError, match="Target column 0 is constant"):
        prepare_data(x, np.ones(len(x)), validation_data=(x_val, y_val), task="regression")
    with pytest.raises(ValueError, match="`num_classes` is for task='classification'"):
        NASModel(task="regression", num_classes=3)
    with pytest.raises(ValueError, match="Unknown objective 'val_accuracy' for task='regression'.*val_mae"):
        NASModel(task="regression", objective="val_accuracy")


def test_one_class_is_refused_for_classification():
    x = np.random.default_rng(0).normal(size=(40, 8)).astype("float32")
    with pytest.raises(ValueError, match="All training labels are 3.*at least 2 classes"):
        prepare_data(x[:30], np.full(30, 3), validation_data=(x[30:], np.arange(10) % 4))
    with pytest.raises(ValueError, match="All training labels are 0"):
        NASModel(num_classes=4).fit(x, np.zeros(40, "int64"), epochs=1, verbose=0)


def test_bad_anomaly_data_is_named(tmp_path):
    x_train, (x_val, labels) = faulty_mnist1d(num_samples=300)
    with pytest.raises(ValueError, match="normal data only: call fit\\(x\\) without `y`"):
        prepare_data(x_train, np.zeros(len(x_train)), validation_data=(x_val, labels), task="anomaly")
    with pytest.raises(ValueError, match="labels are all normal \\(0\\): AUC needs"):
        prepare_data(x_train, validation_data=(x_val, np.zeros(len(x_val), "int64")), task="anomaly")
    with pytest.raises(ValueError, match="labels are all anomalies \\(1\\)"):
        prepare_data(x_train, validation_data=(x_val, np.ones(len(x_val), "int64")), task="anomaly")
    with pytest.raises(ValueError, match="0 \\(normal\\) or 1 \\(anomaly\\).*\\[2\\]"):
        prepare_data(x_train, validation_data=(x_val, labels * 2), task="anomaly")
    with pytest.raises(ValueError, match="x_val` has .* samples but the labels have 5"):
        prepare_data(x_train, validation_data=(x_val, labels[:5]), task="anomaly")
    # Asking for AUC without labelled anomalies fails at fit, naming the fix.
    model = NASModel(task="anomaly", objective="val_auc", max_trials=1, directory=str(tmp_path))
    with pytest.raises(ValueError, match="objective='val_auc' needs validation data with anomalies"):
        model.fit(x_train, validation_data=x_val, epochs=1, verbose=0)


def test_a_space_that_cannot_give_the_tasks_output_is_refused(tmp_path):
    x_train, (x_val, labels) = faulty_mnist1d(num_samples=300)
    model = NASModel(task="anomaly", space="mlp", max_trials=1, directory=str(tmp_path))
    with pytest.raises(ValueError, match="needs outputs of shape \\(40, 1\\).*space='autoencoder'"):
        model.fit(x_train, validation_data=(x_val, labels), epochs=1, verbose=0)
    with pytest.raises(ValueError, match="strategy='oneshot' trains a classifier supernet"):
        NASModel(task="regression", strategy="oneshot")
    with pytest.raises(ValueError, match="zero-cost proxies score classifiers"):
        NASModel(task="anomaly", proxy="naswot")
    with pytest.raises(ValueError, match="Unknown task 'segmentation'"):
        NASModel(task="segmentation")


# -- directions ------------------------------------------------------------------------------------------


def test_objective_direction_decides_the_pareto_front():
    rows = [
        {"trial_id": "a", "val_mae": 40.0, "flash_kb": 20.0},
        {"trial_id": "b", "val_mae": 45.0, "flash_kb": 10.0},
        {"trial_id": "c", "val_mae": 50.0, "flash_kb": 15.0},  # worse MAE and bigger than b
    ]
    direction = tasks.direction_of("val_mae")
    assert direction == "min" and tasks.direction_of("int8_val_auc") == "max"
    front = pareto.pareto_front(rows, [("val_mae", direction), ("flash_kb", "min")])
    assert [r["trial_id"] for r in front] == ["a", "b"]
    # Read as "max", the worst MAE would wrongly be on the front.
    wrong = pareto.pareto_front(rows, [("val_mae", "max"), ("flash_kb", "min")])
    assert "c" in [r["trial_id"] for r in wrong]
    assert [r["trial_id"] for r in pareto.best_first(front, ("val_mae", "min"))] == ["a", "b"]


def test_the_pareto_strategy_searches_on_the_objective_in_its_direction():
    from keras_nas.strategies import ParetoEvolution

    oracle = ParetoEvolution(objective=keras_tuner.Objective("val_mae", "min"), max_trials=4, seed=0)
    assert oracle.objectives[0] == ("val_mae", "min")
    int8 = ParetoEvolution(objective=keras_tuner.Objective("int8_val_accuracy", "max"), max_trials=4, seed=0)
    assert int8.objectives == list(pareto.DEFAULT_OBJECTIVES)  # classification as before


def test_roc_auc_counts_ties_as_half():
    assert tasks.roc_auc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1])) == 0.75
    assert tasks.roc_auc(np.array([1.0, 1.0]), np.array([0, 1])) == 0.5


def test_classification_is_unchanged_by_the_tasks():
    task = tasks.get("classification")
    assert task.default_objective == "val_accuracy" and task.direction("int8_val_accuracy") == "max"
    outputs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    assert task.score("val_accuracy", outputs, None, np.array([0, 1, 1])) == pytest.approx(2 / 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = NASModel()
    assert model.task == "classification" and model.objective == "val_accuracy"


def test_cli_searches_and_exports_a_regression(tmp_path):
    from keras_nas.cli import main

    (x, y), (x_val, y_val) = diabetes()
    np.savez(tmp_path / "diabetes.npz", x=x, y=y, x_val=x_val, y_val=y_val)
    config = {"data": {"npz": "diabetes.npz", "x": "x", "y": "y", "x_val": "x_val", "y_val": "y_val"},
              "task": "regression", "constraints": LIMITS,
              "strategy": "random", "max_trials": 1, "epochs": 3, "seed": 1, "latency_runs": 3,
              "directory": str(tmp_path / "runs"), "project_name": "cli",
              "export": {"dir": str(tmp_path / "out"), "formats": ["tflite-int8"]}}
    (tmp_path / "search.json").write_text(json.dumps(config))
    assert main(["search", "--config", str(tmp_path / "search.json"), "--quiet"]) == 0
    searched = json.loads((tmp_path / "out" / "report.json").read_text())
    assert searched["metric"] == "mae" and searched["task"] == "regression"
    # `keras-nas export` reads the task from the search folder and scores MAE on the recorded data.
    assert main(["export", str(tmp_path / "runs" / "cli"), "--out", str(tmp_path / "again"),
                 "--formats", "tflite-int8", "c-array", "--quiet"]) == 0
    again = json.loads((tmp_path / "again" / "report.json").read_text())
    assert again["metric"] == "mae"
    int8 = tflite.predict(tmp_path / "again" / "model_int8.tflite", x_val)
    assert again["scores"]["tflite-int8"] == pytest.approx(float(np.mean(np.abs(int8[:, 0] - y_val))))
    assert "regression value(s)" in (tmp_path / "again" / "model_data.h").read_text()


def test_cli_searches_and_exports_an_anomaly_detector(tmp_path):
    from keras_nas.cli import main
    from keras_nas.commands import ConfigError, check_data

    x_train, (x_val, labels) = faulty_mnist1d(num_samples=600)
    np.save(tmp_path / "x.npy", x_train)
    np.save(tmp_path / "x_val.npy", x_val)
    np.save(tmp_path / "y_val.npy", labels)
    config = {"data": {"npy_x": "x.npy", "npy_x_val": "x_val.npy", "npy_y_val": "y_val.npy"},
              "task": "anomaly", "constraints": LIMITS,
              "strategy": "random", "max_trials": 1, "epochs": 2, "seed": 1, "latency_runs": 3,
              "directory": str(tmp_path / "runs"), "project_name": "cli",
              "export": {"dir": str(tmp_path / "out"), "formats": ["tflite-int8", "c-array"]}}
    (tmp_path / "search.json").write_text(json.dumps(config))
    assert main(["search", "--config", str(tmp_path / "search.json"), "--quiet"]) == 0
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["task"] == "anomaly" and report["metric"] == "auc"
    assert 0.0 <= report["scores"]["tflite-int8"] <= 1.0
    assert "reconstruction" in (tmp_path / "out" / "model_data.h").read_text()
    # Labels are for validation only: an anomaly config with `y` (or built-in labelled data) is refused.
    with pytest.raises(ConfigError, match="normal inputs only"):
        check_data({"npy_x": "x.npy", "npy_y": "y.npy"}, task="anomaly")
    with pytest.raises(ConfigError, match="normal inputs only"):
        check_data({"builtin": "digits"}, task="anomaly")


def test_injected_faults_corrupt_exactly_the_labelled_signals():
    (_, _), (x_val, _), _ = load_mnist1d(num_samples=600)
    faulty, labels = inject_faults(x_val, fraction=0.3, seed=4)
    changed = np.any(faulty != x_val, axis=(1, 2))
    np.testing.assert_array_equal(changed, labels == 1)
    assert 0.2 < labels.mean() < 0.4
    again, same = inject_faults(x_val, fraction=0.3, seed=4)
    np.testing.assert_array_equal(again, faulty)
