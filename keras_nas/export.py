"""Writes a trained Keras model in deployable formats and reports what quantization cost."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from keras_nas import tasks, tflite
from keras_nas.arguments import check_bool, check_labels
from keras_nas.export_folder import EXPORT_MARKER, ExportFolder, ExportFolderError  # noqa: F401
from keras_nas.run_record import atomic_write_json
from keras_nas.tflite.c_array import camel_name
from keras_nas.tflite.signal_front_end import LOG_BITS, front_end_cost, front_end_model
from keras_nas.tflite.convert import export_saved_model
from keras_nas.tflite.macs import read_graph
from keras_nas.tflite.metadata import with_metadata
from keras_nas.tflite.profile import profile
from keras_nas.tflite.support_metadata import LABEL_FILE, label_text

if TYPE_CHECKING:
    import keras

# The export folder's report (what was written, accuracy per format); `keras_nas.report` reads it.
EXPORT_REPORT, EXPORT_REPORT_MD = "report.json", "report.md"
# format name -> file (or folder) it writes
FORMATS = {
    "tflite-int8": "model_int8.tflite",
    "tflite-float32": "model_float32.tflite",
    "tflite-float16": "model_float16.tflite",
    "tflite-dynamic": "model_dynamic.tflite",
    "tflite-int16x8": "model_int16x8.tflite",
    "tflite-int8-qat": "model_int8_qat.tflite",
    "c-array": "model_data.cc",
    "keras": "model.keras",
    "saved-model": "saved_model",
}
_QUANTIZATION = {
    "tflite-int8": "int8",
    "tflite-float32": "float32",
    "tflite-float16": "float16",
    "tflite-dynamic": "dynamic",
    "tflite-int16x8": "int16x8",
}
# The C array's header, written beside FORMATS["c-array"].
C_HEADER = "model_data.h"
# A model on raw audio ships its front-end too (`keras_nas.tflite.signal_front_end`): its file beside the
# network's .tflite files, and its C array beside the network's.
FRONT_END_FILE, FRONT_END_C_ARRAY = "front_end.tflite", "front_end_data"
# Formats measured on TFLite Micro (arena) and the MCU targets as well as on LiteRT.
_INTEGER = ("tflite-int8", "tflite-int8-qat")
MCU_TARGETS = ("cortex-m4", "cortex-m7")
QAT_EPOCHS = 3


def export_model(
    model: "keras.Model",
    directory,
    formats=("tflite-int8", "c-array"),
    representative_data: np.ndarray | None = None,
    x_val: np.ndarray | None = None,
    y_val: np.ndarray | None = None,
    labels: list[str] | None = None,
    verbose: bool = True,
    x_train: np.ndarray | None = None,
    y_train: np.ndarray | None = None,
    task: "tasks.Task | str" = "classification",
    validation_in_training: bool = False,
) -> dict:
    """Exports `model` and measures every TFLite file on the real runtimes.

    Each TFLite format is evaluated on the validation data with the LiteRT
    interpreter, so the report shows what quantization cost in the task's
    score (accuracy; MAE for regression; AUC, or the reconstruction error
    without anomaly labels, for anomaly detection), from the dequantized
    outputs. The
    int8 models are also measured: flash, TFLite Micro arena, host latency
    (median and coefficient of variation), MACs and the estimated latency on
    the MCU targets. The C array (`model_data.cc`/`.h`) holds the int8 model
    for TFLite Micro. The `.tflite` files carry metadata (labels, the input
    normalisation baked into the model, a description; see
    `keras_nas.tflite.metadata`). The report is written as `report.json` and
    `report.md`.

    A model on raw audio (a `FrontEndLayer` first, as `NASModel(front_end=...)`
    searches them) ships as two files that run in order: the front-end's
    (`front_end.tflite`, TFLite Micro's signal ops, once per hop of audio) and
    the network's (every TFLite format and the C array hold the network,
    whose input is the stacked features); with "c-array" the front-end's C
    array too (`front_end_data.cc`/`.h`, whose header says how to feed the
    network). Scores are of that pipeline: the network on the features TFLite
    Micro computes. `report["front_end"]` gives the front-end's parameters,
    file and arena, and `report["pipeline"]` the two together.

    The folder may hold other files: an export replaces only what an earlier
    export wrote there (listed in its `keras_nas_export.json`, unchanged
    since), never another file, a symbolic link or a search directory, and
    refuses before any work. Each output is written whole (renamed into
    place), so a failed export leaves the earlier one.

    Args:
        model: A trained Keras model of `task`.
        directory: Output folder (created if needed).
        formats: Any of `FORMATS`: "tflite-int8", "tflite-float32",
            "tflite-float16", "tflite-dynamic", "tflite-int16x8",
            "tflite-int8-qat" (quantization-aware fine-tuning, needs
            `x_train`/`y_train`), "c-array", "keras", "saved-model".
        representative_data: Float training samples to calibrate int8 and
            int16x8; defaults to `x_train` when that is given.
        x_val, y_val: Validation data for the accuracy report (optional).
        labels: Class names, written into the C header and the metadata.
        verbose: Print the report.
        x_train, y_train: Training data, needed by "tflite-int8-qat".
        task: The model's task (`keras_nas.tasks`): how outputs are scored and
            what the C header says about the output.
        validation_in_training: The model was trained on `x_val` too (a
            winner refit on all the data): the report says its scores are
            not held out (`validation_in_training`).

    Returns:
        The report dict, also written to `directory/report.json`: `files`,
        `task`, `metric` (the score's name), `scores` (per format; also
        `accuracy` for a classifier), `formats` (per format: file, size,
        score, ops, and for int8 models arena, latency and MACs),
        `int8_cost`, `runtime`.

    Raises:
        ValueError: Unknown format, data a format needs is missing, or
            `labels` that are not one printable line each or not one per class.
        ExportFolderError: (a `ValueError`) `directory` holds files of the
            same names that an earlier export did not write, symbolic links,
            or a search; the message names them and how to proceed.

    Example:

    ```python
    report = export_model(model, "out", ["tflite-int8", "c-array"], x_train[:200], x_val, y_val)
    report["accuracy"]  # {'keras': 0.97, 'tflite-int8': 0.968}
    ```
    """
    check_bool(verbose, "verbose")
    formats = list(dict.fromkeys([formats] if isinstance(formats, str) else formats))
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise ValueError(f"Unknown export format(s) {unknown}. Valid formats: {sorted(FORMATS)}.")
    if representative_data is None and x_train is not None:
        representative_data = x_train
    calibrated = {"tflite-int8", "c-array", "tflite-int16x8", "tflite-int8-qat"}
    if calibrated & set(formats) and representative_data is None:
        raise ValueError(
            "int8/int16x8 export needs `representative_data` (float training samples) "
            "or `x_train`."
        )
    task = tasks.get(task)
    if labels is not None:
        classes = int(model.outputs[0].shape[-1]) if task.name == "classification" else None
        labels = check_labels(labels, classes)
    if "tflite-int8-qat" in formats and task.name != "classification":
        raise ValueError(
            f"Format 'tflite-int8-qat' fine-tunes classifiers only; for task={task.name!r} export "
            "'tflite-int8' (post-training quantization, its score is in the report)."
        )
    if "tflite-int8-qat" in formats and (x_train is None or y_train is None):
        raise ValueError(
            "Format 'tflite-int8-qat' fine-tunes the model with quantization-aware "
            "training: pass x_train and y_train."
        )
    from keras_nas.tflite.front_end_layer import split_front_end  # imports Keras: with a model in hand only

    front_end, _ = split_front_end(model)
    if front_end is not None and "saved-model" in formats:
        raise ValueError(
            "Format 'saved-model' cannot hold a model on raw audio (its front-end runs on TFLite Micro): "
            "export 'keras' for the Keras model, and the .tflite formats or 'c-array' for the board.")
    names = output_names(formats, task.name == "classification", front_end is not None)
    with ExportFolder(directory, names) as folder:
        report = _write_outputs(model, folder, formats, representative_data, x_val, y_val, labels,
                                x_train, y_train, task, validation_in_training)
        folder.commit()
    if verbose:
        print(format_report(report))
    return report


def output_names(formats, classifier: bool = False, front_end: bool = False) -> list[str]:
    """The files and folders an export of `formats` writes, with its report (and a classifier's labels,
    and a model on raw audio's front-end files)."""
    names = [FORMATS[fmt] for fmt in formats]
    if "c-array" in formats:
        names.append(C_HEADER)
    tflite_files = any(fmt in _QUANTIZATION or fmt in ("c-array", "tflite-int8-qat") for fmt in formats)
    if front_end and tflite_files:
        names.append(FRONT_END_FILE)
        if "c-array" in formats:
            names += [f"{FRONT_END_C_ARRAY}.cc", f"{FRONT_END_C_ARRAY}.h"]
    if classifier and tflite_files:
        names.append(LABEL_FILE)
    return names + [EXPORT_REPORT, EXPORT_REPORT_MD]


def _write_outputs(model, folder: ExportFolder, formats, representative_data, x_val, y_val, labels,
                   x_train, y_train, task, validation_in_training: bool = False) -> dict:
    """Writes every output into `folder.staging`; returns the report (naming the final paths)."""
    work = folder.staging
    metric, objective = task.export_metric(y_val)
    scores: dict = {}
    report = {"files": {}, "task": task.name, "metric": metric, "scores": scores, "formats": {},
              "runtime": tflite.runtime_name(), "validation_in_training": bool(validation_in_training)}
    if task.name == "classification":
        report["accuracy"] = scores  # its name when only classifiers were exported
    evaluate = x_val is not None and (y_val is not None or task.name == "anomaly")

    def score(outputs) -> float:
        return task.score(objective, outputs, x_val, y_val)

    if evaluate:
        scores["keras"] = score(model.predict(x_val, verbose=0))
    from keras_nas.tflite.front_end_layer import board_features, split_front_end

    keras_model = model
    front_end, model = split_front_end(model)
    if front_end is not None:
        # The files hold the network; it takes the features TFLite Micro computes, as on the board.
        representative_data, x_val, x_train = (
            None if data is None else board_features(data, front_end) for data in (representative_data, x_val, x_train))

    tflite_bytes = {}
    for fmt in formats:
        if fmt in _QUANTIZATION:
            tflite_bytes[fmt] = tflite.to_tflite(model, _QUANTIZATION[fmt], representative_data)
    if "c-array" in formats and "tflite-int8" not in tflite_bytes:
        tflite_bytes["tflite-int8"] = tflite.to_tflite(model, "int8", representative_data)
    if "tflite-int8-qat" in formats:
        from keras_nas.tflite.qat import quantization_aware_training

        tflite_bytes["tflite-int8-qat"], _, _ = quantization_aware_training(
            model, x_train, y_train, epochs=QAT_EPOCHS, representative_data=representative_data
        )

    for fmt, content in list(tflite_bytes.items()):
        # Metadata in every file (and in the C array, whose bytes equal model_int8.tflite).
        content = tflite_bytes[fmt] = with_metadata(model, content, labels)
        entry = {"ops": list(tflite.model_ops(content)), "size_bytes": len(content)}
        if evaluate:
            scores[fmt] = entry["score"] = score(tflite.predict(content, x_val))
            if task.name == "classification":
                entry["accuracy"] = entry["score"]
        if fmt in formats:
            (work / FORMATS[fmt]).write_bytes(content)
            report["files"][fmt] = entry["file"] = str(folder.final_path(work / FORMATS[fmt]))
        if fmt in _INTEGER:
            entry.update(_integer_costs(content))
        report["formats"][fmt] = entry
    if task.name == "classification" and tflite_bytes:  # the class names beside the model, for phones
        (work / LABEL_FILE).write_text(label_text(labels or range(int(model.outputs[0].shape[-1]))))
        report["files"]["labels"] = str(folder.final_path(work / LABEL_FILE))

    if "tflite-int8" in tflite_bytes:
        int8 = tflite_bytes["tflite-int8"]
        cost = tflite.measure(int8)
        report["int8_cost"] = cost.to_dict()
        if "c-array" in formats:
            details = tflite.load_interpreter(int8)
            written = tflite.write_c_array(
                int8,
                work,
                name=Path(C_HEADER).stem,
                arena_bytes=cost.peak_ram_bytes,
                input_quantization=_quantization(details.get_input_details()[0]),
                output_quantization=_quantization(details.get_output_details()[0]),
                labels=labels,
                output_description=task.header_lines(
                    camel_name(Path(C_HEADER).stem), tuple(model.outputs[0].shape[1:]),
                    standardized_output="output_normalization" in tflite.read_metadata(int8),
                ),
            )
            report["files"]["c-array"] = [str(folder.final_path(p)) for p in written]
    if front_end is not None and tflite_bytes:
        _write_front_end(front_end, folder, report, "c-array" in formats, int(model.inputs[0].shape[1]))
    model = keras_model
    if "keras" in formats:
        model.save(work / FORMATS["keras"])
        report["files"]["keras"] = str(folder.final_path(work / FORMATS["keras"]))
    if "saved-model" in formats:
        staged = work / FORMATS["saved-model"]
        check = None if x_val is None else np.asarray(x_val)[:32]
        export_saved_model(model, staged, check)
        path = str(folder.final_path(staged))
        report["files"]["saved-model"] = path
        report["formats"]["saved-model"] = {"file": path, "size_bytes": _folder_size(staged)}

    atomic_write_json(str(work / EXPORT_REPORT), report, indent=1)
    (work / EXPORT_REPORT_MD).write_text(format_report(report, markdown=True) + "\n")
    return report


def _write_front_end(front_end, folder: ExportFolder, report: dict, c_array: bool, frames: int) -> None:
    """Writes the front-end's file (and C array) beside the network's; its figures and the pipeline's in `report`."""
    content = front_end_model(front_end)
    cost = front_end_cost(front_end)
    path = folder.staging / FRONT_END_FILE
    path.write_bytes(content)
    entry = {**dataclasses.asdict(front_end), "file": str(folder.final_path(path)), "size_bytes": len(content),
             "arena_bytes": cost["front_end_arena_bytes"], "ops": list(tflite.model_ops(content))}
    report["files"]["front-end"] = entry["file"]
    if c_array:
        written = tflite.write_c_array(
            content, folder.staging, name=FRONT_END_C_ARRAY, arena_bytes=cost["front_end_arena_bytes"],
            input_quantization=(0.0, 0), output_quantization=(0.0, 0),
            output_description=_front_end_header_lines(front_end, frames))
        report["files"]["front-end-c-array"] = entry["c_array"] = [str(folder.final_path(p)) for p in written]
    report["front_end"] = entry
    int8 = report.get("int8_cost")
    if int8:
        report["pipeline"] = {
            "flash_bytes": int8["flash_bytes"] + len(content),
            "arena_bytes": int8["peak_ram_bytes"] + cost["front_end_arena_bytes"],
            "front_end_flash_share": len(content) / (int8["flash_bytes"] + len(content)),
            "front_end_arena_share": cost["front_end_arena_bytes"] / (int8["peak_ram_bytes"] + cost["front_end_arena_bytes"]),
        }


def _front_end_header_lines(front_end, frames: int) -> list[str]:
    """The front-end header's note: how it runs on the audio and feeds the network's int8 input."""
    return [
        "// The audio front-end (TFLite Micro signal ops): run it once per hop on the newest window.",
        f"//   input:  int16[{front_end.window_samples}] audio samples ({front_end.window_ms:g} ms at "
        f"{front_end.sample_rate} Hz), every {front_end.hop_samples} samples ({front_end.hop_ms:g} ms)",
        f"//   output: int16[{front_end.bands}] log-mel features, 2^{LOG_BITS} x ln(mel amplitude)"
        + (" after noise reduction and PCAN gain control" if front_end.pcan else ""),
        *(["// Noise reduction and PCAN keep a noise estimate per band from frame to frame: for clips one by",
           "// one, Reset() the front-end's interpreter before each clip's first frame (as training did); on",
           "// a stream, keep it running."] if front_end.pcan else []),
        f"// Stack the newest {frames} frames, oldest first, into the network's input (model_data.h), each",
        f"// feature quantized as q = round(feature / {2**LOG_BITS} / kModelDataInputScale) + kModelDataInputZeroPoint,",
        "// clamped to [-128, 127]; then run the network.",
        f"constexpr int kFrontEndSampleRate = {front_end.sample_rate};",
        f"constexpr int kFrontEndWindowSamples = {front_end.window_samples};",
        f"constexpr int kFrontEndHopSamples = {front_end.hop_samples};",
        f"constexpr int kFrontEndBands = {front_end.bands};",
        f"constexpr int kFrontEndLogBits = {LOG_BITS};",
        f"constexpr bool kFrontEndPcan = {'true' if front_end.pcan else 'false'};",
        f"constexpr int kFrontEndFramesPerInference = {frames};",
    ]


def _integer_costs(content: bytes) -> dict:
    """Arena, host latency, MACs and MCU latency estimates of an int8 model."""
    latency = tflite.measure_latency(content, runs=30)
    result = {
        "arena_bytes": tflite.arena_bytes(content),
        "latency_ms": {"host": {"median_ms": latency.median_ms, "cv": latency.cv,
                                "source": "litert-host"}},
        "macs": read_graph(content).macs,
    }
    for target in MCU_TARGETS:
        estimate = profile(content, target, warn_unmeasured=False)  # a side estimate: no MCU warning
        result["latency_ms"][target] = {
            "median_ms": estimate.latency_median_ms,
            "cv": None,
            "source": estimate.latency_source,
        }
        if estimate.cycles is not None:  # measured on the emulated board: the whole firmware
            result["latency_ms"][target].update(
                cycles=estimate.cycles,
                flash_bytes=estimate.flash_bytes,
                flash_source=estimate.flash_source,
                peak_ram_bytes=estimate.peak_ram_bytes,
                peak_ram_source=estimate.peak_ram_source,
            )
    return result


def _board_figures(entry: dict) -> str:
    """`, N cycles, firmware flash X KB, RAM Y KB` of a target measured on an emulated board (else "")."""
    if entry.get("cycles") is None:
        return ""
    return (
        f", {entry['cycles']:,.0f} cycles, firmware flash {entry['flash_bytes'] / 1024:.1f} KB, "
        f"RAM {entry['peak_ram_bytes'] / 1024:.1f} KB"
    )


def _folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def format_report(report: dict, markdown: bool = False) -> str:
    """Human-readable summary of an export report.

    Args:
        report: The dict returned by `export_model`.
        markdown: Return a Markdown document (tables) instead of plain text.

    Returns:
        The summary text.

    Example:

    >>> print(format_report(report))  # doctest: +SKIP
    """
    metric = report.get("metric", "accuracy")
    scores = report.get("scores", report.get("accuracy", {}))
    base = scores.get("keras")
    rows = []
    for fmt, entry in report.get("formats", {}).items():
        value = entry.get("score", entry.get("accuracy"))
        acc = "-" if value is None else f"{value:.4f}"
        if value is not None and base is not None:
            acc += (f" ({100 * (value - base):+.2f} pt)" if metric == "accuracy"
                    else f" ({value - base:+.4f})")
        latency = entry.get("latency_ms", {})
        host = latency.get("host")
        lat = "-" if not host else f"{host['median_ms']:.3f} ms (cv {host['cv']:.2f})"
        mcu = ", ".join(
            f"{t} {v['median_ms']:.1f} ms{_board_figures(v)} ({v['source']})"
            for t, v in latency.items()
            if t != "host" and v.get("median_ms") is not None
        )
        arena = entry.get("arena_bytes")
        macs = entry.get("macs")
        rows.append(
            [
                fmt,
                f"{entry.get('size_bytes', 0) / 1024:.1f} KB",
                acc,
                "-" if arena is None else f"{arena / 1024:.1f} KB",
                lat,
                mcu or "-",
                "-" if macs is None else f"{macs:,}",
                ", ".join(entry.get("ops", [])) or "-",
            ]
        )
    header = ["format", "size", metric, "TFLM arena", "host latency", "MCU latency",
              "MACs", "ops"]
    seen = report.get("validation_in_training") and base is not None
    note = ("The model was trained on the validation data too (refit on all the data): these "
            "scores are not held out; the search's scores are.")
    if markdown:
        lines = ["# Deployment report", ""]
        if base is not None:
            lines += [f"Float (Keras) validation {metric}: {base:.4f}", ""]
        if seen:
            lines += [note, ""]
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        if report.get("front_end"):
            lines += ["", _front_end_line(report)]
        lines += ["", f"Runtime: {report.get('runtime', '?')}", "", "## Files", ""]
        for fmt, path in report.get("files", {}).items():
            lines.append(f"- {fmt}: {', '.join(path) if isinstance(path, list) else path}")
        return "\n".join(lines)
    lines = ["Export report"]
    if seen:
        lines.append(f"  {note}")
    if base is not None:
        lines.append(f"  {metric}  float (Keras)   {base:.4f}")
    for row in rows:
        lines.append(f"  {row[0]:<16} size {row[1]:>9}  {metric} {row[2]}")
        if row[3] != "-":
            lines.append(f"  {'':<16} arena {row[3]}, host {row[4]}, {row[5]}, MACs {row[6]}")
    cost = report.get("int8_cost")
    if cost:
        lines.append(
            f"  int8 model: flash {cost['flash_kb']:.1f} KB, TFLite Micro arena "
            f"{cost['peak_ram_kb']:.1f} KB, host latency {cost['latency_ms']:.3f} ms"
        )
    if report.get("front_end"):
        lines.append(f"  {_front_end_line(report)}")
    for fmt, path in report.get("files", {}).items():
        lines.append(f"  {fmt:<15} {', '.join(path) if isinstance(path, list) else path}")
    return "\n".join(lines)


def _front_end_line(report: dict) -> str:
    """The audio front-end's parameters and cost, and its share of the pipeline's."""
    fe = report["front_end"]
    text = (f"Front-end (runs before the network, TFLite Micro): {fe['window_ms']:g}-ms windows every "
            f"{fe['hop_ms']:g} ms, {fe['bands']} mel bands{', noise reduction and PCAN' if fe.get('pcan') else ''}; file {fe['size_bytes'] / 1024:.1f} KB, "
            f"arena {fe['arena_bytes'] / 1024:.1f} KB")
    pipeline = report.get("pipeline")
    if pipeline:
        text += (f"; with the int8 network: flash {pipeline['flash_bytes'] / 1024:.1f} KB "
                 f"({pipeline['front_end_flash_share']:.0%} front-end), arena {pipeline['arena_bytes'] / 1024:.1f} KB "
                 f"({pipeline['front_end_arena_share']:.0%} front-end)")
    return text


def _quantization(detail: dict) -> tuple[float, int] | None:
    scale, zero_point = detail["quantization"]
    return (float(scale), int(zero_point)) if scale else None
