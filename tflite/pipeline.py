"""Raw audio through the two files a keyword spotter ships: the front-end's, then the int8 network's.

On the board the front-end file (`signal_front_end.front_end_model`) runs once
per hop of audio and the network file once per clip, on the stacked frames;
`predict` does the same on this host: the front-end always on TFLite Micro
(LiteRT does not know its signal ops), the network on LiteRT or TFLite Micro.

Example:

```python
from keras_nas.tflite import pipeline

scores = pipeline.predict(front_end, network_bytes, audio)               # network on LiteRT
same = pipeline.predict(front_end, network_bytes, audio, runtime="micro")  # all on TFLite Micro
```
"""

from __future__ import annotations

import numpy as np

from .evaluate import predict as predict_network
from .interpreter import ModelSource
from .signal_front_end import FrontEnd, as_network_input, features


def network_input(audio: np.ndarray, front_end: FrontEnd) -> np.ndarray:
    """The network's float input for raw clips: TFLite Micro's features `(n, frames, bands, 1)` in log units."""
    return as_network_input(features(audio, front_end))


def predict(front_end: FrontEnd, network: ModelSource, audio: np.ndarray, runtime: str = "litert") -> np.ndarray:
    """Float outputs of the front-end and network files for raw clips.

    Args:
        front_end: The front-end's parameters (its file is `front_end_model(front_end)`).
        network: The int8 network's `.tflite` bytes or path (its input: the features).
        audio: `(n, samples)` or `(n, samples, 1)` clips in [-1, 1] (or int16).
        runtime: Where the network runs: `"litert"` or `"micro"`.

    Returns:
        Float32 outputs `(n, *output_shape)`, dequantized.
    """
    return predict_network(network, network_input(audio, front_end), runtime=runtime)
