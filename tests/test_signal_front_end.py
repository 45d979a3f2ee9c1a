"""The audio front-end written with TFLite Micro's signal ops, run by TFLite Micro on this host
(keras_nas.tflite.signal_front_end)."""

import numpy as np
import pytest

from keras_nas import spoken_words as sw
from keras_nas.tflite import signal_front_end as sfe
from keras_nas.tflite.ops import model_ops


def mel(hz):
    return 1127.0 * np.log1p(hz / 700.0)


def test_a_tone_lands_in_its_mel_band_and_ten_times_quieter_is_ln_10_lower():
    front_end = sfe.FrontEnd(window_ms=30, hop_ms=20, bands=40, lower_hz=125, upper_hz=7500)
    t = np.arange(16000) / 16000
    frequencies = (300, 1000, 3000, 6000)
    tones = np.stack([0.3 * np.sin(2 * np.pi * f * t) for f in frequencies] + [0.03 * np.sin(2 * np.pi * 1000 * t)])
    features = sfe.features(tones, front_end)
    assert features.shape == (5, 49, 40) and features.dtype == np.int16
    # Band k's triangle peaks at the (k + 1)-th of 41 equal mel steps above lower_hz.
    step = (mel(7500) - mel(125)) / 41
    for tone, hz in zip(features, frequencies):
        assert abs(tone[10].argmax() - ((mel(hz) - mel(125)) / step - 1)) <= 1, hz
    # 2**LOG_BITS x ln(amplitude): a tenth of the amplitude is 64 x ln 10 = 147 lower.
    assert features[1, 10].max() - features[4, 10].max() == pytest.approx(64 * np.log(10), abs=4)


def test_features_follow_the_float_log_mel_of_the_same_filter_bank():
    # Chirps and noise at random levels; the float reference is the spoken-words data set's
    # log-mel (40 ms Hann window, 20 ms hop, 40 bands over 20-4000 Hz: ln of the power).
    rng = np.random.default_rng(0)
    t = np.arange(16000) / 16000
    clips = [rng.uniform(0.01, 0.5) * np.sin(2 * np.pi * (rng.uniform(100, 3000) + rng.uniform(-900, 900) * t) * t)
             + rng.uniform(0.001, 0.05) * rng.standard_normal(16000) for _ in range(12)]
    clips = np.clip(np.stack(clips), -1, 1).astype(np.float32)
    front_end = sfe.FrontEnd(window_ms=40, hop_ms=20, bands=40, lower_hz=20, upper_hz=4000)
    board = sfe.features(clips[..., None], front_end).astype(float)
    reference = sw.log_mel(clips)[:, : board.shape[1]]
    assert board.shape == reference.shape == (12, 49, 40)
    loud = reference > np.percentile(reference, 20)  # the integer log floors the quietest bands
    slope, _ = np.polyfit(reference[loud], board[loud], 1)
    # ln of amplitude = ln(power) / 2, in units of 1/64.
    assert slope == pytest.approx(64 / 2, rel=0.05)
    assert np.corrcoef(reference[loud], board[loud])[0, 1] > 0.99


def test_the_front_end_file_and_its_cost_on_tflite_micro():
    front_end = sfe.FrontEnd(window_ms=32, hop_ms=16, bands=10)
    model = sfe.front_end_model(front_end)
    windows = sfe.frames(np.zeros((2, 16000), np.float32), front_end)
    assert windows.shape == (2, 61, 512) and windows.dtype == np.int16
    outputs, arena = sfe.run_raw(model, windows[0, :3])
    assert outputs.shape == (3, 10) and (outputs == 0).all()  # silence: the log's floor
    assert 1000 < arena < 16 * 1024 and len(model) < 8 * 1024


def test_pcan_evens_out_loudness_and_each_clip_starts_its_noise_estimate_afresh():
    # A 1-kHz tone from half a second on, over faint noise; the same clip ten times quieter.
    t = np.arange(16000) / 16000
    clip = 0.3 * np.sin(2 * np.pi * 1000 * t) * (t > 0.5) + 0.01 * np.random.default_rng(0).standard_normal(16000)
    clips = np.stack([clip, clip / 10]).astype(np.float32)
    log_only = sfe.features(clips, sfe.FrontEnd(window_ms=30, hop_ms=20, bands=40)).astype(int)
    front_end = sfe.FrontEnd(window_ms=30, hop_ms=20, bands=40, pcan=True)
    pcan = sfe.features(clips, front_end).astype(int)
    band = log_only[0, 40].argmax()
    # The log alone: a tenth of the amplitude is 64 x ln 10 = 147 lower; with PCAN's gain control
    # (and noise reduction) the tone's band barely moves.
    assert log_only[0, 40, band] - log_only[1, 40, band] == pytest.approx(147, abs=6)
    assert abs(pcan[0, 40, band] - pcan[1, 40, band]) < 147 / 4
    # The noise estimate is the kernels' state: reset at each clip's first frame, so a clip's
    # features do not depend on the clips before it.
    np.testing.assert_array_equal(pcan[1], sfe.features(clips[1:], front_end)[0])
    assert {"SignalFilterBankSpectralSubtraction", "SignalPCAN"} <= set(model_ops(sfe.front_end_model(front_end)))
    # Its state and tables cost arena and flash beside the log-only front-end's.
    with_pcan, without = sfe.front_end_cost(front_end), sfe.front_end_cost(sfe.FrontEnd(window_ms=30, bands=40))
    assert with_pcan["front_end_arena_bytes"] > without["front_end_arena_bytes"]
    assert with_pcan["front_end_flash_bytes"] > without["front_end_flash_bytes"]
    with pytest.raises(ValueError, match="pcan must be True or False"):
        sfe.FrontEnd(pcan="yes")


def test_bad_parameters_and_audio_say_what_is_wrong():
    with pytest.raises(ValueError, match="hop_ms must be in 1..window_ms"):
        sfe.FrontEnd(window_ms=20, hop_ms=30)
    with pytest.raises(ValueError, match=r"upper_hz < sample_rate / 2 \(4000 Hz\)"):
        sfe.FrontEnd(sample_rate=8000, upper_hz=7500)
    with pytest.raises(ValueError, match="bands must be an integer in 2..128"):
        sfe.FrontEnd(bands=0)
    with pytest.raises(ValueError, match="shorter than one window"):
        sfe.frames(np.zeros((1, 100)), sfe.FrontEnd())
    with pytest.raises(ValueError, match=r"shape \(n, samples\)"):
        sfe.frames(np.zeros(16000), sfe.FrontEnd())


def test_a_keras_model_on_raw_audio_trains_on_the_boards_features_and_saves(tmp_path):
    import keras

    from keras_nas.tflite.front_end_layer import FrontEndLayer

    # Low tones against high tones, at random levels and phases.
    rng = np.random.default_rng(1)
    t = np.arange(8000) / 16000
    y = np.arange(32) % 2
    x = np.stack([rng.uniform(0.05, 0.5) * np.sin(2 * np.pi * (rng.uniform(200, 400) if label == 0
                                                              else rng.uniform(2000, 3000)) * t + rng.uniform(0, 6))
                  for label in y]).astype(np.float32)[..., None]
    front_end = sfe.FrontEnd(window_ms=32, hop_ms=16, bands=16)
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8000, 1))
    features = FrontEndLayer(front_end, name="front_end")(inputs)
    assert tuple(features.shape) == (None, 30, 16, 1)
    # Which bands are loud tells the classes: averaged over time, kept per band.
    outputs = keras.layers.Dense(2, activation="softmax")(keras.layers.Flatten()(
        keras.layers.AveragePooling2D((30, 1))(features)))
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"], jit_compile=False)
    model.fit(x, y, epochs=15, batch_size=8, verbose=0)
    assert model.evaluate(x, y, verbose=0)[1] >= 0.9  # chance: 0.5
    # The layer's output is TFLite Micro's int16 features in natural-log units.
    board = keras.Model(inputs, features).predict(x[:3], verbose=0)
    assert np.array_equal(board[..., 0] * 2**sfe.LOG_BITS, sfe.features(x[:3], front_end))
    model.save(tmp_path / "m.keras")
    again = keras.saving.load_model(tmp_path / "m.keras")
    assert again.get_layer("front_end").front_end == front_end
    assert np.allclose(again.predict(x, verbose=0), model.predict(x, verbose=0))


def test_a_model_on_raw_audio_is_measured_as_its_front_end_and_its_int8_network():
    import keras

    from keras_nas import tflite
    from keras_nas.tflite.front_end_layer import FrontEndLayer, board_features, split_front_end

    front_end = sfe.FrontEnd(window_ms=32, hop_ms=16, bands=16)
    inputs = keras.Input((8000, 1))
    x = keras.layers.Conv2D(4, 3, activation="relu")(FrontEndLayer(front_end)(inputs))
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(keras.layers.Flatten()(x)))
    audio = np.random.default_rng(0).uniform(-0.3, 0.3, (8, 8000, 1)).astype(np.float32)
    measurer = tflite.Measurer("host", representative_data=audio, latency_runs=2)
    network_file = measurer.to_int8(model)
    _, network = split_front_end(model)
    assert network.input_shape == (None, 30, 16, 1)
    # The int8 file is the network alone, calibrated on the board's features.
    assert tflite.predict(network_file, board_features(audio, front_end)).shape == (8, 2)
    record = measurer.measure_untrained(model, seed=0)
    alone = tflite.Measurer("host", representative_data=board_features(audio, front_end),
                            latency_runs=2).measure_untrained(network, seed=0)
    added = sfe.front_end_cost(front_end)
    assert added["front_end_flash_bytes"] == len(sfe.front_end_model(front_end))
    # (the metadata of the whole model and of its network differ by a few bytes)
    assert record.flash_bytes - added["front_end_flash_bytes"] == pytest.approx(alone.flash_bytes, abs=64)
    assert record.peak_ram_bytes == alone.peak_ram_bytes + added["front_end_arena_bytes"] > alone.peak_ram_bytes
    assert record.to_dict()["front_end_arena_bytes"] == added["front_end_arena_bytes"]
    # Setting the model's flash (to the exported file's) keeps the front-end's.
    assert record.with_model_flash(1000, "exported-file").flash_bytes == 1000 + added["front_end_flash_bytes"]


def test_the_shipped_pipeline_agrees_with_tflite_micro_and_with_the_keras_model():
    import keras

    from keras_nas import tflite
    from keras_nas.tflite import pipeline
    from keras_nas.tflite.front_end_layer import FrontEndLayer

    front_end = sfe.FrontEnd(window_ms=32, hop_ms=16, bands=16)
    inputs = keras.Input((8000, 1))
    x = keras.layers.AveragePooling2D((30, 1))(FrontEndLayer(front_end)(inputs))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(keras.layers.Flatten()(x)))
    rng = np.random.default_rng(2)
    t = np.arange(8000) / 16000
    audio = np.stack([rng.uniform(0.02, 0.5) * np.sin(2 * np.pi * rng.uniform(150, 5000) * t)
                      + 0.01 * rng.standard_normal(8000) for _ in range(24)]).astype(np.float32)
    network = tflite.Measurer("host", representative_data=audio).to_int8(model)
    on_litert = pipeline.predict(front_end, network, audio)
    on_micro = pipeline.predict(front_end, network, audio[:6], runtime="micro")
    assert on_litert.shape == (24, 3)
    assert np.abs(on_micro - on_litert[:6]).max() <= 1 / 256 + 1e-6  # one int8 step at most
    in_keras = model.predict(audio, verbose=0)  # on the same features, in float
    assert (on_litert.argmax(-1) == in_keras.argmax(-1)).mean() >= 0.9 and np.abs(on_litert - in_keras).max() < 0.06
