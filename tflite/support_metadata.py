"""The TFLite Support metadata Android reads: a `TFLITE_METADATA` entry and the packed label file.

Android's Task Library and the TFLite Support metadata readers look for a
`Model.metadata` entry named `"TFLITE_METADATA"` holding a `ModelMetadata`
flatbuffer (file identifier `"M001"`, the published
`tensorflow_lite_support/metadata/metadata_schema.fbs`), and for its
associated files in a zip archive appended to the model. `tflite-support`
itself cannot be installed next to TensorFlow 2.21 (it pins `protobuf<4`), so
the flatbuffer is built here with the `flatbuffers` package, field by field
as the schema's generated builders would:

- `ModelMetadata`: name, description, one `SubGraphMetadata`,
  `min_parser_version` "1.0.0";
- the input `TensorMetadata`: a `NormalizationOptions` process unit (`mean`,
  `std`: what to apply to raw inputs, `(x - mean) / std`; identity when the
  model normalises its input itself);
- the output `TensorMetadata`: the label file as an `AssociatedFile` of type
  `TENSOR_AXIS_LABELS`, packed as `labels.txt` in the appended zip.

Interpreters (LiteRT, TFLite Micro) ignore both the entry and the bytes after
the flatbuffer.
"""

from __future__ import annotations

import io
import zipfile
from typing import Sequence

import flatbuffers

from .normalization import applies

SUPPORT_METADATA_NAME = "TFLITE_METADATA"
FILE_IDENTIFIER = b"M001"
MIN_PARSER_VERSION = "1.0.0"
LABEL_FILE = "labels.txt"
# Enum values of metadata_schema.fbs.
TENSOR_AXIS_LABELS = 2  # AssociatedFileType
FEATURE_PROPERTIES = 1  # ContentProperties union
NORMALIZATION_OPTIONS = 1  # ProcessUnitOptions union

# Field slots (declaration order) of the tables written, from metadata_schema.fbs.
MODEL_METADATA = {"name": 0, "description": 1, "version": 2, "subgraph_metadata": 3, "author": 4,
                  "license": 5, "associated_files": 6, "min_parser_version": 7}
SUBGRAPH_METADATA = {"name": 0, "description": 1, "input_tensor_metadata": 2, "output_tensor_metadata": 3,
                     "associated_files": 4, "input_process_units": 5, "output_process_units": 6}
TENSOR_METADATA = {"name": 0, "description": 1, "dimension_names": 2, "content": 3, "process_units": 4,
                   "stats": 5, "associated_files": 6}
CONTENT = {"content_properties_type": 0, "content_properties": 1, "range": 2}
PROCESS_UNIT = {"options_type": 0, "options": 1}
NORMALIZATION = {"mean": 0, "std": 1}
ASSOCIATED_FILE = {"name": 0, "description": 1, "type": 2, "locale": 3}


def _table(builder: flatbuffers.Builder, fields: dict[str, int], offsets: dict, scalars: dict | None = None) -> int:
    """Writes one table: `offsets` (strings, vectors, tables) and byte `scalars`, by field name."""
    builder.StartObject(len(fields))
    for name, value in offsets.items():
        builder.PrependUOffsetTRelativeSlot(fields[name], value, 0)
    for name, value in (scalars or {}).items():
        builder.PrependUint8Slot(fields[name], value, 0)
    return builder.EndObject()


def _vector_of_tables(builder: flatbuffers.Builder, items: Sequence[int]) -> int:
    builder.StartVector(4, len(items), 4)
    for item in reversed(items):
        builder.PrependUOffsetTRelative(item)
    return builder.EndVector()


def _vector_of_floats(builder: flatbuffers.Builder, values: Sequence[float]) -> int:
    builder.StartVector(4, len(values), 4)
    for value in reversed(values):
        builder.PrependFloat32(float(value))
    return builder.EndVector()


def model_metadata_buffer(
    name: str,
    description: str,
    mean: Sequence[float],
    std: Sequence[float],
    labels: Sequence[str] | None,
) -> bytes:
    """The `ModelMetadata` flatbuffer of a classifier (or any model, without `labels`).

    Args:
        name: The model's name.
        description: What the model does.
        mean: Per-channel mean to subtract from raw inputs (one value: all channels).
        std: Per-channel standard deviation to divide by.
        labels: Class names in output order: the output gets `labels.txt`
            as a `TENSOR_AXIS_LABELS` associated file. `None`: no labels.

    Returns:
        The flatbuffer bytes (file identifier "M001").

    Raises:
        ValueError: `mean` and `std` of different lengths, or empty.
    """
    mean, std = [float(v) for v in mean], [float(v) for v in std]
    if not mean or len(mean) != len(std):
        raise ValueError(f"Normalization needs as many std as means, got mean={mean}, std={std}.")
    # A constant feature (std 0, e.g. a border pixel) is only shifted, as Keras' Normalization does.
    std = [v if v > 0 else 1.0 for v in std]
    b = flatbuffers.Builder(1024)
    norm = _table(b, NORMALIZATION, {"mean": _vector_of_floats(b, mean), "std": _vector_of_floats(b, std)})
    unit = _table(b, PROCESS_UNIT, {"options": norm}, {"options_type": NORMALIZATION_OPTIONS})
    b.StartObject(0)
    features = b.EndObject()
    content = _table(b, CONTENT, {"content_properties": features},
                     {"content_properties_type": FEATURE_PROPERTIES})
    input_tensor = _table(b, TENSOR_METADATA, {
        "name": b.CreateString("input"),
        "description": b.CreateString("Raw input: normalized out of graph as (x - mean) / std."),
        "content": content,
        "process_units": _vector_of_tables(b, [unit]),
    })
    output = {"name": b.CreateString("probabilities" if labels is not None else "output")}
    if labels is not None:
        label_file = _table(b, ASSOCIATED_FILE, {
            "name": b.CreateString(LABEL_FILE),
            "description": b.CreateString("Class names, one per line, in output order."),
        }, {"type": TENSOR_AXIS_LABELS})
        output["associated_files"] = _vector_of_tables(b, [label_file])
    out_content = _table(b, CONTENT, {"content_properties": features},
                         {"content_properties_type": FEATURE_PROPERTIES})
    output["content"] = out_content
    output_tensor = _table(b, TENSOR_METADATA, output)
    subgraph = _table(b, SUBGRAPH_METADATA, {
        "input_tensor_metadata": _vector_of_tables(b, [input_tensor]),
        "output_tensor_metadata": _vector_of_tables(b, [output_tensor]),
    })
    root = _table(b, MODEL_METADATA, {
        "name": b.CreateString(name),
        "description": b.CreateString(description),
        "subgraph_metadata": _vector_of_tables(b, [subgraph]),
        "min_parser_version": b.CreateString(MIN_PARSER_VERSION),
    })
    b.Finish(root, file_identifier=FILE_IDENTIFIER)
    return bytes(b.Output())


def pack_label_file(model_bytes: bytes, labels: Sequence[str]) -> bytes:
    """`model_bytes` with a zip archive holding `labels.txt` appended (as TFLite Support packs it)."""
    buffer = io.BytesIO()
    buffer.write(model_bytes)
    with zipfile.ZipFile(buffer, "a", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr(LABEL_FILE, label_text(labels))
    return buffer.getvalue()


def label_text(labels: Sequence[str]) -> str:
    """The content of `labels.txt`: one class name per line."""
    return "".join(f"{label}\n" for label in labels)


def support_entry(labels: Sequence[str] | None, normalization: dict | None, description: str) -> bytes:
    """The `TFLITE_METADATA` buffer of a file with keras-nas `normalization` metadata.

    Its `NormalizationOptions` are what a reader applies to raw inputs: the
    statistics when the file takes standardized inputs
    (`keras_nas.tflite.standardization.applies`), else the identity (mean 0,
    std 1: the model normalises its input itself, or takes inputs as in training).
    """
    if applies(normalization):
        mean, std = normalization["mean"], normalization["std"]
    else:
        mean, std = [0.0], [1.0]
    return model_metadata_buffer("keras-nas model", description, mean, std, labels)
