"""Build (once, cached) the TFLite Micro firmware that measures models on emulated Cortex-M boards.

The firmware (sources in `firmware_src/`) is TFLite Micro with the CMSIS-NN
kernels (or TFLM's reference kernels), compiled out of tree from a TFLM
source tree that the user names, for one of the `BOARDS`. It loads the
`.tflite` at run time over semihosting, so one build serves every
candidate; `keras_nas.tflite.emulator` runs it on QEMU.

Only what the firmware needs is compiled: the TFLM framework, the kernels of
`FIRMWARE_OPS` (the ops keras-nas' int8 models use, and their neighbours) and,
for CMSIS-NN, its sources minus LSTM/SVDF and the float variants, in
parallel. The result is cached under
`$KERAS_NAS_CACHE_DIR/firmware/<key>` (default `~/.cache/keras-nas`), keyed
by the contents of every compiled source and header, the flags, the
compiler's version and this module's firmware sources; an entry is written to a
temporary folder and renamed into place, so a half-finished build is never
used. Each entry's manifest records its files' sizes and SHA-256, checked at
every use: a damaged entry is rebuilt (with a warning), and one process at a
time builds an entry (a lock file beside it).

Example:

>>> fw = build_firmware("cortex-m4", tflm_dir="/path/to/tflite-micro")  # doctest: +SKIP
>>> fw.elf, fw.ops[:3]  # doctest: +SKIP
(PosixPath('~/.cache/keras-nas/firmware/1f3c.../firmware.elf'), ('ADD', 'AVERAGE_POOL_2D', 'CONCATENATION'))
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import resource
import shutil
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from keras_nas.tflite.c_array import _camel as c_array_camel
from keras_nas.tflite.ops import resolver_method

FIRMWARE_VERSION = 1
"""Bumped when the build recipe changes in a way the cache key would not see."""

TFLM_DIR_ENV = "KERAS_NAS_TFLM_DIR"
CACHE_DIR_ENV = "KERAS_NAS_CACHE_DIR"
KERNEL_CHOICES = ("cmsis_nn", "reference")
# The tools the firmware is built and run with, and the Debian/Ubuntu packages that provide them.
TOOL_PACKAGES = {
    "arm-none-eabi-gcc": "gcc-arm-none-eabi libnewlib-arm-none-eabi",
    "arm-none-eabi-g++": "gcc-arm-none-eabi libstdc++-arm-none-eabi-newlib",
    "arm-none-eabi-ar": "binutils-arm-none-eabi",
    "qemu-system-arm": "qemu-system-arm",
}
TOOLCHAIN_PACKAGES = (
    "gcc-arm-none-eabi libnewlib-arm-none-eabi libstdc++-arm-none-eabi-newlib qemu-system-arm"
)
_SRC_DIR = Path(__file__).resolve().parent / "firmware_src"
_DOWNLOADS = Path("tensorflow/lite/micro/tools/make/downloads")
_KERNELS = Path("tensorflow/lite/micro/kernels")
_STACK_BYTES = 64 * 1024
_MB = 1 << 20


@dataclass(frozen=True)
class Board:
    """An emulated board: the QEMU machine, the compiler's CPU flags and the memory map.

    Attributes:
        target: keras-nas target name, e.g. `"cortex-m4"`.
        machine: QEMU machine (`qemu-system-arm -M`).
        cpu_flags: Compiler flags selecting the core and float ABI (TFLM's
            `cortex_m_generic` defaults for the target).
        core: CMSIS core name (`"M4"` -> `-DCPU_M4`, `ARMCM4.h`).
        code: `(origin, length)` of the memory the code runs from.
        ram: `(origin, length)` of the RAM for data, heap and stack.
        big: `(origin, length)` of a large RAM for the model, arena and
            sample buffers (which a deployed firmware would not count).
    """

    target: str
    machine: str
    cpu_flags: tuple[str, ...]
    core: str
    code: tuple[int, int]
    ram: tuple[int, int]
    big: tuple[int, int]


BOARDS: dict[str, Board] = {
    "cortex-m4": Board(
        "cortex-m4", "mps2-an386", ("-mcpu=cortex-m4+nofp", "-mfloat-abi=soft"), "M4",
        code=(0x0, 4 * _MB), ram=(0x20000000, 4 * _MB), big=(0x21000000, 16 * _MB),
    ),
    "cortex-m7": Board(
        "cortex-m7", "mps2-an500", ("-mcpu=cortex-m7+nofp", "-mfloat-abi=soft"), "M7",
        code=(0x0, 4 * _MB), ram=(0x20000000, 4 * _MB), big=(0x60000000, 16 * _MB),
    ),
    "cortex-m55": Board(
        "cortex-m55", "mps3-an547", ("-mcpu=cortex-m55", "-mfloat-abi=hard"), "M55",
        code=(0x0, 512 * 1024), ram=(0x20000000, 512 * 1024), big=(0x60000000, 16 * _MB),
    ),
}  # fmt: skip
"""Emulated boards by target: QEMU's MPS2/MPS3 images for Cortex-M4, -M7 and -M55."""

# Buffers in the board's `big` RAM (see firmware_src/main.cc).
MODEL_CAPACITY = 4 * _MB
ARENA_CAPACITY = 4 * _MB
IO_CAPACITY = 2 * _MB

FIRMWARE_OPS: dict[str, tuple[str, ...]] = {
    "ADD": ("add", "add_common"),
    "AVERAGE_POOL_2D": ("pooling", "pooling_common"),
    "CONCATENATION": ("concatenation",),
    "CONV_2D": ("conv", "conv_common"),
    "DEPTHWISE_CONV_2D": ("depthwise_conv", "depthwise_conv_common"),
    "DEQUANTIZE": ("dequantize", "dequantize_common"),
    "EXPAND_DIMS": ("expand_dims",),
    "FULLY_CONNECTED": ("fully_connected", "fully_connected_common"),
    "HARD_SWISH": ("hard_swish", "hard_swish_common"),
    "LEAKY_RELU": ("leaky_relu", "leaky_relu_common"),
    "LOGISTIC": ("logistic", "logistic_common"),
    "MAX_POOL_2D": ("pooling", "pooling_common"),
    "MAXIMUM": ("maximum_minimum",),
    "MEAN": ("reduce", "reduce_common"),
    "MINIMUM": ("maximum_minimum",),
    "MUL": ("mul", "mul_common"),
    "PACK": ("pack",),
    "PAD": ("pad", "pad_common"),
    "PADV2": ("pad", "pad_common"),
    "PRELU": ("prelu", "prelu_common"),
    "QUANTIZE": ("quantize", "quantize_common"),
    "REDUCE_MAX": ("reduce", "reduce_common"),
    "RELU": ("activations", "activations_common"),
    "RELU6": ("activations", "activations_common"),
    "RESHAPE": ("reshape", "reshape_common"),
    "RESIZE_NEAREST_NEIGHBOR": ("resize_nearest_neighbor",),
    "SHAPE": ("shape",),
    "SLICE": ("slice",),
    "SOFTMAX": ("softmax", "softmax_common"),
    "SPLIT": ("split",),
    "SPLIT_V": ("split_v",),
    "SQUEEZE": ("squeeze",),
    "STRIDED_SLICE": ("strided_slice", "strided_slice_common"),
    "SUB": ("sub", "sub_common"),
    "SUM": ("reduce", "reduce_common"),
    "TANH": ("tanh",),
    "TRANSPOSE": ("transpose", "transpose_common"),
    "TRANSPOSE_CONV": ("transpose_conv",),
    "UNPACK": ("unpack",),
}
"""The ops the firmware registers -> the TFLM kernel files (`kernels/<name>.cc`) they need."""

SIGNAL_OPS: dict[str, tuple[str, ...]] = {
    "SignalWindow": ("micro/kernels/window.cc", "src/window.cc"),
    "SignalFftAutoScale": ("micro/kernels/fft_auto_scale_kernel.cc", "micro/kernels/fft_auto_scale_common.cc",
                           "src/fft_auto_scale.cc", "src/max_abs.cc", "src/msb_32.cc"),
    "SignalRfft": ("micro/kernels/rfft.cc", "src/rfft_float.cc", "src/rfft_int16.cc", "src/rfft_int32.cc",
                   "src/kiss_fft_wrappers/kiss_fft_float.cc", "src/kiss_fft_wrappers/kiss_fft_int16.cc",
                   "src/kiss_fft_wrappers/kiss_fft_int32.cc"),
    "SignalEnergy": ("micro/kernels/energy.cc", "src/energy.cc"),
    "SignalFilterBank": ("micro/kernels/filter_bank.cc", "src/filter_bank.cc"),
    "SignalFilterBankSquareRoot": ("micro/kernels/filter_bank_square_root.cc",
                                   "micro/kernels/filter_bank_square_root_common.cc",
                                   "src/filter_bank_square_root.cc", "src/square_root_32.cc",
                                   "src/square_root_64.cc", "src/msb_64.cc"),
    "SignalFilterBankLog": ("micro/kernels/filter_bank_log.cc", "src/filter_bank_log.cc", "src/log.cc",
                            "src/msb_32.cc"),
    "SignalFilterBankSpectralSubtraction": ("micro/kernels/filter_bank_spectral_subtraction.cc",
                                            "src/filter_bank_spectral_subtraction.cc"),
    "SignalPCAN": ("micro/kernels/pcan.cc", "src/pcan_argc_fixed.cc", "src/msb_32.cc"),
}  # fmt: skip
"""TFLite Micro's signal ops (an audio front-end's, `keras_nas.tflite.signal_front_end`) -> their sources
under the tree's `signal/` folder; registered when the tree has that folder (TFLite Micro since 2023)."""

_ALWAYS_KERNEL_FILES = ("kernel_util", "micro_tensor_utils")
_FRAMEWORK_EXCLUDED = {
    # Tests and their helpers; DebugLog comes from firmware_src/main.cc.
    "debug_log.cc", "fake_micro_context.cc", "mock_micro_graph.cc", "test_helpers.cc",
    "test_helper_custom_ops.cc",
}  # fmt: skip
_CMSIS_NN_EXCLUDED_DIRS = ("LSTMFunctions", "SVDFunctions")


class FirmwareError(RuntimeError):
    """The firmware cannot be built: no toolchain, no TFLM tree, or a compile/link error."""


@dataclass(frozen=True)
class SectionSizes:
    """Memory of a linked firmware image, from its ELF section headers.

    Attributes:
        text_bytes: Code and read-only data (`.text` with `.rodata`, `.ARM.exidx`).
        data_bytes: Initialised data (in flash, copied to RAM at reset).
        bss_bytes: Zero-initialised data (RAM only).

    `flash_bytes = text + data`; `static_ram_bytes = data + bss`.
    """

    text_bytes: int
    data_bytes: int
    bss_bytes: int

    @property
    def flash_bytes(self) -> int:
        return self.text_bytes + self.data_bytes

    @property
    def static_ram_bytes(self) -> int:
        return self.data_bytes + self.bss_bytes


@dataclass(frozen=True)
class Firmware:
    """A built (cached) measurement firmware for one board.

    Attributes:
        target: Target name (a key of `BOARDS`).
        kernels: `"cmsis_nn"` or `"reference"`.
        directory: The firmware's cache entry (main.o, startup.o, ops.o, ELF).
        library: The TFLM + kernels library it links (`libknas.a`, cached
            separately: changing the firmware's own sources reuses it).
        elf: The firmware that loads any model over semihosting.
        ops: The ops it registers (sorted).
        key: The cache key (sha256 of sources, flags and compiler).
        build_seconds: Wall time of the builds that made the library and
            the firmware entries.
        cached: `True` when this call found the entry in the cache.
    """

    target: str
    kernels: str
    directory: Path
    library: Path
    elf: Path
    ops: tuple[str, ...]
    key: str
    build_seconds: float
    cached: bool

    @property
    def board(self) -> Board:
        return BOARDS[self.target]

    def _manifest(self) -> dict:
        return json.loads((self.directory / "manifest.json").read_text())

    def compile(self, source: str | os.PathLike, output: str | os.PathLike,
                include_dirs: Sequence[str | os.PathLike] = ()) -> Path:
        """Compile one more C++ file with the firmware's flags (e.g. an exported C array).

        Args:
            source: The `.cc` file.
            output: The object file to write.
            include_dirs: Extra include folders.

        Returns:
            The object's path.

        Raises:
            FirmwareError: The compiler failed (its message is included).
        """
        manifest = self._manifest()
        # The firmware's headers from this installation first: a cached entry records the
        # source folder of the checkout that built it, which may have moved or gone since.
        command = [
            manifest["cxx"], *manifest["cxxflags"], "-O2", f"-I{_SRC_DIR}", *manifest["includes"],
            *[f"-I{d}" for d in include_dirs], "-c", str(source), "-o", str(output),
        ]  # fmt: skip
        _run(command, f"compiling {source}")
        return Path(output)

    def link(self, output: str | os.PathLike, ops: Iterable[str] | None = None,
             extra_objects: Sequence[str | os.PathLike] = ()) -> Path:
        """Link a firmware image from the cached objects.

        Args:
            output: The ELF to write (its linker script is written next to it).
            ops: Ops to register (default: all of `self.ops`); the linker
                drops the kernels of the others. `()` for an image whose
                model is linked in with its own op registration.
            extra_objects: More objects, e.g. a compiled C array and the
                glue that defines `knas_linked_model()`.

        Returns:
            The ELF's path.

        Raises:
            ValueError: An op the firmware does not have.
            FirmwareError: The linker failed.
        """
        manifest = self._manifest()
        chosen = self.ops if ops is None else tuple(sorted(set(ops)))
        missing = [op for op in chosen if op not in self.ops]
        if missing:
            raise ValueError(f"The {self.target} firmware has no kernel for {missing}; it has {list(self.ops)}.")
        output = Path(output)
        script = output.with_name(output.name + ".ld")
        _write_linker_script(self.board, chosen, script)
        objects = [self.directory / name for name in ("main.o", "startup.o", "ops.o")]
        command = [
            manifest["cxx"], *manifest["ldflags"], "-T", str(script),
            *map(str, objects), *map(str, extra_objects), str(self.library),
            "-lm", "-o", str(output),
        ]  # fmt: skip
        _run(command, f"linking {output}")
        return Path(output)

    def link_c_array(self, cc_path: str | os.PathLike, output: str | os.PathLike,
                     name: str = "model_data") -> Path:
        """Link an image with a model exported by `write_c_array` compiled in (no semihosting load).

        The `.cc` and its header (same folder) are compiled with the
        firmware's flags; a glue file hands `g_<name>`, `<Name>RegisterOps`
        and `k<Name>ArenaSize` to the firmware, which then registers only
        the model's ops and runs the linked array.

        Args:
            cc_path: The `<name>.cc` written by `write_c_array`.
            output: The ELF to write (objects go next to it).
            name: The `name` given to `write_c_array`.

        Returns:
            The ELF's path; run it with `emulator.run_on_board(..., elf=path)`.

        Raises:
            FirmwareError: The exported files do not compile or link.
        """
        output = Path(output)
        camel = c_array_camel(name)
        glue = output.with_name(f"{name}_glue.cc")
        glue.write_text(
            f'#include "knas_firmware.h"\n#include "{name}.h"\n'
            f"static bool RegisterOps(knas::Resolver& r) {{ return {camel}RegisterOps(r); }}\n"
            f"static const knas::LinkedModel kModel = {{g_{name}, g_{name}_len, &RegisterOps, k{camel}ArenaSize}};\n"
            "const knas::LinkedModel* knas_linked_model() { return &kModel; }\n"
        )
        folder = Path(cc_path).resolve().parent
        objects = [
            self.compile(cc_path, output.with_name(f"{name}.o"), include_dirs=[folder]),
            self.compile(glue, output.with_name(f"{name}_glue.o"), include_dirs=[folder]),
        ]
        return self.link(output, ops=(), extra_objects=objects)

    def image_sizes(self, ops: Iterable[str]) -> SectionSizes:
        """Section sizes of the firmware that registers only `ops` (linked once per op set, cached).

        Args:
            ops: The model's ops.

        Returns:
            The `SectionSizes` of that image (without the model, which adds
            its length to flash when compiled in).
        """
        chosen = tuple(sorted(set(ops)))
        digest = hashlib.sha256("\n".join(chosen).encode()).hexdigest()[:16]
        path = self.directory / "sizes" / f"{digest}.json"
        if path.exists():
            return SectionSizes(**json.loads(path.read_text()))
        path.parent.mkdir(exist_ok=True)
        with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
            sizes = section_sizes(self.link(Path(tmp) / "image.elf", ops=chosen))
            _write_json_atomic(path, dataclasses.asdict(sizes))
        return sizes


def _write_json_atomic(path: Path, obj) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(obj, indent=1))
    os.replace(tmp, path)


def _run(command: list[str], what: str) -> str:
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise FirmwareError(
            f"Firmware build failed {what} (exit {result.returncode}):\n"
            f"{' '.join(command)}\n{result.stderr.strip()[-4000:]}"
        )
    return result.stdout


def toolchain_problem() -> str | None:
    """Why firmware cannot be built and run here (`None` when every tool is installed).

    Names every missing tool and the `apt-get` packages of those tools only.

    Example:

    >>> toolchain_problem()  # doctest: +SKIP
    "qemu-system-arm not found on PATH: `apt-get install qemu-system-arm` (Debian/Ubuntu)"
    """
    missing = [tool for tool in TOOL_PACKAGES if shutil.which(tool) is None]
    if not missing:
        return None
    packages = dict.fromkeys(p for tool in missing for p in TOOL_PACKAGES[tool].split())
    return f"{', '.join(missing)} not found on PATH: `apt-get install {' '.join(packages)}` (Debian/Ubuntu)"


def tflm_tree_problem(tflm_dir: str | os.PathLike | None = None) -> str | None:
    """Why there is no usable TFLite Micro tree (`None`: there is), in one line."""
    if not (tflm_dir or os.environ.get(TFLM_DIR_ENV)):
        return f"no TFLite Micro tree (set ${TFLM_DIR_ENV} to a tflite-micro checkout with its third-party downloads)"
    try:
        resolve_tflm_dir(tflm_dir)
    except FirmwareError:
        return (f"{tflm_dir or os.environ.get(TFLM_DIR_ENV)} is not a usable TFLite Micro tree (see "
                f"keras_nas.tflite.firmware.resolve_tflm_dir)")
    return None


def resolve_tflm_dir(tflm_dir: str | os.PathLike | None = None) -> Path:
    """The TFLite Micro source tree: the argument, else `$KERAS_NAS_TFLM_DIR`.

    Args:
        tflm_dir: Root of a tflite-micro checkout whose
            `tensorflow/lite/micro/tools/make/downloads/` holds its third-party
            code (cmsis, cmsis_nn, flatbuffers, gemmlowp, ruy), e.g. after
            TFLM's `make -f tensorflow/lite/micro/tools/make/Makefile third_party_downloads`.

    Returns:
        The tree's absolute path.

    Raises:
        FirmwareError: No tree named, or it lacks the sources or downloads.
    """
    if tflm_dir is None:
        tflm_dir = os.environ.get(TFLM_DIR_ENV)
    if not tflm_dir:
        raise FirmwareError(
            f"No TFLite Micro source tree: pass tflm_dir=... or set ${TFLM_DIR_ENV} to a tflite-micro "
            "checkout (github.com/tensorflow/tflite-micro) whose third-party code was downloaded "
            "(make -f tensorflow/lite/micro/tools/make/Makefile third_party_downloads)."
        )
    root = Path(tflm_dir).expanduser().resolve()
    needed = [
        Path("tensorflow/lite/micro/micro_interpreter.cc"),
        _DOWNLOADS / "flatbuffers/include",
        _DOWNLOADS / "gemmlowp",
        _DOWNLOADS / "cmsis/CMSIS/Core/Include",
        _DOWNLOADS / "cmsis_nn/Source",
    ]
    missing = [str(p) for p in needed if not (root / p).exists()]
    if missing:
        raise FirmwareError(
            f"{root} is not a usable TFLite Micro tree: missing {', '.join(missing)}. Point "
            f"tflm_dir / ${TFLM_DIR_ENV} at the root of a tflite-micro checkout and fetch its "
            "third-party code (make -f tensorflow/lite/micro/tools/make/Makefile third_party_downloads)."
        )
    return root


def cache_root() -> Path:
    """`$KERAS_NAS_CACHE_DIR/firmware`, default `~/.cache/keras-nas/firmware`."""
    base = os.environ.get(CACHE_DIR_ENV) or os.path.join(os.path.expanduser("~"), ".cache", "keras-nas")
    return Path(base) / "firmware"


def _kernel_file(root: Path, name: str, kernels: str) -> Path:
    """`kernels/cmsis_nn/<name>.cc` when CMSIS-NN specialises it, else `kernels/<name>.cc`."""
    if kernels == "cmsis_nn" and (root / _KERNELS / "cmsis_nn" / f"{name}.cc").exists():
        return _KERNELS / "cmsis_nn" / f"{name}.cc"
    return _KERNELS / f"{name}.cc"


def _sources(root: Path, kernels: str) -> dict[str, list[Path]]:
    """Relative paths of the library sources by optimisation group (TFLM's -Os / -O2 split)."""
    micro = Path("tensorflow/lite/micro")
    core = [
        p.relative_to(root)
        for folder in ("", "arena_allocator", "memory_planner", "tflite_bridge")
        for p in sorted((root / micro / folder).glob("*.cc"))
        if not p.name.endswith("_test.cc") and p.name not in _FRAMEWORK_EXCLUDED
    ]
    shared = [
        "tensorflow/lite/kernels/kernel_util.cc",
        "tensorflow/lite/kernels/internal/runtime_shape.cc",
        "tensorflow/lite/kernels/internal/portable_tensor_utils.cc",
        "tensorflow/lite/kernels/internal/tensor_ctypes.cc",
        "tensorflow/lite/kernels/internal/reference/portable_tensor_utils.cc",
        "tensorflow/lite/kernels/internal/common.cc",
        "tensorflow/lite/kernels/internal/quantization_util.cc",
        "tensorflow/lite/kernels/internal/tensor_utils.cc",
        "tensorflow/lite/core/api/flatbuffer_conversions.cc",
        "tensorflow/lite/core/api/tensor_utils.cc",
        "tensorflow/lite/core/c/common.cc",
        "tensorflow/compiler/mlir/lite/schema/schema_utils.cc",
        "tensorflow/compiler/mlir/lite/core/api/error_reporter.cc",
    ]
    core += [Path(p) for p in shared if (root / p).exists()]
    names = dict.fromkeys(_ALWAYS_KERNEL_FILES)
    for files in FIRMWARE_OPS.values():
        names.update(dict.fromkeys(files))
    kernel_files = [_kernel_file(root, name, kernels) for name in names]
    third_party: list[Path] = []
    if kernels == "cmsis_nn":
        source = root / _DOWNLOADS / "cmsis_nn/Source"
        third_party = [
            p.relative_to(root)
            for p in sorted(source.rglob("*.c"))
            if not p.name.endswith(("_f16.c", "_f32.c", "arm_nntables_flt.c"))
            and p.relative_to(source).parts[0] not in _CMSIS_NN_EXCLUDED_DIRS
        ]
    signal = [Path("signal") / name for name in dict.fromkeys(f for files in _signal_ops(root).values() for f in files)]
    return {"-Os": core, "-O2": kernel_files + signal + third_party}


def _signal_ops(root: Path) -> dict[str, tuple[str, ...]]:
    """`SIGNAL_OPS` when the TFLM tree has the signal library (every source present), else none."""
    if all((root / "signal" / f).is_file() for files in SIGNAL_OPS.values() for f in files):
        return SIGNAL_OPS
    return {}


def firmware_ops(root: Path) -> dict[str, tuple[str, ...]]:
    """Every op a firmware built from the tree at `root` registers: `FIRMWARE_OPS` and its signal ops."""
    return {**FIRMWARE_OPS, **_signal_ops(root)}


def _flags(root: Path, board: Board, kernels: str) -> dict[str, list[str]]:
    downloads = root / _DOWNLOADS
    defines = [
        "-DTF_LITE_STATIC_MEMORY", "-DTF_LITE_DISABLE_X86_NEON", "-DTF_LITE_MCU_DEBUG_LOG", "-DNDEBUG",
        f"-DCPU_{board.core}=1", f'-DCMSIS_DEVICE_ARM_CORTEX_M_XX_HEADER_FILE="ARMC{board.core}.h"',
        f"-DARMC{board.core}", "-DARM_NN_ENABLE_F16=0", "-DARM_NN_ENABLE_F32=0",
        f'-DKNAS_TARGET="{board.target}"', f'-DKNAS_KERNELS="{kernels}"',
        f"-DKNAS_MODEL_CAPACITY={MODEL_CAPACITY}", f"-DKNAS_ARENA_CAPACITY={ARENA_CAPACITY}",
        f"-DKNAS_IO_CAPACITY={IO_CAPACITY}",
    ]  # fmt: skip
    if kernels == "cmsis_nn":
        defines.append("-DCMSIS_NN")
    common = [
        "-mthumb", *board.cpu_flags, "-mlittle-endian", "-funsigned-char", "-fomit-frame-pointer",
        "-fno-unwind-tables", "-fno-asynchronous-unwind-tables", "-ffunction-sections", "-fdata-sections",
        "-fmessage-length=0", *defines,
    ]  # fmt: skip
    includes = [
        f"-I{root}", f"-I{downloads / 'flatbuffers/include'}", f"-I{downloads / 'gemmlowp'}",
        f"-I{downloads / 'ruy'}", f"-I{downloads / 'cmsis'}", f"-I{downloads / 'cmsis_nn'}",
        f"-I{downloads / 'cmsis/CMSIS/Core/Include'}", f"-I{downloads / 'cmsis_nn/Include'}",
        f"-I{downloads / 'cmsis/Cortex_DFP/Device' / f'ARMC{board.core}' / 'Include'}", f"-I{_SRC_DIR}",
        f"-I{downloads / 'kissfft'}",
    ]  # fmt: skip
    return {
        "cxxflags": ["-std=c++17", "-fno-rtti", "-fno-exceptions", "-fno-threadsafe-statics", *common],
        "cflags": ["-std=c17", *common],
        "includes": includes,
        "ldflags": [
            "-mthumb", *board.cpu_flags, "--specs=nano.specs", "--specs=rdimon.specs", "-nostartfiles",
            "-Wl,--gc-sections",
        ],  # fmt: skip
    }


def _compiler_version(cxx: str) -> str:
    return subprocess.run([cxx, "--version"], capture_output=True, text=True).stdout.splitlines()[0]


def _library_key(root: Path, board: Board, kernels: str, flags: dict, sources: dict[str, list[Path]]) -> str:
    """sha256 of the flags, the compiler and every compiled source and header of the library.

    The firmware's own header folder is on the include path: its headers count by content, not by
    where this checkout of keras-nas lives, so every checkout shares one build.
    """
    digest = hashlib.sha256()
    portable_flags = json.loads(json.dumps(flags).replace(json.dumps(str(_SRC_DIR))[1:-1], "<firmware_src>"))
    digest.update(json.dumps([FIRMWARE_VERSION, dataclasses.asdict(board), kernels, portable_flags]).encode())
    for path in sorted(_SRC_DIR.glob("*.h")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    digest.update(_compiler_version("arm-none-eabi-g++").encode())
    files = sorted(p for group in sources.values() for p in group)
    header_roots = [root / "tensorflow", root / _DOWNLOADS / "flatbuffers/include", root / _DOWNLOADS / "gemmlowp",
                    root / _DOWNLOADS / "ruy", root / _DOWNLOADS / "cmsis_nn/Include",
                    root / _DOWNLOADS / "cmsis/CMSIS/Core/Include",
                    root / _DOWNLOADS / "cmsis/Cortex_DFP/Device" / f"ARMC{board.core}"]  # fmt: skip
    headers = sorted(
        p.relative_to(root) for base in header_roots if base.exists()
        for p in base.rglob("*") if p.suffix in (".h", ".hpp", ".inc") and "downloads" not in p.relative_to(base).parts
    )  # fmt: skip
    for rel in files + headers:
        digest.update(str(rel).encode() + b"\0" + (root / rel).read_bytes() + b"\0")
    return digest.hexdigest()


def _firmware_key(library_key: str, ops: dict[str, tuple[str, ...]]) -> str:
    """sha256 of the library key, the op table and the firmware's own sources."""
    digest = hashlib.sha256(library_key.encode())
    digest.update(json.dumps(sorted(ops.items())).encode())
    for path in sorted(_SRC_DIR.iterdir()):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _object_name(rel: Path) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", str(rel.with_suffix(""))) + ".o"


def _write_linker_script(board: Board, ops: Sequence[str], path: Path) -> None:
    text = (_SRC_DIR / "link.ld.in").read_text()
    values = {
        "BOARD": f"{board.target} ({board.machine})",
        "CODE_ORIGIN": hex(board.code[0]), "CODE_LENGTH": hex(board.code[1]),
        "RAM_ORIGIN": hex(board.ram[0]), "RAM_LENGTH": hex(board.ram[1]),
        "BIG_ORIGIN": hex(board.big[0]), "BIG_LENGTH": hex(board.big[1]),
        "STACK_BYTES": hex(_STACK_BYTES),
        "KEEP_OPS": "\n".join(f"    KEEP(*(knas_ops.{op}))" for op in ops),
    }  # fmt: skip
    for name, value in values.items():
        text = text.replace(f"@{name}@", value)
    path.write_text(text)


def _compile_all(tasks: list[tuple[list[str], str]], jobs: int) -> float:
    """Run compiler commands in parallel; returns their CPU seconds."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    # Longest first (C++ before C) keeps every core busy to the end.
    tasks = sorted(tasks, key=lambda t: t[1].endswith(".c"))
    pool = ThreadPoolExecutor(max_workers=jobs)
    try:
        for future in [pool.submit(_run, command, f"compiling {name}") for command, name in tasks]:
            future.result()
    finally:  # on an error or Ctrl-C, do not start the remaining compilations
        pool.shutdown(wait=True, cancel_futures=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _build_library(root: Path, flags: dict, sources: dict[str, list[Path]], out: Path, jobs: int) -> dict:
    """Compile the TFLM framework, the kernels and CMSIS-NN into `out/libknas.a`."""
    (out / "obj").mkdir(parents=True)
    tasks = []
    for level, files in sources.items():
        for rel in files:
            is_c = rel.suffix == ".c"
            tool = "arm-none-eabi-gcc" if is_c else "arm-none-eabi-g++"
            lang = flags["cflags"] if is_c else flags["cxxflags"]
            target = out / "obj" / _object_name(rel)
            tasks.append(([tool, *lang, level, *flags["includes"], "-c", str(root / rel), "-o", str(target)], str(rel)))
    cpu = _compile_all(tasks, jobs)
    objects = sorted(str(p) for p in (out / "obj").glob("*.o"))
    _run(["arm-none-eabi-ar", "rcs", str(out / "libknas.a"), *objects], "archiving libknas.a")
    shutil.rmtree(out / "obj")
    return {"objects": len(objects), "cpu_seconds": round(cpu, 1)}


def _build_firmware_objects(flags: dict, out: Path, jobs: int, ops: Iterable[str]) -> dict:
    """Compile main.o, startup.o and ops.o (one registration entry per op of `ops`)."""
    out.mkdir(parents=True)
    ops_source = out / "ops.cc"
    ops_source.write_text(
        '#include "knas_firmware.h"\n'
        + "".join(f"KNAS_REGISTER_OP({op}, {resolver_method(op)})\n" for op in ops)
    )
    cxx = ["arm-none-eabi-g++", *flags["cxxflags"], "-Os", *flags["includes"], "-c"]
    tasks = [
        ([*cxx, str(ops_source), "-o", str(out / "ops.o")], "ops.cc"),
        ([*cxx, str(_SRC_DIR / "main.cc"), "-o", str(out / "main.o")], "main.cc"),
        (["arm-none-eabi-gcc", *flags["cflags"], "-Os", *flags["includes"], "-c", str(_SRC_DIR / "startup.c"),
          "-o", str(out / "startup.o")], "startup.c"),
    ]  # fmt: skip
    return {"cpu_seconds": round(_compile_all(tasks, jobs), 1)}


# The names of cache entries (`lib-<key>`, `fw-<key>`): only such folders under
# `cache_root()` are ever replaced.
_ENTRY_NAME = re.compile(r"^(lib|fw)-[0-9a-f]{32}$")


def _file_digest(path: Path) -> dict:
    """`{"bytes": size, "sha256": hex}` of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return {"bytes": path.stat().st_size, "sha256": h.hexdigest()}


def entry_problem(entry: Path) -> str | None:
    """What is wrong with a cache entry, or None if it can be used.

    An entry is usable when its `manifest.json` reads and every file it lists
    (`files`: size and SHA-256, recorded when it was built) is there unchanged;
    a truncated library would otherwise fail every later link.
    """
    try:
        manifest = json.loads((entry / "manifest.json").read_text())
    except FileNotFoundError:
        return "it has no manifest.json (an interrupted or foreign build)"
    except (OSError, ValueError) as e:
        return f"its manifest.json cannot be read ({e})"
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(files, dict) or not files:
        return "its manifest.json lists no checked files (written by an older keras-nas)"
    for name, recorded in files.items():
        path = entry / name
        if not path.is_file():
            return f"{name} is missing"
        if _file_digest(path) != recorded:
            return f"{name} changed since it was built (size or SHA-256 differs)"
    return None


def _remove_entry(entry: Path) -> None:
    """Removes a damaged cache entry: only a folder named as one, directly under `cache_root()`'s folder."""
    if not _ENTRY_NAME.match(entry.name) or entry.is_symlink() or not entry.is_dir():
        raise FirmwareError(
            f"{entry} is damaged but does not look like a keras-nas firmware cache entry; remove it "
            f"yourself or set ${CACHE_DIR_ENV} to another folder."
        )
    aside = Path(tempfile.mkdtemp(prefix=f".{entry.name[:24]}-damaged-", dir=entry.parent))
    os.rename(entry, aside / "entry")
    shutil.rmtree(aside, ignore_errors=True)


def _cached_build(final: Path, build, manifest: dict, files: Sequence[str]) -> bool:
    """Run `build(tmp_dir) -> dict` into a temporary folder renamed to `final`; `True` if it was cached.

    The entry's `files` are recorded in its manifest with their size and
    SHA-256 and checked at every use (`entry_problem`); a damaged entry is
    rebuilt, with a warning. One process builds an entry at a time (a lock
    file beside it); the others wait and use its result.
    """
    if entry_problem(final) is None:
        return True
    import fcntl
    import warnings

    final.parent.mkdir(parents=True, exist_ok=True)
    with open(final.parent / f".{final.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file is closed
        problem = entry_problem(final)
        if problem is None:  # another process built it while this one waited
            return True
        if final.exists() or final.is_symlink():
            warnings.warn(f"The firmware cache entry {final} is damaged: {problem}. Rebuilding it.",
                          RuntimeWarning, stacklevel=3)
            _remove_entry(final)
        start = time.perf_counter()
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name[:24]}-", dir=final.parent))
        try:
            manifest = {**manifest, **build(tmp / "entry")}
            manifest["build_seconds"] = round(time.perf_counter() - start, 1)
            manifest["files"] = {name: _file_digest(tmp / "entry" / name) for name in files}
            (tmp / "entry" / "manifest.json").write_text(json.dumps(manifest, indent=1))
            os.rename(tmp / "entry", final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return False


def build_firmware(
    target: str = "cortex-m4",
    tflm_dir: str | os.PathLike | None = None,
    kernels: str = "cmsis_nn",
    jobs: int | None = None,
) -> Firmware:
    """The measurement firmware for a board: from the cache, or built (once) and cached.

    Args:
        target: A key of `BOARDS` (`"cortex-m4"`, `"cortex-m7"`, `"cortex-m55"`).
        tflm_dir: TFLite Micro source tree (default `$KERAS_NAS_TFLM_DIR`);
            only read, never written.
        kernels: `"cmsis_nn"` (CMSIS-NN optimised kernels, what Cortex-M
            deployments use) or `"reference"` (TFLM's portable kernels).
        jobs: Parallel compiler processes (default: all CPUs).

    Returns:
        A `Firmware`; `cached` says whether it came from the cache.

    Raises:
        ValueError: Unknown target or kernels.
        FirmwareError: Toolchain or TFLM tree missing, or the build failed.

    Example:

    >>> fw = build_firmware("cortex-m4", tflm_dir="/opt/tflite-micro")  # doctest: +SKIP
    >>> fw.cached, round(fw.build_seconds)  # doctest: +SKIP
    (True, 204)
    """
    if target not in BOARDS:
        raise ValueError(f"Unknown firmware target {target!r}; choose one of {', '.join(BOARDS)}.")
    if kernels not in KERNEL_CHOICES:
        raise ValueError(f"Unknown kernels {kernels!r}; choose one of {', '.join(KERNEL_CHOICES)}.")
    problem = toolchain_problem()
    if problem:
        raise FirmwareError(problem)
    root = resolve_tflm_dir(tflm_dir)
    board = BOARDS[target]
    sources = _sources(root, kernels)
    flags = _flags(root, board, kernels)
    jobs = jobs or os.cpu_count() or 1
    lib_key = _library_key(root, board, kernels, flags, sources)
    lib_dir = cache_root() / f"lib-{lib_key[:32]}"
    lib_cached = _cached_build(
        lib_dir, lambda out: _build_library(root, flags, sources, out, jobs),
        {"target": target, "kernels": kernels, "tflm_dir": str(root), "jobs": jobs, "key": lib_key,
         "compiler": _compiler_version("arm-none-eabi-g++")},
        files=["libknas.a"],
    )  # fmt: skip
    registered = firmware_ops(root)
    key = _firmware_key(lib_key, registered)
    fw_dir = cache_root() / f"fw-{key[:32]}"
    ops = tuple(sorted(registered))

    def build(out: Path) -> dict:
        info = _build_firmware_objects(flags, out, jobs, ops)
        (out / "manifest.json").write_text(json.dumps({"cxx": "arm-none-eabi-g++", **flags}))
        Firmware(target, kernels, out, lib_dir / "libknas.a", out / "firmware.elf", ops, key, 0.0, False).link(
            out / "firmware.elf"
        )
        return info

    fw_cached = _cached_build(
        fw_dir, build, {"target": target, "kernels": kernels, "library": str(lib_dir), "ops": list(ops),
                        "cxx": "arm-none-eabi-g++", **flags},
        files=["main.o", "startup.o", "ops.o", "firmware.elf"],
    )  # fmt: skip
    seconds = json.loads((lib_dir / "manifest.json").read_text())["build_seconds"]
    seconds += json.loads((fw_dir / "manifest.json").read_text())["build_seconds"]
    return Firmware(
        target, kernels, fw_dir, lib_dir / "libknas.a", fw_dir / "firmware.elf", ops, key, seconds,
        lib_cached and fw_cached,
    )


def section_sizes(elf: str | os.PathLike) -> SectionSizes:
    """Flash and RAM sections of a linked firmware, from `arm-none-eabi-size -A`.

    Args:
        elf: A firmware ELF.

    Returns:
        `SectionSizes` (`.text` + `.ARM.exidx` as text; `.data`; `.bss`).
    """
    out = _run(["arm-none-eabi-size", "-A", str(elf)], f"reading the sections of {elf}")
    sizes = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[1].isdigit():
            sizes[parts[0]] = int(parts[1])
    return SectionSizes(
        text_bytes=sizes.get(".text", 0) + sizes.get(".ARM.exidx", 0),
        data_bytes=sizes.get(".data", 0),
        bss_bytes=sizes.get(".bss", 0),
    )
