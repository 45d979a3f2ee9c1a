"""Fixtures shared by the test files (a file's own fixture of the same name takes precedence)."""

import pytest


@pytest.fixture(scope="session")
def digits():
    """`keras_nas.datasets.load_digits()`: the train, validation and test splits of scikit-learn's digits."""
    from keras_nas.datasets import load_digits

    return load_digits()
