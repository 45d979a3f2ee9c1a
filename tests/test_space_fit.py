"""Fitting the space to the board before the search (keras_nas.space_fit, MCUNet's TinyNAS)."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import keras_tuner  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from keras_nas import NASModel, report  # noqa: E402
from keras_nas import spoken_words as sw  # noqa: E402
from keras_nas.blocks import ConvSpace, KWSSpace, MobileSpace  # noqa: E402
from keras_nas.cost_predictor import graph_features  # noqa: E402
from keras_nas.datasets import load_digits  # noqa: E402
from keras_nas.front_end_space import FrontEndSpace  # noqa: E402
from keras_nas.space_fit import MAX_SAMPLES, SAMPLES_PER_SUBSPACE, fit_space, samples_per_subspace, subspaces  # noqa: E402


def _space(block, shape):
    hp = keras_tuner.HyperParameters()
    block.build(hp, keras.Input(shape))
    return hp.space


def test_subspaces_are_resolution_knobs_times_width_bands():
    kws = subspaces(_space(KWSSpace(), (49, 40, 1)))
    assert len(kws) == 2 * 2 * 3  # time stride x frequency stride x width band
    assert {tuple(sorted(s)) for s in kws} == {
        ("kws_space/freq_strides", "kws_space/stem_strides", "kws_space/width")}
    assert sorted(v for s in kws for v in s["kws_space/width"]) == sorted(4 * [16, 24, 32, 40, 48, 64, 96, 128])
    mobile = subspaces(_space(MobileSpace(), (32, 32, 3)))
    assert len(mobile) == 3 * 3 and {tuple(s["mobile_space/resolution"]) for s in mobile} == {(24,), (32,), (40,)}
    # A width per stage stays free: only the stem's stride splits the space.
    assert subspaces(_space(ConvSpace(), (8, 8, 1))) == [
        {"conv_space/stem/strides": [1]}, {"conv_space/stem/strides": [2]}]


class _CountingFilter:
    """Stands in for `FeasibilityFilter`: a point's MACs are its width times its input's resolution."""

    limits = {"peak_ram_kb": 1.0}

    def __init__(self):
        self.built = 0

    def features(self, values):
        self.built += 1
        resolution = values["front_end/bands"] / values["kws_space/freq_strides"] / values["front_end/hop_ms"]
        return {"macs": values["kws_space/width"] * resolution}

    def ratio(self, features):
        return features["macs"] / 40.0


def test_a_space_with_many_subspaces_is_sampled_fewer_times_in_each():
    # An audio front-end's hop x bands times the network's strides x width bands: 96 sub-spaces, whose
    # 16 samples each took 148 s (12 % of a search) on spoken words; the fit builds at most MAX_SAMPLES.
    hp = keras_tuner.HyperParameters()
    features = FrontEndSpace().build(hp, keras.Input((16000, 1)))
    KWSSpace().build(hp, features)
    options = subspaces(hp.space)
    assert len(options) == 2 * 4 * 2 * 2 * 3
    space_filter = _CountingFilter()

    def draw(rng, allowed):
        return {name: rng.choice(values) for name, values in allowed.items()}

    fitted = fit_space(hp.space, space_filter, draw, np.random.default_rng(0))
    assert space_filter.built <= MAX_SAMPLES and {s.samples for s in fitted.subspaces} == {MAX_SAMPLES // 96}
    # Still the sub-space with the most MACs among those where two of four samples or more fit.
    eligible = [s for s in fitted.subspaces if round(s.feasible_share * s.samples) >= 2]
    assert fitted.best in eligible and fitted.best.median_macs == max(s.median_macs for s in eligible)
    # A space of 12 sub-spaces (KWS on log-mel) keeps 16 samples in each.
    assert samples_per_subspace(len(subspaces(_space(KWSSpace(), (49, 40, 1))))) == SAMPLES_PER_SUBSPACE


def test_macs_are_counted_on_the_keras_graph():
    inputs = keras.Input((8, 8, 1))
    h = keras.layers.Conv2D(4, 3, padding="same")(inputs)  # 64 positions x 3x3x1x4
    h = keras.layers.DepthwiseConv2D(3, strides=2, padding="same")(h)  # 16 positions x 3x3x4
    outputs = keras.layers.Dense(10)(keras.layers.Flatten()(h))  # 64 x 10
    assert graph_features(keras.Model(inputs, outputs))["macs"] == 64 * 36 + 16 * 36 + 640


@pytest.mark.skipif(sw.espeak_problem() is not None, reason=str(sw.espeak_problem()))
def test_a_tight_arena_on_log_mel_speech_fits_a_strided_subspace(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("KERAS_NAS_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(sw, "speaker_split", lambda seed: (["en-us+m1", "en-gb+f1"], ["en-029+m3"], ["en-gb-x-rp+f4"]))
    (x, y), (x_val, y_val), _ = sw.load_spoken_words("log-mel", repetitions=1)
    assert x.shape[1:] == (49, 40, 1)
    nas = NASModel(space="kws", constraints={"flash_kb": 60, "peak_ram_kb": 30}, max_trials=2, search_epochs=1,
                   finalists=1, seed=0, directory=str(tmp_path), project_name="kws")
    nas.fit(x, y, validation_data=(x_val, y_val), epochs=1, verbose=1)
    fit = nas.search_summary()["space_fit"]
    assert f"most proposals drawn in {fit['chosen']} (" in capsys.readouterr().out
    # Every resolution x width band was sampled; full resolution does not fit 30 KB of arena.
    assert len(fit["table"]) == 12 and fit["calibrated"] >= 2
    full = [row for row in fit["table"] if row["subspace"].startswith("stem_strides=1 freq_strides=1")]
    assert all(row["feasible_share"] < 0.2 for row in full)
    chosen = [row for row in fit["table"] if row["chosen"]]
    assert len(chosen) == 1 and chosen[0]["subspace"] == fit["chosen"] and chosen[0]["feasible_share"] > 0
    assert "strides=2" in fit["chosen"] and chosen[0]["median_macs"] > 0
    assert 0 < fit["seconds"] and 0 < fit["share"] < 1
    # Most random proposals are drawn inside the chosen sub-space, the rest anywhere.
    oracle = nas.tuner.oracle
    allowed = oracle.space_fit.best.allowed
    rng = np.random.default_rng(0)
    inside = [all(v[k] in allowed[k] for k in allowed) for v in (oracle.random_values(rng) for _ in range(60))]
    assert 0.65 <= np.mean(inside) < 1.0
    # The report reads it from the search folder alone.
    text = report.format_markdown(report.build_report(report.load_search(nas.tuner.project_dir)))
    assert "## Space fitted to the limits" in text and f"{fit['chosen']} (chosen)" in text


def test_space_fit_false_samples_the_whole_space(tmp_path):
    (x, y), (x_val, y_val), _ = load_digits()
    nas = NASModel(constraints={"flash_kb": 8.5, "peak_ram_kb": 3.2}, max_trials=1, search_epochs=1, finalists=1,
                   seed=0, directory=str(tmp_path), project_name="d", space_fit=False)
    nas.fit(x[:200], y[:200], validation_data=(x_val[:100], y_val[:100]), epochs=1, verbose=0)
    assert "space_fit" not in nas.search_summary() and nas.tuner.oracle.space_fit is None
    with pytest.raises(TypeError, match="space_fit"):
        NASModel(space_fit="yes")
