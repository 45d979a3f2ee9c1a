"""Attach metadata (labels, input normalisation, description) to a `.tflite` file.

The TFLite Support metadata writers (`tflite-support`) cannot be installed
next to TensorFlow 2.21: its last release (0.4.4) requires
`protobuf<4`, while TF 2.21 needs a newer protobuf. So the metadata is
written into the flatbuffer's standard `Model.metadata` table (name ->
buffer), with the schema TensorFlow ships
(`tensorflow.lite.python.schema_py_generated`):

- `"keras_nas"`: a UTF-8 JSON object (`description`, `labels`,
  `normalization`, `input`, `output`, anything passed as `extra`);
- `"labels.txt"`: one label per line, as in a labels file;
- `"TFLITE_METADATA"`: the TFLite Support format that Android's Task Library
  and metadata readers expect, with the labels in a zip appended to the
  model (`keras_nas.tflite.support_metadata`).

Interpreters ignore metadata entries they do not know, so the model runs
exactly as before on LiteRT and TFLite Micro; `read_metadata` reads them
back.
"""

from __future__ import annotations

import json
from typing import Any, Sequence

from .interpreter import ModelSource, as_model_bytes
from .normalization import applies, layer_statistics
from .support_metadata import SUPPORT_METADATA_NAME, pack_label_file, support_entry

METADATA_NAME = "keras_nas"
LABELS_NAME = "labels.txt"


def _schema():
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    return schema, flatbuffer_utils


def add_metadata(
    model_content: ModelSource,
    labels: Sequence[str] | None = None,
    normalization: dict[str, Any] | None = None,
    description: str = "",
    extra: dict[str, Any] | None = None,
) -> bytes:
    """Return a copy of a `.tflite` model with keras-nas metadata entries.

    Existing entries named `"keras_nas"` or `"labels.txt"` are replaced;
    other metadata (e.g. the converter's `min_runtime_version`) is kept.

    Args:
        model_content: The `.tflite` flatbuffer as bytes, or a file path.
        labels: Class names, in output order (written as `labels.txt` too).
        normalization: How inputs are normalised, e.g.
            `{"mean": [0.5], "std": [0.3], "in_model": True}` (`in_model`:
            the model contains the normalisation layer, so it takes raw
            inputs). Values must be JSON-serializable.
        description: Free text describing the model.
        extra: More JSON-serializable fields for the `"keras_nas"` entry.

    Returns:
        The new flatbuffer bytes.

    Raises:
        InvalidModelError: `model_content` is not a TFLite flatbuffer.
        ValueError: `labels` are not strings, contain a newline, or a value
            is not JSON-serializable.

    Example:

    >>> with_metadata = add_metadata(model_bytes, labels=["yes", "no"],
    ...     normalization={"mean": [0.1], "std": [0.9], "in_model": True})  # doctest: +SKIP
    >>> read_metadata(with_metadata)["labels"]  # doctest: +SKIP
    ['yes', 'no']
    """
    data = as_model_bytes(model_content)
    if labels is not None:
        labels = list(labels)
        bad = [label for label in labels if not isinstance(label, str) or "\n" in label]
        if bad:
            raise ValueError(
                f"labels must be strings without newlines; got {bad[:3]!r}."
            )
    entry = {"description": str(description)}
    if labels is not None:
        entry["labels"] = labels
    if normalization is not None:
        entry["normalization"] = normalization
    entry.update(extra or {})
    try:
        payload = json.dumps(entry, sort_keys=True).encode("utf-8")
    except (TypeError, ValueError) as e:
        raise ValueError(f"Metadata values must be JSON-serializable: {e}") from e

    schema, flatbuffer_utils = _schema()
    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(data))
    entries = {METADATA_NAME: payload}
    if labels is not None:
        entries[LABELS_NAME] = ("\n".join(labels) + "\n").encode("utf-8")
    entries[SUPPORT_METADATA_NAME] = support_entry(labels, normalization, str(description))
    kept = [m for m in (model.metadata or []) if _name(m.name) not in entries]
    for name, content in entries.items():
        buffer = schema.BufferT()
        buffer.data = list(content)
        model.buffers.append(buffer)
        item = schema.MetadataT()
        item.name = name
        item.buffer = len(model.buffers) - 1
        kept.append(item)
    model.metadata = kept
    content = bytes(flatbuffer_utils.convert_object_to_bytearray(model))
    return content if labels is None else pack_label_file(content, labels)  # read by Android's Task Library


def _name(value) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def read_metadata(model_content: ModelSource) -> dict[str, Any]:
    """Read the metadata entries of a `.tflite` model.

    Args:
        model_content: The `.tflite` flatbuffer as bytes, or a file path.

    Returns:
        A dict: the fields of the `"keras_nas"` JSON entry (if any), plus
        `"labels"` from `labels.txt` when the JSON has none, and `"entries"`:
        every metadata name in the file mapped to its size in bytes.

    Raises:
        InvalidModelError: `model_content` is not a TFLite flatbuffer.

    Example:

    >>> read_metadata("model_int8.tflite")["normalization"]  # doctest: +SKIP
    {'in_model': True, 'mean': [0.1], 'std': [0.9]}
    """
    data = as_model_bytes(model_content)
    schema, _ = _schema()
    model = schema.Model.GetRootAsModel(data, 0)
    result: dict[str, Any] = {}
    entries = {}
    raw = {}
    for i in range(model.MetadataLength()):
        item = model.Metadata(i)
        name = _name(item.Name())
        buffer = model.Buffers(item.Buffer())
        content = buffer.DataAsNumpy().tobytes() if buffer.DataLength() else b""
        entries[name] = len(content)
        raw[name] = content
    if METADATA_NAME in raw:
        result.update(json.loads(raw[METADATA_NAME].decode("utf-8")))
    if "labels" not in result and LABELS_NAME in raw:
        result["labels"] = raw[LABELS_NAME].decode("utf-8").splitlines()
    result["entries"] = entries
    return result


def model_metadata(model) -> dict[str, Any]:
    """The metadata a Keras model's `.tflite` files carry: its normalisation layer, input and classes.

    Args:
        model: A built Keras model.

    Returns:
        The keyword arguments `normalization`, `description` and `extra` of
        `add_metadata`.

    Example:

    >>> add_metadata(model_bytes, labels=["yes", "no"], **model_metadata(model))  # doctest: +SKIP
    """
    import keras  # here, not at the top: reading metadata needs no Keras

    normalization = None
    for layer in model.layers:
        if isinstance(layer, keras.layers.Normalization):
            mean, std = layer_statistics(layer)
            normalization = {
                "in_model": True,
                "layer": layer.name,
                "mean": [float(v) for v in mean],
                "std": [float(v) for v in std],
                "note": "The model normalises its input itself: feed raw, unnormalised inputs.",
            }
            break
    if normalization is None:
        normalization = {"in_model": False, "note": "No normalisation layer: feed inputs as in training."}
    shape = [None if d is None else int(d) for d in model.inputs[0].shape]
    output_shape = [None if d is None else int(d) for d in model.outputs[0].shape[1:]]
    return {
        "normalization": normalization,
        "description": f"keras-nas model {model.name!r}, input shape {shape[1:]}, output shape {output_shape}.",
        "extra": {"input_shape": shape[1:], "num_classes": int(model.outputs[0].shape[-1]),
                  "producer": "keras-nas"},
    }


def with_metadata(model, content: ModelSource, labels: Sequence[str] | None = None) -> bytes:
    """`content` (a conversion of `model`) with the metadata every exported file carries.

    The search measures a candidate near its flash limit with this, so that the
    limit holds for the bytes that ship (labels, unknown during the search, add
    a few bytes each; `NASModel.export` warns if they push the file over).

    Args:
        model: The Keras model `content` was converted from.
        content: The `.tflite` bytes.
        labels: Class names, or None.

    Returns:
        The `.tflite` bytes with metadata.

    Example:

    >>> open("model.tflite", "wb").write(with_metadata(model, to_tflite(model, "int8", x)))  # doctest: +SKIP
    """
    metadata = model_metadata(model)
    converted = read_metadata(content)  # the converter took layers out (`standardization`)
    if applies(converted.get("normalization")):
        metadata["normalization"] = converted["normalization"]
    if "output_normalization" in converted:
        metadata["extra"]["output_normalization"] = converted["output_normalization"]
    return add_metadata(content, labels=labels, **metadata)
