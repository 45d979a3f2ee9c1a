"""A search releases what each trial's training traced, so memory stays flat."""

import gc

import keras
import keras_tuner
import numpy as np
from tensorflow.python.framework import func_graph

from keras_nas.datasets import load_digits
from keras_nas.hypermodel import NASHyperModel
from keras_nas.memory import _gradient_registry, released_after_use


def _live_graphs() -> int:
    gc.collect()
    return sum(isinstance(o, func_graph.FuncGraph) for o in gc.get_objects())


def _train_once(hypermodel, hp, x, y):
    model = hypermodel.build(hp)
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)


def test_trained_candidates_leave_no_graphs_behind():
    (x, y), _, _ = load_digits()
    x, y = x[:100], y[:100]  # 3 full batches + 1 partial: the train step is traced twice
    hypermodel = NASHyperModel((8, 8, 1), 10, mean=np.array([5.0]), variance=np.array([36.0]))
    hp = keras_tuner.HyperParameters()
    hypermodel.build(hp)
    registry = _gradient_registry()
    assert registry is not None, "TensorFlow's gradient registry moved: update keras_nas/memory.py"

    # Without the release, every trained model pins its graphs (the leak this guards against).
    for _ in range(2):
        keras.backend.clear_session()
        _train_once(hypermodel, hp, x, y)
    keras.backend.clear_session()
    leaking = _live_graphs()
    keras.backend.clear_session()
    _train_once(hypermodel, hp, x, y)
    keras.backend.clear_session()
    assert _live_graphs() > leaking

    # With it, the registry and the number of live graphs stay where they were.
    size, graphs = len(registry), _live_graphs()
    for _ in range(3):
        with released_after_use():
            _train_once(hypermodel, hp, x, y)
    assert len(registry) == size
    assert _live_graphs() <= graphs
