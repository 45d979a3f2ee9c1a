"""Write a TFLite model as C++ source for TFLite Micro, and read it back."""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

from . import micro
from .interpreter import ModelSource, as_model_bytes, load_interpreter
from .metadata import read_metadata
from .ops import model_ops, resolver_method
from .normalization import applies
from .quantization import tensor_quantization

# Arena margin added to the measured TFLite Micro arena in the header:
# max(ARENA_MARGIN_MIN_BYTES, ARENA_MARGIN_FRACTION * measured), rounded up to
# ARENA_ALIGNMENT. The measurement uses TFLM's reference kernels on a 64-bit
# host; optimized kernels (CMSIS-NN, ESP-NN, ...) allocate extra scratch
# buffers and alignment padding differs per platform, so the exact figure
# may be a little short on the device. 32-bit targets have smaller
# interpreter structs, which only helps.
ARENA_MARGIN_FRACTION = 0.25
ARENA_MARGIN_MIN_BYTES = 1024
ARENA_ALIGNMENT = 16

BYTES_PER_LINE = 12

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ARRAY = re.compile(r"\[\s*\]\s*=\s*\{(?P<body>[^}]*)\}\s*;", re.S)
_LENGTH = re.compile(r"_len\s*=\s*(?P<n>\d+)\s*;")


def arena_with_margin(measured_bytes: int) -> int:
    """Arena size to declare on the device for a measured TFLM arena.

    Args:
        measured_bytes: Arena measured by `arena_bytes()`.

    Returns:
        `measured + max(1024, 25% of measured)`, rounded up to 16 bytes.

    Example:

    >>> arena_with_margin(2320)
    3344
    """
    margin = max(ARENA_MARGIN_MIN_BYTES, math.ceil(measured_bytes * ARENA_MARGIN_FRACTION))
    total = measured_bytes + margin
    return -(-total // ARENA_ALIGNMENT) * ARENA_ALIGNMENT


def _camel(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.split("_") if part)


camel_name = _camel  # `<Name>` of the header's constants for a `name` (model_data -> ModelData)


def _c_string(text: str) -> str:
    out = []
    for byte in str(text).encode("utf-8"):
        char = chr(byte)
        if char in '"\\':
            out.append("\\" + char)
        elif 32 <= byte < 127 and char != "?":
            out.append(char)
        else:  # octal escapes take at most 3 digits, unlike \x
            out.append(f"\\{byte:03o}")
    return '"' + "".join(out) + '"'


def _c_float(value: float) -> str:
    text = f"{float(value):.9g}"
    if not any(c in text for c in ".eE") and text not in ("inf", "-inf", "nan"):
        text += ".0"
    return text + "f"


def _array_lines(data: bytes) -> list[str]:
    return [
        "    " + ", ".join(f"0x{b:02x}" for b in data[i : i + BYTES_PER_LINE]) + ","
        for i in range(0, len(data), BYTES_PER_LINE)
    ]


def _resolver_comment(ops, camel: str) -> list[str]:
    return [
        "// TFLite Micro op resolver for this model",
        '// (#include "tensorflow/lite/micro/micro_mutable_op_resolver.h" before this header):',
        "//",
        f"//   tflite::MicroMutableOpResolver<k{camel}OpCount> resolver;",
        f"//   if (!{camel}RegisterOps(resolver)) {{ /* an op could not be added */ }}",
    ]


def _resolver_code(ops, camel: str) -> list[str]:
    """`k<Name>OpCount` and `<Name>RegisterOps(resolver)`, which adds every op the model uses."""
    lines = [
        f"// The {len(ops)} op(s) of the model, added to a tflite::MicroMutableOpResolver<k{camel}OpCount>.",
        "// Returns false if the resolver refused one (e.g. it is full).",
        f"constexpr int k{camel}OpCount = {len(ops)};",
        "template <typename OpResolver>",
        f"bool {camel}RegisterOps(OpResolver& resolver) {{",
    ]
    for op in ops:
        method = resolver_method(op)
        if method:
            lines.append(f"  if (resolver.{method}() != 0) return false;  // {op}")
        else:  # fails to compile only if the function is used
            lines.append(
                f'  static_assert(sizeof(OpResolver) == 0, "{op}: no MicroMutableOpResolver method is known '
                'for this op (not in TFLite Micro?)");'
            )
    lines += ["  return true;", "}"]
    return lines


def write_c_array(
    model_content: ModelSource,
    directory: str | os.PathLike,
    name: str = "model_data",
    arena_bytes: int | None = None,
    input_quantization: tuple[float, int] | None = None,
    output_quantization: tuple[float, int] | None = None,
    labels: list[str] | None = None,
    output_description: list[str] | None = None,
) -> tuple[Path, Path]:
    """Write `<name>.cc` and `<name>.h` embedding a model for TFLite Micro.

    The `.cc` file holds `alignas(16) const unsigned char g_<name>[]` with the
    exact model bytes (12 per line) and `const unsigned int g_<name>_len`.
    The header declares both and defines `constexpr` constants:
    `k<Name>ArenaSize` (measured arena + margin, see `arena_with_margin`),
    `k<Name>MeasuredArenaBytes`, `k<Name>InputScale`/`InputZeroPoint`,
    `k<Name>OutputScale`/`OutputZeroPoint` (scale 0 for float tensors),
    `k<Name>NumLabels`/`k<Name>Labels` when labels are given, `k<Name>OpCount`
    and the function template `<Name>RegisterOps(resolver)`, which adds every
    op the model needs to a `tflite::MicroMutableOpResolver<k<Name>OpCount>`
    (include TFLite Micro's `micro_mutable_op_resolver.h` first). Both files
    compile with `g++ -std=c++17 -c`.

    Args:
        model_content: The `.tflite` flatbuffer as bytes, or a file path.
        directory: Output directory (created if missing).
        name: C identifier used for the file names and symbols;
            `<Name>` is its CamelCase form (`model_data` -> `ModelData`).
        arena_bytes: Measured arena in bytes; measured with TFLite Micro
            (`arena_bytes()`) when `None`.
        input_quantization: `(scale, zero_point)` of the input; read from
            the model when `None` (give both for a file only TFLite Micro
            runs, such as an audio front-end's: LiteRT cannot read it).
        output_quantization: `(scale, zero_point)` of the output; read from
            the model when `None`.
        labels: Class names, written as `k<Name>Labels`.
        output_description: Header lines (comments and constants) saying
            how to read the output (class scores, regression values, a
            reconstruction), written after the quantization constants.

    Returns:
        `(cc_path, header_path)`.

    Raises:
        ValueError: `name` is not a valid C identifier.
        InvalidModelError: The model is invalid or TFLite Micro cannot run it.

    Example:

    >>> cc, h = write_c_array(model_bytes, "out/", name="kws_model",
    ...                       labels=["yes", "no"])  # doctest: +SKIP
    >>> read_c_array(cc) == model_bytes  # doctest: +SKIP
    True
    """
    if not isinstance(name, str) or not _IDENTIFIER.match(name):
        raise ValueError(
            f"name must be a C identifier (letters, digits, underscores; not starting "
            f"with a digit), got {name!r}."
        )
    data = as_model_bytes(model_content)
    if input_quantization is None or output_quantization is None:
        interpreter = load_interpreter(data)
        input_quantization = input_quantization or tensor_quantization(interpreter.get_input_details()[0])
        output_quantization = output_quantization or tensor_quantization(interpreter.get_output_details()[0])
    measured = micro.arena_bytes(data) if arena_bytes is None else int(arena_bytes)
    in_scale, in_zero = input_quantization
    out_scale, out_zero = output_quantization
    ops = model_ops(data)

    camel = _camel(name)
    symbol = f"g_{name}"
    guard = f"KERAS_NAS_{name.upper()}_H_"
    source = (
        "measured by TFLite Micro on the host (reference kernels)"
        if arena_bytes is None
        else "as given to write_c_array"
    )
    header = [
        f"// Generated by keras_nas.tflite.write_c_array from a {len(data)}-byte TFLite model.",
        "// Do not edit: regenerate from the .tflite file instead.",
        "//",
        f"// Ops ({len(ops)}): {', '.join(ops)}",
        "//",
        *_resolver_comment(ops, camel),
        "//",
        "// Tensor arena:",
        f"//   alignas(16) static unsigned char tensor_arena[k{camel}ArenaSize];",
        "",
        f"#ifndef {guard}",
        f"#define {guard}",
        "",
        "// The .tflite flatbuffer, 16-byte aligned as TFLite Micro requires.",
        f"extern const unsigned char {symbol}[];",
        f"extern const unsigned int {symbol}_len;",
        "",
        f"// Tensor arena: {measured} bytes {source},",
        f"// plus a margin of max({ARENA_MARGIN_MIN_BYTES} bytes, {ARENA_MARGIN_FRACTION:.0%}) for optimized kernels'",
        f"// scratch buffers and platform alignment, rounded up to {ARENA_ALIGNMENT} bytes.",
        f"constexpr int k{camel}ArenaSize = {arena_with_margin(measured)};",
        f"constexpr int k{camel}MeasuredArenaBytes = {measured};",
        "",
        "// Quantization, real = scale * (q - zero_point); scale 0 means a float tensor.",
        f"constexpr float k{camel}InputScale = {_c_float(in_scale)};",
        f"constexpr int k{camel}InputZeroPoint = {int(in_zero)};",
        f"constexpr float k{camel}OutputScale = {_c_float(out_scale)};",
        f"constexpr int k{camel}OutputZeroPoint = {int(out_zero)};",
        "",
        *_standardization_lines(read_metadata(data), camel),
        *([*output_description, ""] if output_description else []),
        *_resolver_code(ops, camel),
    ]
    if labels is not None:
        labels = [str(label) for label in labels]
        header += [
            "",
            f"constexpr int k{camel}NumLabels = {len(labels)};",
            f"constexpr const char* k{camel}Labels[] = {{",
            *[f"    {_c_string(label)}," for label in labels],
            "};",
        ]
    header += ["", f"#endif  // {guard}", ""]

    cc = [
        f"// Generated by keras_nas.tflite.write_c_array: the {len(data)}-byte TFLite model.",
        "// Do not edit: regenerate from the .tflite file instead.",
        "",
        f'#include "{name}.h"',
        "",
        f"alignas(16) const unsigned char {symbol}[] = {{",
        *_array_lines(data),
        "};",
        "",
        f"const unsigned int {symbol}_len = {len(data)};",
        "",
    ]

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    cc_path, h_path = directory / f"{name}.cc", directory / f"{name}.h"
    h_path.write_text("\n".join(header), encoding="utf-8")
    cc_path.write_text("\n".join(cc), encoding="utf-8")
    return cc_path, h_path


def _standardization_lines(metadata: dict, camel: str) -> list[str]:
    """Header constants for a file that takes standardized features or gives standardized outputs.

    See `keras_nas.tflite.standardization`; none for a file that takes and gives raw values.
    """
    k = f"k{camel}"
    sides = [
        ("normalization", "Input", [
            "// The model takes standardized features: for each input value x of feature i (the last axis),",
            f"// q = round(((x - {k}InputMean[i]) / {k}InputStd[i]) / {k}InputScale) + {k}InputZeroPoint."]),
        ("output_normalization", "Output", [
            "// The model gives standardized outputs: for each output value q of output i (the last axis),",
            f"// y = {k}OutputScale * (q - {k}OutputZeroPoint) * {k}OutputStd[i] + {k}OutputMean[i]."]),
    ]
    lines = []
    for key, side, comment in sides:
        entry = metadata.get(key)
        if applies(entry):
            lines += [
                *comment,
                f"constexpr int {k}Num{side}Features = {len(entry['mean'])};",
                f"constexpr float {k}{side}Mean[] = {{{', '.join(_c_float(v) for v in entry['mean'])}}};",
                f"constexpr float {k}{side}Std[] = {{{', '.join(_c_float(v) for v in entry['std'])}}};",
                "",
            ]
    return lines


def read_c_array(cc_path: str | os.PathLike) -> bytes:
    """Parse the model bytes back out of a `.cc` file from `write_c_array`.

    Also reads other `const unsigned char name[] = {0x.., ...};` files (such
    as `xxd -i` output). When a `..._len = N;` definition is present, its
    value must match the number of bytes.

    Args:
        cc_path: Path of the `.cc` file.

    Returns:
        The bytes of the first array in the file.

    Raises:
        ValueError: No byte array found, a value is not a byte, or the
            length does not match `_len`.

    Example:

    >>> read_c_array("out/model_data.cc") == open("model.tflite", "rb").read()  # doctest: +SKIP
    True
    """
    text = Path(cc_path).read_text(encoding="utf-8")
    text = re.sub(r"//[^\n]*|/\*.*?\*/", "", text, flags=re.S)
    match = _ARRAY.search(text)
    if not match:
        raise ValueError(f"No `name[] = {{...}};` byte array found in {str(cc_path)!r}.")
    tokens = [t.strip() for t in match.group("body").split(",") if t.strip()]
    try:
        values = [int(t, 0) for t in tokens]
    except ValueError as e:
        raise ValueError(f"Non-integer value in the byte array of {str(cc_path)!r}: {e}") from e
    if any(not 0 <= v <= 255 for v in values):
        raise ValueError(f"The array in {str(cc_path)!r} has values outside 0..255.")
    data = bytes(values)
    length = _LENGTH.search(text[match.end() :])
    if length and int(length.group("n")) != len(data):
        raise ValueError(
            f"{str(cc_path)!r} declares {length.group('n')} bytes but the array holds {len(data)}."
        )
    return data
