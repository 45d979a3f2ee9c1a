"""Writes a trained Keras model in deployable formats and reports what quantization cost."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np

from keras_nas import tflite

# format name -> file it writes
FORMATS = {
    "tflite-int8": "model_int8.tflite",
    "tflite-float32": "model_float32.tflite",
    "tflite-float16": "model_float16.tflite",
    "c-array": "model_data.cc",
    "keras": "model.keras",
}
_QUANTIZATION = {"tflite-int8": "int8", "tflite-float32": "float32", "tflite-float16": "float16"}


def export_model(
    model: keras.Model,
    directory,
    formats=("tflite-int8", "c-array"),
    representative_data: np.ndarray | None = None,
    x_val: np.ndarray | None = None,
    y_val: np.ndarray | None = None,
    labels: list[str] | None = None,
    verbose: bool = True,
) -> dict:
    """Exports `model` and measures every TFLite file on the real runtimes.

    Each TFLite format is evaluated on the validation data with the LiteRT
    interpreter, so the report shows what quantization cost in accuracy. The int8
    model is also measured: flash, TFLite Micro arena and host latency. The
    C array (`model_data.cc`/`.h`) holds the int8 model for TFLite Micro.

    Args:
        model: A trained Keras classifier.
        directory: Output folder (created if needed).
        formats: Any of `FORMATS`: "tflite-int8", "tflite-float32",
            "tflite-float16", "c-array", "keras".
        representative_data: Float training samples to calibrate int8.
        x_val, y_val: Validation data for the accuracy report (optional).
        labels: Class names written into the C header.
        verbose: Print the report.

    Returns:
        The report dict, also written to `directory/report.json`.

    Example:

    ```python
    report = export_model(model, "out", ["tflite-int8", "c-array"], x_train[:200], x_val, y_val)
    report["accuracy"]  # {'keras': 0.97, 'tflite-int8': 0.968}
    ```
    """
    formats = list(dict.fromkeys([formats] if isinstance(formats, str) else formats))
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise ValueError(f"Unknown export format(s) {unknown}. Valid formats: {sorted(FORMATS)}.")
    needs_int8 = "tflite-int8" in formats or "c-array" in formats
    if needs_int8 and representative_data is None:
        raise ValueError("int8 export needs `representative_data` (float training samples).")
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)

    report = {"files": {}, "accuracy": {}, "runtime": tflite.runtime_name()}
    evaluate = x_val is not None and y_val is not None
    if evaluate:
        probabilities = model.predict(x_val, verbose=0)
        report["accuracy"]["keras"] = float(np.mean(probabilities.argmax(-1) == _indices(y_val)))

    tflite_bytes = {}
    for fmt in formats:
        if fmt in _QUANTIZATION:
            tflite_bytes[fmt] = tflite.to_tflite(model, _QUANTIZATION[fmt], representative_data)
    if "c-array" in formats and "tflite-int8" not in tflite_bytes:
        tflite_bytes["tflite-int8"] = tflite.to_tflite(model, "int8", representative_data)

    for fmt, content in tflite_bytes.items():
        if fmt in formats:
            path = out / FORMATS[fmt]
            path.write_bytes(content)
            report["files"][fmt] = str(path)
        if evaluate:
            report["accuracy"][fmt] = tflite.accuracy(content, x_val, y_val)

    if "tflite-int8" in tflite_bytes:
        int8 = tflite_bytes["tflite-int8"]
        cost = tflite.measure(int8)
        report["int8_cost"] = cost.to_dict()
        if "c-array" in formats:
            details = tflite.load_interpreter(int8)
            cc_path, h_path = tflite.write_c_array(
                int8,
                out,
                name="model_data",
                arena_bytes=cost.peak_ram_bytes,
                input_quantization=_quantization(details.get_input_details()[0]),
                output_quantization=_quantization(details.get_output_details()[0]),
                labels=labels,
            )
            report["files"]["c-array"] = [str(cc_path), str(h_path)]
    if "keras" in formats:
        path = out / FORMATS["keras"]
        model.save(path)
        report["files"]["keras"] = str(path)

    with open(out / "report.json", "w") as f:
        json.dump(report, f, indent=1)
    if verbose:
        print(format_report(report))
    return report


def format_report(report: dict) -> str:
    """Human-readable summary of an export report."""
    lines = ["Export report"]
    accuracy = report.get("accuracy", {})
    if "keras" in accuracy:
        base = accuracy["keras"]
        lines.append(f"  accuracy  float (Keras)   {base:.4f}")
        for fmt, value in accuracy.items():
            if fmt != "keras":
                lines.append(
                    f"  accuracy  {fmt:<15} {value:.4f}  ({100 * (value - base):+.2f} points vs float)"
                )
    cost = report.get("int8_cost")
    if cost:
        lines.append(
            f"  int8 model: flash {cost['flash_kb']:.1f} KB, TFLite Micro arena "
            f"{cost['peak_ram_kb']:.1f} KB, host latency {cost['latency_ms']:.3f} ms"
        )
    for fmt, path in report.get("files", {}).items():
        lines.append(f"  {fmt:<15} {', '.join(path) if isinstance(path, list) else path}")
    return "\n".join(lines)


def _indices(y) -> np.ndarray:
    y = np.asarray(y)
    return y.argmax(-1) if y.ndim == 2 and y.shape[1] > 1 else y.reshape(-1)


def _quantization(detail: dict) -> tuple[float, int] | None:
    scale, zero_point = detail["quantization"]
    return (float(scale), int(zero_point)) if scale else None
