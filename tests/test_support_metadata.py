"""The TFLite Support metadata phones read, checked with an independent reader.

The `TFLITE_METADATA` entry is found with TensorFlow's own TFLite schema and
read with flatbuffers' raw `Table` API, field by field at the vtable slots of
the published metadata_schema.fbs (tensorflow/tflite-support); the label
file is read from the zip archive appended to the model, as Android's
metadata extractor reads it.
"""

import io
import os
import zipfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import flatbuffers  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from flatbuffers import number_types  # noqa: E402
from flatbuffers.table import Table  # noqa: E402
from tensorflow.lite.python import schema_py_generated as schema  # noqa: E402

from keras_nas import tflite  # noqa: E402
from keras_nas.export import export_model  # noqa: E402

LABELS = ["cat", "dog", "bird"]


def _field(table: Table, slot: int) -> int:
    return table.Offset(4 + 2 * slot)


def _string(table: Table, slot: int) -> str | None:
    o = _field(table, slot)
    return table.String(o + table.Pos).decode() if o else None


def _byte(table: Table, slot: int) -> int:
    o = _field(table, slot)
    return table.Get(number_types.Uint8Flags, o + table.Pos) if o else 0


def _child(table: Table, slot: int) -> Table:
    return Table(table.Bytes, table.Indirect(_field(table, slot) + table.Pos))


def _tables(table: Table, slot: int) -> list[Table]:
    o = _field(table, slot)
    if not o:
        return []
    start = table.Vector(o)
    return [Table(table.Bytes, table.Indirect(start + 4 * i)) for i in range(table.VectorLen(o))]


def _floats(table: Table, slot: int) -> list[float]:
    o = _field(table, slot)
    start = table.Vector(o)
    return [table.Get(number_types.Float32Flags, start + 4 * i) for i in range(table.VectorLen(o))]


def support_metadata(model_bytes: bytes) -> dict:
    """Reads the TFLITE_METADATA entry: labels file, normalization, parser version."""
    model = schema.Model.GetRootAs(model_bytes, 0)
    entries = {model.Metadata(i).Name().decode(): model.Metadata(i).Buffer() for i in range(model.MetadataLength())}
    buffer = model.Buffers(entries["TFLITE_METADATA"]).DataAsNumpy().tobytes()
    assert flatbuffers.util.BufferHasIdentifier(buffer, 0, b"M001")
    root = Table(bytearray(buffer), flatbuffers.encode.Get(flatbuffers.packer.uoffset, buffer, 0))
    (subgraph,) = _tables(root, 3)  # ModelMetadata.subgraph_metadata
    (inputs,) = _tables(subgraph, 2)  # SubGraphMetadata.input_tensor_metadata
    (outputs,) = _tables(subgraph, 3)  # .output_tensor_metadata
    (unit,) = _tables(inputs, 4)  # TensorMetadata.process_units
    assert _byte(unit, 0) == 1  # ProcessUnit.options_type: NormalizationOptions
    options = _child(unit, 1)
    files = [{"name": _string(f, 0), "type": _byte(f, 2)} for f in _tables(outputs, 6)]
    return {"min_parser_version": _string(root, 7), "mean": _floats(options, 0), "std": _floats(options, 1),
            "files": files, "input_content_type": _byte(_child(inputs, 3), 0)}


def packed_files(model_bytes: bytes) -> dict[str, str]:
    with zipfile.ZipFile(io.BytesIO(model_bytes)) as archive:
        return {name: archive.read(name).decode() for name in archive.namelist()}


@pytest.fixture(scope="module")
def classifier():
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).random((60, 6)).astype("float32") * [1, 10, 100, 1, 1, 1]
    y = np.arange(60) % 3
    inputs = keras.Input((6,))
    norm = keras.layers.Normalization()
    norm.adapt(x)
    h = keras.layers.Dense(8, activation="relu")(norm(inputs))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(h))
    model.compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
    return model, x, y


def test_exported_int8_classifier_carries_labels_and_normalization(classifier, tmp_path):
    model, x, y = classifier
    report = export_model(model, tmp_path, ["tflite-int8"], representative_data=x[:40], x_val=x, y_val=y,
                          labels=LABELS, verbose=False)
    content = (tmp_path / "model_int8.tflite").read_bytes()
    meta = support_metadata(content)
    assert meta["files"] == [{"name": "labels.txt", "type": 2}]  # TENSOR_AXIS_LABELS
    assert packed_files(content) == {"labels.txt": "cat\ndog\nbird\n"}
    assert (tmp_path / "labels.txt").read_text() == "cat\ndog\nbird\n"
    assert report["files"]["labels"] == str(tmp_path / "labels.txt")
    assert meta["min_parser_version"] == "1.0.0" and meta["input_content_type"] == 1
    # The normalization a reader applies to raw inputs: the file's own statistics when it
    # takes standardized features, else the identity (the model normalizes itself).
    entry = tflite.read_metadata(content)["normalization"]
    if entry.get("in_model") is False and "mean" in entry:
        assert meta["mean"] == pytest.approx(entry["mean"]) and meta["std"] == pytest.approx(entry["std"])
    else:
        assert meta["mean"] == [0.0] and meta["std"] == [1.0]
    # The file still runs, trailing archive and all.
    assert tflite.predict(content, x[:4]).shape == (4, 3)


def test_standardized_inputs_give_their_statistics():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((2,))
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(inputs))
    content = tflite.to_tflite(model, "float32")
    normalization = {"in_model": False, "mean": [1.5, -2.0], "std": [0.5, 4.0]}
    meta = support_metadata(tflite.add_metadata(content, labels=["a", "b"], normalization=normalization))
    assert meta["mean"] == [1.5, -2.0] and meta["std"] == [0.5, 4.0]
    assert meta["files"][0]["name"] == "labels.txt"


def test_a_classifier_without_labels_gets_class_indices_beside_it(classifier, tmp_path):
    model, x, y = classifier
    export_model(model, tmp_path, ["tflite-int8"], representative_data=x[:40], verbose=False)
    assert (tmp_path / "labels.txt").read_text() == "0\n1\n2\n"
    assert support_metadata((tmp_path / "model_int8.tflite").read_bytes())["files"] == []
