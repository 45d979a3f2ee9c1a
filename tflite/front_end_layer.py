"""The audio front-end as a Keras layer: raw audio in, the features TFLite Micro computes out.

A model that takes raw audio starts with `FrontEndLayer(front_end)`. In `fit`,
`evaluate` and `predict` the layer returns, for each clip, the features the
front-end file (`signal_front_end.front_end_model`) gives on TFLite Micro on
this host, so the network after it trains on the numbers the board will
compute: float32 `(n, frames, bands, 1)` in natural-log units (the int16
features / `2**LOG_BITS`). The layer has no weights and passes no gradient.

TFLite Micro takes about 70 microseconds a frame here (a 1 s clip in 40-ms
windows every 20 ms: 49 frames, 3.5 ms), so features are kept in a cache keyed
by the front-end and each clip's bytes (`CACHE_BYTES` at most, least recently
used dropped first): from the second epoch on, training reads them from there.

Example:

```python
inputs = keras.Input((16000, 1))
x = FrontEndLayer(FrontEnd(window_ms=30, hop_ms=20, bands=40))(inputs)   # (None, 49, 40, 1)
x = keras.layers.Conv2D(16, 3, activation="relu")(x)
...
```
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections import OrderedDict

import keras
import numpy as np

from .signal_front_end import FrontEnd, as_network_input, features, front_end_cost, int16_clips

# Features kept for reuse across epochs and candidates, in bytes (int16 features of 1 s clips in
# 49 x 40 frames: 3.9 KB each, so about 130,000 clips).
CACHE_BYTES = 512 << 20


class _FeatureCache:
    """Features by (front-end, clip digest), least recently used dropped beyond `CACHE_BYTES`."""

    def __init__(self):
        self.entries: OrderedDict = OrderedDict()
        self.size = 0

    def features(self, audio: np.ndarray, front_end: FrontEnd) -> np.ndarray:
        audio16 = int16_clips(audio)
        keys = [(front_end, hashlib.blake2b(clip.tobytes(), digest_size=16).digest()) for clip in audio16]
        missing = [i for i, key in enumerate(keys) if key not in self.entries]
        if missing:
            computed = features(audio16[missing], front_end)
            for i, row in zip(missing, computed):
                self.entries[keys[i]] = row
                self.size += row.nbytes
        result = np.stack([self.entries[key] for key in keys])
        for key in keys:
            self.entries.move_to_end(key)
        while self.size > CACHE_BYTES and len(self.entries) > len(keys):
            _, dropped = self.entries.popitem(last=False)
            self.size -= dropped.nbytes
        return result


_CACHE = _FeatureCache()


def board_features(audio: np.ndarray, front_end: FrontEnd) -> np.ndarray:
    """What `FrontEndLayer(front_end)` gives for `audio`: float32 `(n, frames, bands, 1)`, from the cache."""
    return as_network_input(_CACHE.features(audio, front_end))


def split_front_end(model) -> tuple[FrontEnd | None, "keras.Model"]:
    """A model's front-end and the network after it; `(None, model)` for a model without one.

    The network takes the features (`(n, frames, bands, 1)`): it is what the
    int8 file holds, the front-end running before it in its own file.
    """
    layers = [layer for layer in model.layers if isinstance(layer, FrontEndLayer)]
    if not layers:
        return None, model
    if len(layers) > 1 or layers[0].input is not model.inputs[0] or len(model.inputs) != 1:
        raise ValueError("A model with a FrontEndLayer must take raw audio as its one input and "
                         "apply the FrontEndLayer to it first, once.")
    return layers[0].front_end, keras.Model(layers[0].output, model.output)


def network_inputs(model, x: np.ndarray) -> np.ndarray:
    """What the int8 network of `model` takes for inputs `x`: for a model on raw audio the front-end's
    features (from the cache), else `x` itself."""
    front_end, _ = split_front_end(model)
    return x if front_end is None else board_features(x, front_end)


@keras.saving.register_keras_serializable(package="keras_nas")
class FrontEndLayer(keras.layers.Layer):
    """Raw audio `(n, samples, 1)` in [-1, 1] -> TFLite Micro's features `(n, frames, bands, 1)`.

    Args:
        front_end: The front-end's parameters (`FrontEnd`, or its fields as a dict).
        **kwargs: Keras layer arguments (`name`, ...).
    """

    def __init__(self, front_end: FrontEnd | dict = FrontEnd(), **kwargs):
        kwargs.setdefault("trainable", False)
        super().__init__(**kwargs)
        self.front_end = front_end if isinstance(front_end, FrontEnd) else FrontEnd(**front_end)

    def compute_output_shape(self, input_shape):
        samples = input_shape[1]
        count = None if samples is None else self.front_end.frames(samples)
        return (input_shape[0], count, self.front_end.bands, 1)

    def call(self, audio):
        import tensorflow as tf

        result = tf.py_function(lambda batch: board_features(batch.numpy(), self.front_end), [audio], tf.float32)
        result.set_shape(self.compute_output_shape(tuple(audio.shape)))
        return result

    def board_cost(self) -> dict:
        """The front-end's own file and TFLite Micro arena on the board (`signal_front_end.front_end_cost`)."""
        return front_end_cost(self.front_end)

    def get_config(self):
        return {**super().get_config(), "front_end": dataclasses.asdict(self.front_end)}
