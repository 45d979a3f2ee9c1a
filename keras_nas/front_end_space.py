"""The audio front-end's choices, searched with the network: window, hop, mel bands, PCAN, log-mel or MFCC.

On a microcontroller the front-end that turns audio into features decides
the accuracy, the arena and the time as much as the network does: a 10-ms hop
doubles every activation of a 20-ms one, 40 mel bands quadruple 10. A search
on raw audio starts with `FrontEndSpace`, a `Block` whose `build` puts a
`keras_nas.tflite.front_end_layer.FrontEndLayer` on the audio (TFLite Micro's
signal ops, the board's own numbers) with the sampled window, hop and bands,
with or without noise reduction and PCAN gain control before the log;
the network space (`"kws"` by default) works on its features, or on their
first MFCCs: a fixed DCT-II of the bands (a convolution across them, not
trained, the network's first int8 layer: the signal library has no DCT). The
hop and the bands are resolution knobs of the space fit (`keras_nas.space_fit`), as an
image's resolution is.

Example:

```python
from keras_nas import NASModel
from keras_nas.front_end_space import FrontEndSpace

nas = NASModel(front_end=FrontEndSpace(), constraints={"flash_kb": 64, "peak_ram_kb": 64})
nas.fit(audio_train, y_train, validation_data=(audio_val, y_val), epochs=30)   # audio: (n, 16000)
```
"""

from __future__ import annotations

import itertools
import math
import numbers

import keras
import numpy as np

from keras_nas.blocks.base import Block
from keras_nas.tflite.front_end_layer import FrontEndLayer
from keras_nas.tflite.signal_front_end import FrontEnd

# The usual keyword-spotting choices (MLPerf Tiny's front-end is 40 ms / 20 ms; micro_speech's 30 / 20).
WINDOWS_MS = (20, 30, 40)
HOPS_MS = (10, 20)
BANDS = (10, 20, 32, 40)
# Noise reduction and PCAN gain control before the log (micro_speech's front-end has them).
PCAN = (False, True)
# MFCCs kept (0: the log-mel bands themselves; MLPerf Tiny's DS-CNN takes 10).
MFCC = (0, 10)
# The values an expert starts from (the first candidates' front-end): 30-ms windows every 20 ms, 40 log-mel bands.
DEFAULTS = {"window_ms": 30, "hop_ms": 20, "bands": 40, "pcan": False, "mfcc": 0}


def _choices(name: str, values, integer: bool) -> tuple:
    if isinstance(values, (numbers.Real, str)) or not hasattr(values, "__iter__"):
        values = (values,)
    values = tuple(values)
    kind = numbers.Integral if integer else numbers.Real
    if not values or any(isinstance(v, bool) or not isinstance(v, kind) for v in values):
        what = "whole numbers" if integer else "numbers"
        raise ValueError(f"FrontEndSpace {name} must be one or more {what}, e.g. {DEFAULTS[name]!r}; got {values!r}.")
    if len(set(values)) != len(values):
        raise ValueError(f"FrontEndSpace {name} lists a value twice: {values!r}.")
    if not integer and not all(float(v).is_integer() for v in values):
        values = tuple(float(v) for v in values)  # one type, as Keras Tuner's Choice needs
    elif not integer:
        values = tuple(int(v) for v in values)
    return values


class FrontEndSpace(Block):
    """Searches the audio front-end: raw audio `(n, samples)` or `(n, samples, 1)` in -> log-mel features.

    Each argument is one value (fixed) or a sequence of values (searched);
    every combination must make a valid `FrontEnd` (a hop no longer than its
    window, ...). The candidate's features are those
    TFLite Micro computes from the front-end's `.tflite` file, and its cost
    (file and arena) counts in the candidate's flash and RAM.

    Args:
        window_ms: Window lengths, ms.
        hop_ms: Steps between windows, ms.
        bands: Mel bands.
        pcan: Noise reduction and PCAN gain control before the log (`True`),
            or not (`False`); both searched by default.
        mfcc: MFCCs kept: `0` gives the network the log-mel bands, `k` the
            first `k` coefficients of their DCT-II (all of them when `k` is
            not below the bands).
        sample_rate: The audio's samples per second.
        lower_hz, upper_hz: Edges of the mel filter bank.
        name: The hyperparameters' scope (`"front_end/hop_ms"`, ...).

    Raises:
        ValueError: a value of a wrong type, or a combination that is not a
            valid front-end (the message names it).
    """

    def __init__(self, window_ms=WINDOWS_MS, hop_ms=HOPS_MS, bands=BANDS, pcan=PCAN, mfcc=MFCC,
                 sample_rate: int = 16000,
                 lower_hz: float = 125.0, upper_hz: float = 7500.0, name: str = "front_end"):
        super().__init__(name)
        self.window_ms = _choices("window_ms", window_ms, integer=False)
        self.hop_ms = _choices("hop_ms", hop_ms, integer=False)
        self.bands = _choices("bands", bands, integer=True)
        self.pcan = tuple(pcan) if isinstance(pcan, (tuple, list)) else (pcan,)
        if not self.pcan or any(not isinstance(v, bool) for v in self.pcan) or len(set(self.pcan)) != len(self.pcan):
            raise ValueError(f"FrontEndSpace pcan must be True, False or (False, True); got {pcan!r}.")
        self.mfcc = _choices("mfcc", mfcc, integer=True)
        if any(k < 0 for k in self.mfcc):
            raise ValueError(f"FrontEndSpace mfcc counts the MFCCs kept (0: log-mel), e.g. (0, 10); got {self.mfcc!r}.")
        self.sample_rate, self.lower_hz, self.upper_hz = sample_rate, lower_hz, upper_hz
        for window, hop, count in itertools.product(self.window_ms, self.hop_ms, self.bands):
            try:
                self.front_end(window, hop, count)
            except ValueError as e:
                raise ValueError(f"FrontEndSpace: window {window} ms, hop {hop} ms, {count} bands is not a valid "
                                 f"front-end: {e} Narrow the choices so that every combination is.") from e

    @classmethod
    def fixed(cls, front_end: FrontEnd, mfcc: int = 0, name: str = "front_end") -> "FrontEndSpace":
        """A space of one front-end (nothing searched), log-mel or its first `mfcc` MFCCs."""
        return cls(front_end.window_ms, front_end.hop_ms, front_end.bands, front_end.pcan, mfcc,
                   front_end.sample_rate, front_end.lower_hz, front_end.upper_hz, name=name)

    def to_dict(self) -> dict:
        """The choices as JSON-able values; `FrontEndSpace(**space.to_dict())` is the same space."""
        return {"window_ms": list(self.window_ms), "hop_ms": list(self.hop_ms), "bands": list(self.bands),
                "pcan": list(self.pcan), "mfcc": list(self.mfcc), "sample_rate": self.sample_rate,
                "lower_hz": self.lower_hz, "upper_hz": self.upper_hz,
                "name": self.name}

    def front_end(self, window_ms, hop_ms, bands, pcan: bool = False) -> FrontEnd:
        """The `FrontEnd` of one choice of window, hop, bands and PCAN."""
        return FrontEnd(sample_rate=self.sample_rate, window_ms=window_ms, hop_ms=hop_ms, bands=bands,
                        lower_hz=self.lower_hz, upper_hz=self.upper_hz, pcan=pcan)

    def check_audio(self, input_shape: tuple) -> None:
        """Raises a `ValueError` unless one sample of `input_shape` is a clip longer than every window."""
        shape = tuple(input_shape)
        if len(shape) == 2 and shape[1] == 1:
            shape = shape[:1]
        if len(shape) != 1:
            raise ValueError(f"A front_end takes raw audio clips, x of shape (n, samples) or (n, samples, 1); "
                             f"got samples of shape {tuple(input_shape)}. Pass the audio, not features.")
        longest = max(self.window_ms)
        if self.front_end(longest, min(self.hop_ms), min(self.bands)).frames(int(shape[0])) < 1:
            raise ValueError(f"Clips of {shape[0]} samples are shorter than the {longest}-ms window at "
                             f"{self.sample_rate} Hz: give longer clips or shorter windows.")

    def build(self, hp, inputs):
        def choice(name, values):
            default = DEFAULTS[name] if DEFAULTS[name] in values else values[0]
            return hp.Choice(name, list(values), default=default)

        front_end = self.front_end(choice("window_ms", self.window_ms), choice("hop_ms", self.hop_ms),
                                   choice("bands", self.bands), bool(choice("pcan", self.pcan)))  # KT keeps 0 / 1
        features = FrontEndLayer(front_end, name=self.name)(inputs)
        mfcc = choice("mfcc", self.mfcc)
        return cepstra(features, mfcc, name=f"{self.name}_mfcc") if mfcc else features


def dct_matrix(bands: int, coefficients: int) -> np.ndarray:
    """`(bands, coefficients)`: log-mel frames times it are their first MFCCs (DCT-II, orthonormal, as `scipy.fft.dct`)."""
    n, k = np.arange(bands)[:, None], np.arange(min(coefficients, bands))[None, :]
    matrix = np.sqrt(2.0 / bands) * np.cos(math.pi * (2 * n + 1) * k / (2 * bands))
    matrix[:, 0] /= math.sqrt(2.0)
    return matrix.astype("float32")


def cepstra(features, coefficients: int, name: str):
    """The first `coefficients` MFCCs of `(frames, bands, 1)` log-mel features, as plain Keras layers.

    A convolution across all bands whose kernel is the DCT matrix and is not
    trained (one int8 `CONV_2D`; saving, cloning and QAT keep it), then the
    coefficients put back on the frequency axis (`TRANSPOSE`):
    `(frames, bands, 1)` in, `(frames, k, 1)` out.
    """
    matrix = dct_matrix(features.shape[2], coefficients)
    h = keras.layers.Conv2D(matrix.shape[1], (1, matrix.shape[0]), use_bias=False, trainable=False, name=name,
                            kernel_initializer=keras.initializers.Constant(matrix[None, :, None].tolist()))(features)
    return keras.layers.Permute((1, 3, 2), name=f"{name}_coefficients")(h)
