"""A search on raw audio: the front-end's window, hop and bands searched with the network, the whole
pipeline's cost measured (keras_nas.front_end_space, issue 28)."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import keras_tuner  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from keras_nas import NASModel  # noqa: E402
from keras_nas import spoken_words as sw  # noqa: E402
from keras_nas.blocks import KWSSpace  # noqa: E402
from keras_nas.cost_predictor import CostPredictor, graph_features  # noqa: E402
from keras_nas import tflite  # noqa: E402
from keras_nas.front_end_space import FrontEndSpace, dct_matrix  # noqa: E402
from keras_nas.hypermodel import NASHyperModel  # noqa: E402
from keras_nas.tflite.front_end_layer import FrontEndLayer, network_inputs, split_front_end  # noqa: E402
from keras_nas.tflite import pipeline as tflite_pipeline  # noqa: E402
from keras_nas.tflite.ops import model_ops  # noqa: E402
from keras_nas.tflite.signal_front_end import FrontEnd, front_end_cost, front_end_model  # noqa: E402


def test_the_front_end_space_declares_its_choices_and_starts_where_an_expert_would():
    hp = keras_tuner.HyperParameters()
    features = FrontEndSpace().build(hp, keras.Input((16000, 1)))
    assert hp.values == {"front_end/window_ms": 30, "front_end/hop_ms": 20, "front_end/bands": 40,
                         "front_end/pcan": 0, "front_end/mfcc": 0}
    assert tuple(features.shape) == (None, 49, 40, 1)
    choices = {p.name: list(p.values) for p in hp.space}
    assert choices == {"front_end/window_ms": [20, 30, 40], "front_end/hop_ms": [10, 20],
                       "front_end/bands": [10, 20, 32, 40], "front_end/pcan": [0, 1],
                       "front_end/mfcc": [0, 10]}
    hp.values["front_end/hop_ms"], hp.values["front_end/bands"] = 10, 20
    assert tuple(FrontEndSpace().build(hp, keras.Input((16000,))).shape) == (None, 98, 20, 1)  # 1 + (16000 - 480) // 160
    fixed = FrontEndSpace.fixed(FrontEnd(window_ms=40, hop_ms=20, bands=10))
    hp = keras_tuner.HyperParameters()
    fixed.build(hp, keras.Input((16000, 1)))
    assert hp.values == {"front_end/window_ms": 40, "front_end/hop_ms": 20, "front_end/bands": 10,
                         "front_end/pcan": 0, "front_end/mfcc": 0}
    hp = keras_tuner.HyperParameters()
    inputs = keras.Input((16000, 1))
    with_pcan = keras.Model(inputs, FrontEndSpace.fixed(FrontEnd(pcan=True)).build(hp, inputs))
    assert hp.values["front_end/pcan"] == 1 and with_pcan.layers[1].front_end.pcan is True


def test_bad_front_end_choices_and_inputs_say_what_is_wrong():
    with pytest.raises(ValueError, match=r"window 20 ms, hop 30 ms, 40 bands is not a valid front-end.*hop_ms"):
        FrontEndSpace(window_ms=(20, 40), hop_ms=30, bands=40)
    with pytest.raises(ValueError, match="bands must be one or more whole numbers"):
        FrontEndSpace(bands=(10, 20.5))
    with pytest.raises(ValueError, match="lists a value twice"):
        FrontEndSpace(hop_ms=(10, 10))
    with pytest.raises(ValueError, match=r"pcan must be True, False or \(False, True\)"):
        FrontEndSpace(pcan=(0, 1))
    with pytest.raises(ValueError, match=r"mfcc counts the MFCCs kept \(0: log-mel\)"):
        FrontEndSpace(mfcc=(-1, 10))
    with pytest.raises(ValueError, match=r"must be a keras_nas.front_end_space.FrontEndSpace .* got dict"):
        NASModel(front_end={"window_ms": 30})
    with pytest.raises(ValueError, match="an anomaly model reconstructs its input"):
        NASModel(task="anomaly", front_end=FrontEndSpace())
    with pytest.raises(ValueError, match=r"takes raw audio clips.*got samples of shape \(49, 40, 1\)"):
        FrontEndSpace().check_audio((49, 40, 1))
    with pytest.raises(ValueError, match="shorter than the 40-ms window"):
        FrontEndSpace().check_audio((400,))
    FrontEndSpace().check_audio((16000, 1))


def test_an_mfcc_candidate_is_the_dct_of_the_board_features_as_its_first_int8_layer():
    from scipy.fft import dct

    hp = keras_tuner.HyperParameters()
    hp.values.update({"front_end/bands": 40, "front_end/mfcc": 10})
    inputs = keras.Input((16000, 1))
    features = FrontEndSpace().build(hp, inputs)
    assert tuple(features.shape) == (None, 49, 10, 1)
    keras.utils.set_random_seed(0)
    outputs = keras.layers.Dense(3)(keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(features)))
    model = keras.Model(inputs, outputs)
    # The network takes the board's log-mel bands; its first layers are their DCT-II, not trained.
    clips = 0.3 * np.sin(np.linspace(0, 4000, 16000))[None, :, None] * np.random.default_rng(0).uniform(
        0.2, 1.0, (12, 1, 1))
    log_mel = network_inputs(model, clips.astype(np.float32))
    assert log_mel.shape == (12, 49, 40, 1)
    _, network = split_front_end(model)
    coefficients = keras.Model(model.get_layer("front_end").output,
                               model.get_layer("front_end_mfcc_coefficients").output)
    np.testing.assert_allclose(coefficients.predict(log_mel, verbose=0)[..., 0],
                               dct(log_mel[..., 0], type=2, norm="ortho", axis=-1)[..., :10], rtol=1e-4, atol=1e-3)
    assert not model.get_layer("front_end_mfcc").trainable_weights
    clone = keras.models.clone_model(model)  # re-initialized: the kernel is the DCT again
    np.testing.assert_allclose(clone.get_layer("front_end_mfcc").get_weights()[0][0, :, 0], dct_matrix(40, 10))
    # As int8 the DCT is a CONV_2D and a TRANSPOSE on TFLite Micro, which agrees with Keras.
    network_file = tflite.convert(network, "int8", representative_data=log_mel)
    assert set(model_ops(network_file)) == {"CONV_2D", "TRANSPOSE", "MEAN", "FULLY_CONNECTED"}
    expected = network.predict(log_mel, verbose=0)
    on_board = tflite.run_micro(network_file, log_mel)
    assert np.abs(on_board - expected).max() <= 0.05 * np.abs(expected).max()


def test_the_predicted_cost_of_a_pipeline_is_its_network_plus_the_measured_front_end():
    front_end = FrontEnd(window_ms=30, hop_ms=20, bands=20)
    inputs = keras.Input((16000, 1))
    features = FrontEndLayer(front_end)(inputs)
    outputs = keras.layers.Dense(4)(keras.layers.GlobalAveragePooling2D()(
        keras.layers.Conv2D(8, 3, strides=2)(features)))
    network = keras.Model(features, outputs)
    counted, alone = graph_features(keras.Model(inputs, outputs)), graph_features(network)
    fixed = front_end_cost(front_end)
    assert counted == {**alone, **fixed} and fixed["front_end_arena_bytes"] > 0
    predictor = CostPredictor()
    with_front_end, without = predictor.predict(counted), predictor.predict(alone)
    assert with_front_end.flash_kb == pytest.approx(without.flash_kb + fixed["front_end_flash_bytes"] / 1024)
    assert with_front_end.peak_ram_kb == pytest.approx(without.peak_ram_kb + fixed["front_end_arena_bytes"] / 1024)
    # What it learns from a measured pipeline is the network's share.
    predictor.observe(counted, {"flash_kb": 10.0, "peak_ram_kb": 12.0})
    assert predictor.samples[-1][1] == pytest.approx(
        {"flash_kb": 10.0 - fixed["front_end_flash_bytes"] / 1024,
         "peak_ram_kb": 12.0 - fixed["front_end_arena_bytes"] / 1024})


def test_a_candidate_on_raw_audio_is_the_front_end_then_the_space_unnormalized():
    hypermodel = NASHyperModel(input_shape=(16000, 1), num_classes=3, front_end=FrontEndSpace(),
                               mean=np.zeros(1), variance=np.full(1, 1e-4))
    model = hypermodel.build_graph(keras_tuner.HyperParameters())
    assert isinstance(model.layers[1], FrontEndLayer)
    assert not any(isinstance(layer, keras.layers.Normalization) for layer in model.layers)
    assert type(hypermodel.space).__name__ == "KWSSpace" and hypermodel.network_input_shape == (49, 40, 1)
    # The first candidate is the DS-CNN on the expert's front-end.
    design = hypermodel.initial_architectures()[0]
    assert design["kws_space/width"] == 64 and design["kws_space/freq_strides"] == 2
    clips = np.random.default_rng(0).uniform(-0.5, 0.5, (2, 16000, 1)).astype(np.float32)
    assert network_inputs(model, clips).shape == (2, 49, 40, 1)


@pytest.mark.skipif(sw.espeak_problem() is not None, reason=str(sw.espeak_problem()))
def test_a_search_on_raw_speech_measures_and_scores_the_whole_pipeline(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_NAS_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(sw, "speaker_split", lambda seed: (["en-us+m1", "en-gb+f1"], ["en-029+m3"], ["en-gb-x-rp+f4"]))
    (x, y), (x_val, y_val), _ = sw.load_spoken_words("raw", repetitions=1)
    assert x.shape[1:] == (16000, 1)
    # The network's strides fixed, so that the space fit splits on the front-end's resolution only (12 sub-spaces).
    front_end_space = FrontEndSpace(window_ms=(30, 40), hop_ms=(10, 20), bands=(20, 40))
    nas = NASModel(front_end=front_end_space, space=KWSSpace(stem_strides=2, freq_strides=2),
                   constraints={"flash_kb": 64, "peak_ram_kb": 64},
                   objective="int8_val_accuracy", max_trials=2, search_epochs=1, finalists=1, seed=0,
                   directory=str(tmp_path), project_name="raw")
    nas.fit(x, y, validation_data=(x_val, y_val), epochs=1, verbose=0)
    trials = nas.trials()
    trained = [t for t in trials if t["outcome"] == "trained"]
    assert trained and all("front_end/hop_ms" in t["hyperparameters"] for t in trials)
    for t in trained:
        cost = t["cost"]
        assert cost["front_end_flash_bytes"] > 0 and cost["front_end_arena_bytes"] > 0
        assert cost["flash_kb"] <= 64 and cost["peak_ram_kb"] <= 64
        assert 0 <= t["metrics"]["int8_val_accuracy"] <= 1
    # The space fit splits on the front-end's resolution too.
    table = nas.search_summary()["space_fit"]["table"]
    assert len(table) == 2 * 2 * 3 and any("hop_ms=10" in row["subspace"] for row in table)
    # The winner takes raw audio, as it was given.
    assert isinstance(nas.model.layers[1], FrontEndLayer)
    assert nas.predict(x_val[:4], verbose=0).shape == (4, len(sw.LABELS))
    assert nas.search_settings()["front_end"]["hop_ms"] == [10, 20]
    # Exported as it ships: the front-end's file beside the int8 network, C arrays for both.
    out = tmp_path / "out"
    exported = nas.export(str(out), ["tflite-int8", "c-array"], verbose=False)
    assert {p.name for p in out.iterdir()} >= {"front_end.tflite", "front_end_data.cc", "front_end_data.h",
                                                "model_int8.tflite", "model_data.cc", "model_data.h"}
    front_end = FrontEnd(**{k: exported["front_end"][k] for k in ("sample_rate", "window_ms", "hop_ms", "bands",
                                                                  "lower_hz", "upper_hz", "pcan")})
    assert (out / "front_end.tflite").read_bytes() == front_end_model(front_end)
    pipeline = exported["pipeline"]
    assert pipeline["flash_bytes"] == exported["formats"]["tflite-int8"]["size_bytes"] + exported["front_end"]["size_bytes"]
    assert 0 < pipeline["front_end_arena_share"] < 1
    # The report's int8 score is the pipeline's on raw audio: the front-end on TFLite Micro, the network on LiteRT.
    scores = tflite_pipeline.predict(front_end, str(out / "model_int8.tflite"), x_val)
    assert exported["scores"]["tflite-int8"] == pytest.approx(np.mean(scores.argmax(-1) == y_val))
    header = (out / "front_end_data.h").read_text()
    assert f"constexpr int kFrontEndHopSamples = {front_end.hop_samples};" in header and "AddFilterBankLog" in header
    # With PCAN (sampled or not), the header says so and how to reset its state between clips.
    assert (f"kFrontEndPcan = {str(front_end.pcan).lower()};" in header
            and ("AddPCAN" in header) == ("Reset() the front-end's interpreter" in header) == front_end.pcan)
    # Reopened from the folder alone, it is the same pipeline.
    again = NASModel.load(str(tmp_path), "raw")
    assert again.search_settings()["front_end"] == nas.search_settings()["front_end"]
    assert isinstance(again.front_end, FrontEndSpace) and again.front_end.hop_ms == (10, 20)
    assert np.allclose(again.predict(x_val[:4], verbose=0), nas.predict(x_val[:4], verbose=0))
