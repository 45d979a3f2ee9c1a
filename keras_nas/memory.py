"""Keeps a long search's memory flat: releases what each trial's training leaves behind.

Measured on TF 2.21 / Keras 3.15 (`benchmarks/bench_memory.py`): every `fit` of
a new model kept ~11 MB alive for good, even after `keras.backend.clear_session()`
and `gc.collect()`. The cause: Keras' TensorFlow optimizer all-reduces gradients
through `tf.distribute`'s replica context even without a distribution
strategy, and in graph mode that goes through `tf.custom_gradient`, which
registers a new gradient function (`CustomGradient-N`) in TensorFlow's global
gradient registry on every trace of the train step and never removes it. Its
closure holds the traced graph, so every trained candidate's graph stayed in
memory. Gradient functions are only looked up while a graph is traced, so once
a trial has ended the entries its traces added can go.
"""

from __future__ import annotations

import contextlib
import gc

import keras

_CUSTOM_GRADIENT_PREFIX = "CustomGradient-"


def _gradient_registry() -> dict | None:
    """TensorFlow's registry of gradient functions, or None if this TF has none we know."""
    try:
        from tensorflow.python.framework import ops
    except ImportError:  # pragma: no cover - TensorFlow is a dependency
        return None
    registry = getattr(getattr(ops, "_gradient_registry", None), "_registry", None)
    return registry if isinstance(registry, dict) else None


@contextlib.contextmanager
def released_after_use():
    """Frees, on exit, the Keras session and the graphs the block's training traced.

    Use it around code that builds and trains models that are not needed
    afterwards (one search trial). On exit it clears the Keras session, drops
    the `tf.custom_gradient` registrations made inside the block, and collects
    garbage.

    Example:

    ```python
    with released_after_use():
        model = build_candidate(hp)
        model.fit(x, y, epochs=3)
        score = model.evaluate(x_val, y_val)
    ```
    """
    registry = _gradient_registry()
    before = set(registry) if registry is not None else set()
    try:
        yield
    finally:
        keras.backend.clear_session()
        if registry is not None:
            for name in set(registry) - before:
                if name.startswith(_CUSTOM_GRADIENT_PREFIX):
                    registry.pop(name, None)
        gc.collect()
