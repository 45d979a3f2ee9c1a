"""The spoken-words data set synthesized offline with espeak-ng (keras_nas.spoken_words)."""

import numpy as np
import pytest

from keras_nas import spoken_words as sw

needs_espeak = pytest.mark.skipif(sw.espeak_problem() is not None, reason=str(sw.espeak_problem()))


def test_speakers_are_split_disjointly():
    train, val, test = sw.speaker_split(0)
    assert (len(train), len(val), len(test)) == (100, 20, 20)
    assert not (set(train) & set(val) or set(train) & set(test) or set(val) & set(test))
    assert sorted(train + val + test) == sorted(sw.speakers())
    assert sw.speaker_split(0) == (train, val, test) and sw.speaker_split(1)[2] != test


@needs_espeak
def test_a_word_becomes_a_one_second_clip_and_its_features():
    speech = sw.synthesize("left", "en-gb+f2", 150, 50)
    assert 0.2 * sw.SAMPLE_RATE < len(speech) < sw.SAMPLE_RATE and np.abs(speech).max() > 0.05
    rng = np.random.default_rng(0)
    word, silence = sw.clip(speech, rng), sw.clip(None, rng)
    assert word.shape == silence.shape == (sw.SAMPLE_RATE,) and np.abs(word).max() <= 1.0
    assert np.mean(word**2) > 10 * np.mean(silence**2)
    features = sw.log_mel(np.stack([word, silence]))
    assert features.shape == (2, 49, 40) and sw.mfcc(word[None]).shape == (1, 49, 10)
    # The word is louder than the noise where it is spoken.
    assert features[0].max() > features[1].max()


@needs_espeak
def test_load_spoken_words_splits_caches_and_reads_back(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_NAS_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(sw, "speaker_split", lambda seed: (["en-us+m1", "en-gb+f1"], ["en-029+m3"], ["en-gb-x-rp+f4"]))
    (x, y), (x_val, y_val), (x_test, y_test) = sw.load_spoken_words("mfcc", repetitions=1)
    assert x.shape == (2 * 13, 49, 10, 1) and x_val.shape == x_test.shape == (13, 49, 10, 1)
    assert sorted(set(y.tolist())) == list(range(len(sw.LABELS))) and sw.LABELS[-2:] == ("unknown", "silence")
    cached = list((tmp_path / "datasets").iterdir())
    assert [p.suffix for p in cached] == [".npz"]  # written whole, no temporary file left
    again = sw.load_spoken_words("mfcc", repetitions=1)
    assert np.array_equal(again[0][0], x) and np.array_equal(again[2][1], y_test)
    with pytest.raises(ValueError, match="Unknown features 'spectrogram'"):
        sw.load_spoken_words("spectrogram")
    with pytest.raises(ValueError, match="positive integer"):
        sw.load_spoken_words(repetitions=0)


def test_without_espeak_the_error_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_NAS_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(sw.shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="apt-get install espeak-ng"):
        sw.load_spoken_words()
