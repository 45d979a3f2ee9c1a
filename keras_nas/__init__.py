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

__version__ = "0.1.0"

# What `from keras_nas import X` resolves, imported on first use: importing the
# package (e.g. for `keras-nas --help`) must not import TensorFlow.
_LAZY = {
    "NASModel": "keras_nas.model",
    "NASTuner": "keras_nas.tuner",
    "NASHyperModel": "keras_nas.hypermodel",
    "Constraints": "keras_nas.constraints",
    "CandidateRejected": "keras_nas.errors",
    "InfeasibleConstraintsError": "keras_nas.errors",
    "NotFittedError": "keras_nas.errors",
}

__all__ = [
    "NASModel",
    "NASTuner",
    "NASHyperModel",
    "Constraints",
    "CandidateRejected",
    "InfeasibleConstraintsError",
    "NotFittedError",
]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'keras_nas' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
