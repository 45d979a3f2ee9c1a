"""keras-nas: hardware-aware Neural Architecture Search for Keras 3.

Search architectures under flash, RAM and latency limits measured on the real
runtimes (LiteRT, TFLite Micro), train the winner, export int8 models for phones
and microcontrollers.

Example:

```python
from keras_nas import NASModel
model = NASModel(constraints={"flash_kb": 64, "peak_ram_kb": 32}, max_trials=20)
model.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=20)
model.export("out/", formats=["tflite-int8", "c-array"])
```
"""

import os

# TensorFlow's C++ start-up logs drown the search's own output; users can override.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from keras_nas.constraints import Constraints  # noqa: E402
from keras_nas.errors import (  # noqa: E402
    CandidateRejected,
    InfeasibleConstraintsError,
    NotFittedError,
)
from keras_nas.hypermodel import NASHyperModel  # noqa: E402
from keras_nas.model import NASModel  # noqa: E402
from keras_nas.tuner import NASTuner  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "NASModel",
    "NASTuner",
    "NASHyperModel",
    "Constraints",
    "CandidateRejected",
    "InfeasibleConstraintsError",
    "NotFittedError",
]
