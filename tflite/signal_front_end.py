"""An audio front-end that runs on TFLite Micro: raw int16 audio in, log-mel features out, as on the board.

A keyword spotter on a microcontroller turns each window of audio into
features before its network runs. TFLite Micro carries a signal library
(`signal/` in its tree) whose ops do this in integers on the board: window,
FFT, energy, mel filter bank, square root and log, as the `micro_speech`
example's audio preprocessor chains them (with `pcan=True`, its noise
reduction and per-channel gain control before the log too). `front_end_model` writes that chain
as a `.tflite` file for one frame (its custom ops named as TFLite Micro's
`MicroMutableOpResolver` registers them: `SignalWindow`, `SignalFftAutoScale`,
`SignalRfft`, `SignalEnergy`, `SignalFilterBank`, `SignalFilterBankSquareRoot`,
`SignalFilterBankSpectralSubtraction`, `SignalPCAN`, `SignalFilterBankLog`), and `features` runs it on this host in the real
TFLite Micro interpreter, so a network trains on exactly the numbers the board
will compute. On the board, the file runs once per hop of audio (the network
once per clip, on the stacked frames), beside the network's own file.

Noise reduction and PCAN keep a noise estimate per band from frame to frame
in their kernels' state: `features` resets it at each clip's first frame (a
board that runs clips one by one calls its interpreter's `Reset()` likewise;
one that streams keeps it warm).

LiteRT does not know these ops: the file is for TFLite Micro only.

The mel filter bank tables follow the TFLite Micro signal library's Python
helper (`python/tflite_micro/signal/ops/filter_bank_ops.py`, Apache-2.0),
with alignment and channel block size 1; PCAN's gain table its
`wide_dynamic_func_lut_wrapper.cc`, and both stages' settings the
`micro_speech` example's (`audio_preprocessor.py`).

Example:

```python
from keras_nas.tflite import signal_front_end as sfe

front_end = sfe.FrontEnd(window_ms=30, hop_ms=20, bands=40)
x = sfe.features(audio, front_end)        # (n, 49, 40) int16, audio (n, 16000) in [-1, 1]
open("front_end.tflite", "wb").write(sfe.front_end_model(front_end))
```
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .micro import run_raw

# Q bits of the int16 Hann window, of the filter bank weights, and of the log's output
# (features are 2**LOG_BITS x ln(mel amplitude)): the micro_speech example's values.
WINDOW_BITS = 12
FILTER_BANK_BITS = 12
LOG_BITS = 6
# Noise reduction (`SignalFilterBankSpectralSubtraction`) and PCAN: the micro_speech example's settings.
SPECTRAL_SUBTRACTION_BITS = 14
NOISE_SMOOTHING_BITS = 10
EVEN_SMOOTHING, ODD_SMOOTHING, MIN_SIGNAL_REMAINING = 0.025, 0.06, 0.05
PCAN_STRENGTH, PCAN_OFFSET, PCAN_GAIN_BITS, PCAN_SMOOTHING_BITS = 0.95, 80.0, 21, 10
PCAN_SNR_SHIFT = 6  # what the signal library's `pcan` op passes its kernel
# TFLite's TensorType and BuiltinOperator codes used here (tensorflow/lite/schema/schema.fbs).
_INT16, _INT32, _UINT32, _UINT64 = 7, 2, 15, 12
_CUSTOM = 32


@dataclass(frozen=True)
class FrontEnd:
    """The front-end's parameters; each frame of `window_ms` starts `hop_ms` after the last.

    Args:
        sample_rate: Audio samples per second.
        window_ms: Window length (the FFT is the next power of two).
        hop_ms: Step between windows.
        bands: Mel bands (the features per frame).
        lower_hz, upper_hz: Edges of the mel filter bank (below half the sample rate).
        pcan: Reduce each band's noise and normalize its gain (per-channel
            energy normalization) before the log, as `micro_speech` does:
            steadier features under changing loudness and background noise.

    Raises:
        ValueError: a value out of range, with the range.
    """

    sample_rate: int = 16000
    window_ms: float = 30.0
    hop_ms: float = 20.0
    bands: int = 40
    lower_hz: float = 125.0
    upper_hz: float = 7500.0
    pcan: bool = False

    def __post_init__(self):
        if not isinstance(self.sample_rate, int) or self.sample_rate < 4000:
            raise ValueError(f"FrontEnd sample_rate must be an integer of at least 4000 Hz, got {self.sample_rate!r}.")
        if not 4 <= self.window_ms <= 128:
            raise ValueError(f"FrontEnd window_ms must be in 4..128 ms, got {self.window_ms!r}.")
        if not 1 <= self.hop_ms <= self.window_ms:
            raise ValueError(f"FrontEnd hop_ms must be in 1..window_ms ({self.window_ms} ms), got {self.hop_ms!r}.")
        if not isinstance(self.bands, int) or not 2 <= self.bands <= 128:
            raise ValueError(f"FrontEnd bands must be an integer in 2..128, got {self.bands!r}.")
        if not 0 <= self.lower_hz < self.upper_hz < self.sample_rate / 2:
            raise ValueError(
                f"FrontEnd needs 0 <= lower_hz < upper_hz < sample_rate / 2 ({self.sample_rate / 2:g} Hz), "
                f"got lower_hz={self.lower_hz!r}, upper_hz={self.upper_hz!r}.")
        if not isinstance(self.pcan, bool):
            raise ValueError(f"FrontEnd pcan must be True or False, got {self.pcan!r}.")

    @property
    def window_samples(self) -> int:
        return int(round(self.window_ms * self.sample_rate / 1000))

    @property
    def hop_samples(self) -> int:
        return int(round(self.hop_ms * self.sample_rate / 1000))

    @property
    def fft_length(self) -> int:
        return 1 << math.ceil(math.log2(self.window_samples))

    def frames(self, samples: int) -> int:
        """Frames in a clip of `samples` (whole windows only)."""
        return 0 if samples < self.window_samples else 1 + (samples - self.window_samples) // self.hop_samples


def _freq_to_mel(hz) -> np.float32:
    return np.float32(1127.0 * np.log1p(np.float32(hz) / np.float32(700.0)))


def filter_bank_tables(front_end: FrontEnd) -> dict:
    """The mel filter bank as TFLite Micro's `SignalFilterBank` takes it.

    Returns:
        `start_index`, `end_index` (the FFT bins the bank reads) and the int16
        arrays `weights`, `unweights`, `channel_frequency_starts`,
        `channel_weight_starts`, `channel_widths`.
    """
    spectrum_size = front_end.fft_length // 2 + 1
    channels = front_end.bands + 1  # the signal library's bank computes one more, dropped
    mel_lower = _freq_to_mel(front_end.lower_hz)
    spacing = (_freq_to_mel(front_end.upper_hz) - mel_lower) / np.float32(channels)
    centers = mel_lower + spacing * np.arange(1, channels + 1, dtype=np.float32)
    hz_per_bin = (front_end.sample_rate / 2) / (spectrum_size - 1)
    start_index = round(1 + front_end.lower_hz / hz_per_bin)
    freq_starts, weight_starts, widths = (np.zeros(channels, np.int16) for _ in range(3))
    spans = []  # (first bin, bins) of each channel
    first, weight_count, zeros_added = start_index, 0, False
    for channel in range(channels):
        end = first
        while _freq_to_mel(end * hz_per_bin) <= centers[channel]:
            end += 1
        spans.append((first, end - first))
        if end == first:
            # No bin: the channel points at one zero weight, put before all others (once).
            freq_starts[channel], weight_starts[channel], widths[channel] = 0, 0, 1
            if not zeros_added:
                zeros_added = True
                weight_starts[:channel] += 1
                weight_count += 1
        else:
            freq_starts[channel], weight_starts[channel], widths[channel] = first, weight_count, end - first
            weight_count += end - first
        first = end
    weights, unweights = np.zeros(weight_count, np.int16), np.zeros(weight_count, np.int16)
    end_index = 0
    for channel, (first, count) in enumerate(spans):
        lower = mel_lower if channel == 0 else centers[channel - 1]
        for j in range(count):
            weight = np.float32(centers[channel] - _freq_to_mel((first + j) * hz_per_bin)) / np.float32(
                centers[channel] - lower)
            index = weight_starts[channel] + (first - freq_starts[channel]) + j
            weights[index] = int(weight * (1 << FILTER_BANK_BITS))
            unweights[index] = int((1 - weight) * (1 << FILTER_BANK_BITS))
        end_index = max(end_index, first + count)
    return {"start_index": start_index, "end_index": end_index, "weights": weights, "unweights": unweights,
            "channel_frequency_starts": freq_starts, "channel_weight_starts": weight_starts,
            "channel_widths": widths}


def hann_window(front_end: FrontEnd) -> np.ndarray:
    """The int16 Hann window (Q`WINDOW_BITS`) `SignalWindow` multiplies each frame by."""
    n = front_end.window_samples
    weights = 0.5 - 0.5 * np.cos(2 * np.pi / n * (np.arange(n) + 0.5))
    return np.round(weights * 2**WINDOW_BITS).astype(np.int16)


def pcan_gain_table(front_end: FrontEnd) -> np.ndarray:
    """The int16 gain table `SignalPCAN` interpolates (125 entries), as the signal library computes it."""
    input_bits = PCAN_SMOOTHING_BITS - _correction_bits(front_end)

    def gain(x: int) -> int:
        value = np.float32(1 << PCAN_GAIN_BITS) * np.power(
            np.float32(np.float32(x) / np.float32(1 << input_bits)) + np.float32(PCAN_OFFSET),
            np.float32(-PCAN_STRENGTH), dtype=np.float32)
        return 32767 if value > 32767 else int(np.float32(value + np.float32(0.5)))

    bits = 32
    table = np.zeros(4 * bits - 2, np.int64)  # the C helper writes one entry past the 125 it returns
    table[0], table[1] = gain(0), gain(1)
    for interval in range(2, bits + 1):
        x0 = 1 << (interval - 1)
        x1, x2 = x0 + (x0 >> 1), (x0 + (x0 - 1) if interval == bits else 2 * x0)
        y0, y1, y2 = gain(x0), gain(x1), gain(x2)
        a1 = 4 * (y1 - y0) - (y2 - y0)
        table[4 * interval - 6: 4 * interval - 2] = (y0, a1, (y2 - y0) - a1, 0)
    return table[:4 * bits - 3].astype(np.int16)  # int16 wraps as the C casts do


def _correction_bits(front_end: FrontEnd) -> int:
    """Bits the filter bank's amplitudes are scaled by (the FFT's length against the weights' Q bits)."""
    return int(math.log2(front_end.fft_length)) - FILTER_BANK_BITS // 2


class _Graph:
    """A one-subgraph `.tflite` written with the schema TensorFlow ships."""

    def __init__(self):
        from tensorflow.lite.python import schema_py_generated as schema

        self.schema = schema
        self.model = schema.ModelT()
        self.model.version, self.model.buffers, self.model.operatorCodes = 3, [schema.BufferT()], []
        self.subgraph = schema.SubGraphT()
        self.subgraph.tensors, self.subgraph.operators = [], []
        self.model.subgraphs = [self.subgraph]
        self.model.description = "keras-nas audio front-end (TFLite Micro signal ops)"

    def tensor(self, name: str, shape, dtype: int, data: np.ndarray | None = None) -> int:
        tensor = self.schema.TensorT()
        tensor.name, tensor.shape, tensor.type, tensor.buffer = name, list(shape), dtype, 0
        if data is not None:
            buffer = self.schema.BufferT()
            buffer.data = list(np.ascontiguousarray(data).tobytes())
            self.model.buffers.append(buffer)
            tensor.buffer = len(self.model.buffers) - 1
        self.subgraph.tensors.append(tensor)
        return len(self.subgraph.tensors) - 1

    def custom_op(self, name: str, inputs, outputs, options: dict | None = None) -> None:
        from flatbuffers import flexbuffers

        codes = [c.customCode for c in self.model.operatorCodes]
        if name.encode() not in codes and name not in codes:
            code = self.schema.OperatorCodeT()
            code.builtinCode = code.deprecatedBuiltinCode = _CUSTOM
            code.customCode, code.version = name, 1
            self.model.operatorCodes.append(code)
            codes.append(name)
        op = self.schema.OperatorT()
        op.opcodeIndex = next(i for i, c in enumerate(codes) if c in (name, name.encode()))
        op.inputs, op.outputs = list(inputs), list(outputs)
        # The kernels read their attributes from a flexbuffer map, by position in key order.
        op.customOptions = list(flexbuffers.Dumps({k: int(v) for k, v in (options or {}).items()}))
        op.customOptionsFormat = self.schema.CustomOptionsFormat.FLEXBUFFERS
        self.subgraph.operators.append(op)

    def finish(self, inputs, outputs) -> bytes:
        from tensorflow.lite.tools import flatbuffer_utils

        self.subgraph.inputs, self.subgraph.outputs = list(inputs), list(outputs)
        return bytes(flatbuffer_utils.convert_object_to_bytearray(self.model))


def front_end_model(front_end: FrontEnd) -> bytes:
    """The front-end for one frame as a `.tflite` file TFLite Micro runs.

    Input: `(window_samples,)` int16 audio; output: `(bands,)` int16
    features, `2**LOG_BITS` x the natural log of each mel band's amplitude
    (no batch dimension: the signal ops work on one frame).

    Args:
        front_end: The parameters.

    Returns:
        The flatbuffer bytes.
    """
    n, bands, spectrum = front_end.window_samples, front_end.bands, front_end.fft_length // 2 + 1
    tables = filter_bank_tables(front_end)
    graph = _Graph()
    audio = graph.tensor("audio", [n], _INT16)
    windowed = graph.tensor("windowed", [n], _INT16)
    graph.custom_op("SignalWindow", [audio, graph.tensor("hann_window", [n], _INT16, hann_window(front_end))],
                    [windowed], {"shift": WINDOW_BITS})
    scaled, shift = graph.tensor("scaled", [n], _INT16), graph.tensor("scale_bits", [], _INT32)
    graph.custom_op("SignalFftAutoScale", [windowed], [scaled, shift])
    spectrum_tensor = graph.tensor("spectrum", [2 * spectrum], _INT16)
    graph.custom_op("SignalRfft", [scaled], [spectrum_tensor], {"T": _INT16, "fft_length": front_end.fft_length})
    energy = graph.tensor("energy", [spectrum], _UINT32)
    graph.custom_op("SignalEnergy", [spectrum_tensor], [energy],
                    {"end_index": tables["end_index"], "start_index": tables["start_index"]})
    table_tensors = [graph.tensor(name, [len(tables[name])], _INT16, tables[name]) for name in (
        "weights", "unweights", "channel_frequency_starts", "channel_weight_starts", "channel_widths")]
    bank = graph.tensor("filter_bank", [bands], _UINT64)
    graph.custom_op("SignalFilterBank", [energy, *table_tensors], [bank], {"num_channels": bands})
    amplitude = graph.tensor("amplitude", [bands], _UINT32)
    graph.custom_op("SignalFilterBankSquareRoot", [bank, shift], [amplitude])
    if front_end.pcan:
        amplitude = _noise_reduction_and_pcan(graph, front_end, amplitude)
    features = graph.tensor("features", [bands], _INT16)
    correction = _correction_bits(front_end)
    graph.custom_op("SignalFilterBankLog", [amplitude], [features],
                    {"input_correction_bits": correction, "output_scale": 1 << LOG_BITS})
    return graph.finish([audio], [features])


def _noise_reduction_and_pcan(graph: _Graph, front_end: FrontEnd, amplitude: int) -> int:
    """`SignalFilterBankSpectralSubtraction` then `SignalPCAN` on the bands' amplitudes; the gain-controlled ones."""
    bands, one = front_end.bands, 1 << SPECTRAL_SUBTRACTION_BITS
    even, odd = int(EVEN_SMOOTHING * one), int(ODD_SMOOTHING * one)
    reduced, noise = graph.tensor("noise_reduced", [bands], _UINT32), graph.tensor("noise_estimate", [bands], _UINT32)
    graph.custom_op("SignalFilterBankSpectralSubtraction", [amplitude], [reduced, noise], {
        "alternate_one_minus_smoothing": one - odd, "alternate_smoothing": odd, "clamping": 0,
        "min_signal_remaining": int(MIN_SIGNAL_REMAINING * one), "num_channels": bands,
        "one_minus_smoothing": one - even, "smoothing": even, "smoothing_bits": NOISE_SMOOTHING_BITS,
        "spectral_subtraction_bits": SPECTRAL_SUBTRACTION_BITS})
    gained = graph.tensor("gain_controlled", [bands], _UINT32)
    gains = pcan_gain_table(front_end)
    table = graph.tensor("pcan_gain_table", [len(gains)], _INT16, gains)
    graph.custom_op("SignalPCAN", [reduced, noise, table], [gained], {"snr_shift": PCAN_SNR_SHIFT})
    return gained


def int16_clips(audio: np.ndarray) -> np.ndarray:
    """A batch of clips as int16 `(n, samples)`.

    Args:
        audio: `(n, samples)` or `(n, samples, 1)` clips: float in [-1, 1]
            (scaled by 32767, clipped) or int16.

    Raises:
        ValueError: not a batch of 1-D clips.
    """
    audio = np.asarray(audio)
    if audio.ndim == 3 and audio.shape[-1] == 1:
        audio = audio[..., 0]
    if audio.ndim != 2:
        raise ValueError(f"Audio must be a batch of clips, shape (n, samples) or (n, samples, 1); got {audio.shape}.")
    if audio.dtype == np.int16:
        return audio
    return np.clip(np.round(audio.astype(np.float64) * 32767), -32768, 32767).astype(np.int16)


def frames(audio: np.ndarray, front_end: FrontEnd) -> np.ndarray:
    """Clips cut into the front-end's overlapping windows, as int16.

    Args:
        audio: `(n, samples)` or `(n, samples, 1)` clips (see `int16_clips`).
        front_end: The parameters.

    Returns:
        `(n, frames, window_samples)` int16.

    Raises:
        ValueError: not a batch of 1-D clips, or a clip shorter than a window.
    """
    audio = int16_clips(audio)
    count = front_end.frames(audio.shape[1])
    if count == 0:
        raise ValueError(f"Clips of {audio.shape[1]} samples are shorter than one window "
                         f"({front_end.window_samples} samples of {front_end.window_ms} ms at {front_end.sample_rate} Hz).")
    starts = np.arange(count) * front_end.hop_samples
    return audio[:, starts[:, None] + np.arange(front_end.window_samples)]


def as_network_input(board_features: np.ndarray) -> np.ndarray:
    """int16 features `(n, frames, bands)` as a network takes them: float32 log units, `(n, frames, bands, 1)`."""
    return (np.asarray(board_features).astype(np.float32) / 2**LOG_BITS)[..., None]


def features(audio: np.ndarray, front_end: FrontEnd, *, isolated: bool = True) -> np.ndarray:
    """The front-end's features of each clip, computed by TFLite Micro on this host.

    Every window runs through `front_end_model` in the real TFLite Micro
    interpreter (`keras_nas.tflite.micro.run_raw`), so the numbers are the
    board's; with `pcan`, its kernels' state is reset at each clip's first
    frame.

    Args:
        audio: `(n, samples)` or `(n, samples, 1)` clips (see `frames`).
        front_end: The parameters.
        isolated: Run TFLite Micro in the worker process.

    Returns:
        `(n, frames, bands)` int16 (divide by `2**LOG_BITS` for natural-log units).
    """
    windows = frames(audio, front_end)
    n, count, _ = windows.shape
    outputs, _ = run_raw(front_end_model(front_end), windows.reshape(n * count, -1), isolated=isolated,
                         reset_every=count if front_end.pcan else 0)
    return outputs.reshape(n, count, front_end.bands)


@lru_cache(maxsize=64)
def front_end_cost(front_end: FrontEnd) -> dict:
    """What the front-end adds to a model on the board, measured on TFLite Micro on this host.

    Returns:
        `{"front_end_flash_bytes": the file's size, "front_end_arena_bytes":
        TFLite Micro's arena for it}` (its own interpreter and arena, beside
        the network's, as the `micro_speech` example runs them).
    """
    model = front_end_model(front_end)
    _, arena = run_raw(model, np.zeros((1, front_end.window_samples), np.int16))
    return {"front_end_flash_bytes": len(model), "front_end_arena_bytes": arena}
