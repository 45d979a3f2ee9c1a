"""`NASModel.fit` checks its keywords as `keras.Model.fit` would: a TypeError at the call, naming the keyword."""

import numpy as np
import pytest

from keras_nas import NASModel
from keras_nas.checks import check_fit_keywords


def test_an_unknown_fit_keyword_fails_at_the_call_before_any_search(tmp_path):
    nas = NASModel(max_trials=1, directory=str(tmp_path), project_name="p")
    x, y = np.zeros((20, 8, 8, 1), "float32"), np.arange(20) % 2
    with pytest.raises(TypeError, match=r"fit\(\) got an unexpected keyword argument 'overwrite'.*NASModel\("):
        nas.fit(x, y, epochs=1, overwrite=False)
    with pytest.raises(TypeError, match="'epoch'"):
        nas.fit(x, y, epoch=1)
    assert not (tmp_path / "p").exists()  # nothing was searched


def test_keras_fit_keywords_pass():
    check_fit_keywords({"shuffle": False, "class_weight": {0: 1.0}, "initial_epoch": 0}, NASModel)
