"""The meter-digits image data set rendered offline from matplotlib's fonts (keras_nas.meter_digits)."""

import os

import numpy as np
import pytest

from keras_nas import meter_digits as md
from keras_nas.datasets import DATASETS


def test_fonts_are_split_disjointly_and_each_draws_ten_different_digits():
    parts = [set(md.FONT_SPLIT[p]) for p in ("train", "validation", "test")]
    assert [len(p) for p in parts] == [13, 3, 5]
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    for name in set().union(*parts):
        path = os.path.join(md.font_folder(), name)
        # The same random draw (size, place, light, noise) for every digit: only the glyphs differ,
        # so two images are equal exactly when two glyphs are (a font without the digits draws the
        # same empty box ten times).
        images = [md.render(path, digit, np.random.default_rng(7)) for digit in range(10)]
        assert all(image.shape == (md.SIZE, md.SIZE) and image.std() > 0.02 for image in images), name
        distances = [np.abs(a - b).mean() for i, a in enumerate(images) for b in images[i + 1:]]
        assert min(distances) > 1e-3, name


def test_load_meter_digits_gives_labelled_images_from_the_seed():
    (x, y), (x_val, y_val), (x_test, y_test) = DATASETS["meter_digits"](images_per_digit=2)
    assert x.shape == (13 * 10 * 2, 32, 32, 1) and x_val.shape == (3 * 20, 32, 32, 1)
    assert x_test.shape == (5 * 20, 32, 32, 1) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0
    assert np.bincount(y).tolist() == [26] * 10 and np.bincount(y_test).tolist() == [10] * 10
    again = md.load_meter_digits(images_per_digit=2)
    assert np.array_equal(again[0][0], x) and np.array_equal(again[2][1], y_test)
    assert not np.array_equal(md.load_meter_digits(images_per_digit=2, seed=1)[0][0], x)
    with pytest.raises(ValueError, match="images_per_digit must be a positive integer, got 0"):
        md.load_meter_digits(images_per_digit=0)
