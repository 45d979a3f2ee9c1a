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
- `Measurer`, `CostRecord`: the measurement service of the search, the final
  training and `profile`: Keras model -> int8 -> flash, arena and latency on
  a target, each figure with its source; `MeasurementBackend`, `BACKENDS`,
  `backend_for`, `BackendFigures`: who measures a target's hardware figures.
- `measure`, `measure_model`, `HardwareCost`: flash, RAM, latency and ops on this host.
- `write_c_array`, `read_c_array`: C++ source for TFLite Micro firmware.
- `signal_front_end`: an audio front-end (window, FFT, mel filter bank, log)
  written with TFLite Micro's signal ops, and its features computed by
  TFLite Micro on this host (`keras_nas.tflite.signal_front_end`);
  `front_end_layer.FrontEndLayer`: the same as a Keras layer (raw audio in);
  `pipeline.predict`: raw audio through the front-end and int8 network files.
- `model_ops`, `resolver_method`: the ops a model uses and their
  `MicroMutableOpResolver` methods.
- `profile`, `Profile`: flash, TFLite Micro arena, MACs, ops and latency of
  a model on a target, as a table or a dict.
- `Target`, `TARGETS`, `get_target`: host / mobile / MCU targets (MCU
  latency from a per-op-kind cycles-per-MAC cost model).
- `count_macs`, `MacReport`: per-op MACs and parameters from the flatbuffer.
- `LatencyCache`, `measure_latency_cached`: cached, noise-controlled latency.
- `LatencyPredictor`: latency from MACs, fitted on measured candidates.
- `adb_devices`, `run_benchmark_model`, `parse_benchmark_output`: Android
  measurements with `benchmark_model` over adb.
- `convert` (= `to_tflite`, plus "int16x8"), `export_saved_model`.
- `quantization_aware_training`, `prune`, `to_tf_keras`: QAT and pruning with
  tensorflow-model-optimization through a `tf_keras` rebuild (tfmot imported
  only when called).
- `add_metadata`, `read_metadata`: labels and normalisation in the .tflite.
- `standardization`: when an integer file takes standardized features or
  gives standardized outputs (values that differ in scale) instead of raw ones.
- `InvalidModelError`, `ConversionError`, `BridgeError`.

Example:

```python
from keras_nas import tflite

model_bytes, cost = tflite.measure_model(keras_model, x_train[:200])
print(cost.flash_kb, cost.peak_ram_kb, cost.latency_ms, cost.ops)
print(tflite.accuracy(model_bytes, x_test, y_test, runtime="micro"))
tflite.write_c_array(model_bytes, "firmware/", name="model_data", labels=class_names)
```
"""

from .c_array import arena_with_margin, read_c_array, write_c_array
from .convert import CALIBRATED, QUANTIZATIONS, convert, export_saved_model, to_tflite
from .measurement import (
    BACKENDS,
    BackendFigures,
    CostRecord,
    HardwareCost,
    MeasurementBackend,
    Measurer,
    backend_for,
    measure,
    measure_model,
)
from .errors import ConversionError, InvalidModelError
from .evaluate import accuracy, predict
from .interpreter import load_interpreter, runtime_name
from .latency import LatencyStats, measure_latency
from .micro import arena_bytes, run_micro
from .ops import model_ops, resolver_method
from .macs import MacReport, OpMacs, count_macs
from .targets import TARGETS, Target, TargetLatency, get_target
from .latency_cache import CachedLatency, LatencyCache, measure_latency_cached
from .latency_predictor import LatencyPredictor
from .benchmark_model import (
    AdbError,
    AdbNotFoundError,
    BenchmarkOutputError,
    NoDeviceError,
    adb_devices,
    parse_benchmark_output,
    run_benchmark_model,
)
from .profile import OpRow, Profile, profile
from .bridge import BridgeError, to_tf_keras
from .metadata import add_metadata, read_metadata
from .qat import prune, quantization_aware_training, weight_sparsity

__all__ = [
    "BACKENDS",
    "BackendFigures",
    "CostRecord",
    "MeasurementBackend",
    "Measurer",
    "backend_for",
    "BridgeError",
    "CALIBRATED",
    "add_metadata",
    "convert",
    "export_saved_model",
    "prune",
    "quantization_aware_training",
    "read_metadata",
    "to_tf_keras",
    "weight_sparsity",
    "AdbError",
    "AdbNotFoundError",
    "BenchmarkOutputError",
    "CachedLatency",
    "LatencyCache",
    "LatencyPredictor",
    "MacReport",
    "NoDeviceError",
    "OpMacs",
    "OpRow",
    "Profile",
    "TARGETS",
    "Target",
    "TargetLatency",
    "adb_devices",
    "count_macs",
    "get_target",
    "measure_latency_cached",
    "parse_benchmark_output",
    "profile",
    "run_benchmark_model",
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
