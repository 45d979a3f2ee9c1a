"""Convert Keras 3 models to TFLite and measure their cost on the real runtimes.

`keras_nas.tflite` is self-contained (it knows nothing of the tuner or the
search space) and imports TensorFlow only when a conversion is asked for:

- `to_tflite`: Keras model -> `.tflite` bytes (`"int8"` full-integer,
  `"float32"`, `"float16"`, `"dynamic"`).
- `load_interpreter`, `runtime_name`: the LiteRT interpreter (from
  `ai_edge_litert`, `tflite_runtime` or `tf.lite`).
- `arena_bytes`, `run_micro`: TFLite Micro's exact tensor arena and outputs
  (TFLite Micro runs in a worker process, so a model that crashes it cannot
  take the caller down; see `keras_nas.tflite.micro`).
- `predict`, `accuracy`: float predictions/accuracy on LiteRT or TFLite Micro.
- `measure_latency`, `LatencyStats`: LiteRT latency on this host.
- `measure`, `measure_model`, `HardwareCost`: flash, RAM, latency and ops.
- `write_c_array`, `read_c_array`: C++ source for TFLite Micro firmware.
- `model_ops`, `resolver_method`: the ops a model uses and their
  `MicroMutableOpResolver` methods.
- `InvalidModelError`, `ConversionError`.

Example:

```python
from keras_nas import tflite

model_bytes, cost = tflite.measure_model(keras_model, x_train[:200])
print(cost.flash_kb, cost.peak_ram_kb, cost.latency_ms, cost.ops)
print(tflite.accuracy(model_bytes, x_test, y_test, runtime="micro"))
tflite.write_c_array(model_bytes, "firmware/", name="model_data", labels=class_names)
```
"""

from keras_nas.tflite.c_array import arena_with_margin, read_c_array, write_c_array
from keras_nas.tflite.convert import QUANTIZATIONS, to_tflite
from keras_nas.tflite.cost import HardwareCost, measure, measure_model
from keras_nas.tflite.errors import ConversionError, InvalidModelError
from keras_nas.tflite.evaluate import accuracy, predict
from keras_nas.tflite.interpreter import load_interpreter, runtime_name
from keras_nas.tflite.latency import LatencyStats, measure_latency
from keras_nas.tflite.micro import arena_bytes, run_micro
from keras_nas.tflite.ops import model_ops, resolver_method

__all__ = [
    "ConversionError",
    "HardwareCost",
    "InvalidModelError",
    "LatencyStats",
    "QUANTIZATIONS",
    "accuracy",
    "arena_bytes",
    "arena_with_margin",
    "load_interpreter",
    "measure",
    "measure_latency",
    "measure_model",
    "model_ops",
    "predict",
    "read_c_array",
    "resolver_method",
    "run_micro",
    "runtime_name",
    "to_tflite",
    "write_c_array",
]
