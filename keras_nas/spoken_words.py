"""Spoken command words made offline with espeak-ng: a keyword-spotting data set with disjoint speakers.

No speech data set can be downloaded here, so this one is synthesized: the
10 command words of Speech Commands (yes, no, up, down, left, right, on, off,
stop, go), "unknown" (10 other words) and "silence" (noise alone), spoken by
espeak-ng's English voices (7 accents x 20 voice variants = 140 speakers) at
random speeds and pitches, at a random place in a 1 s clip at 16 kHz, at a
random volume, with noise at 5-30 dB SNR. Train, validation and test speakers
are disjoint (a fixed split of the 140: 100 / 20 / 20), so the test set asks
what a deployed model meets: voices it never heard.

Features (`features=`): "log-mel" (49 frames x 40 mel bands, 40 ms window,
20 ms hop, 20-4000 Hz: what a TinyML engineer feeds a DS-CNN), "mfcc" (49 x
10, the MLPerf Tiny front-end) or "raw" (16,000 samples in [-1, 1]). The
generated set is cached in `$KERAS_NAS_CACHE_DIR/datasets` (default
`~/.cache/keras-nas`), written atomically.

Needs the `espeak-ng` program (Debian/Ubuntu: `apt-get install espeak-ng`).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

COMMANDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
UNKNOWN_WORDS = ("bed", "bird", "cat", "dog", "happy", "house", "marvin", "sheila", "tree", "wow")
LABELS = (*COMMANDS, "unknown", "silence")
ACCENTS = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-029")
VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5", "klatt", "klatt2",
            "klatt3", "croak", "grandma", "grandpa", "steph", "john")
SAMPLE_RATE = 16000
ESPEAK_RATE = 22050
WINDOW, HOP, MEL_BANDS, MFCC_COEFFICIENTS = 640, 320, 40, 10  # 40 ms, 20 ms at 16 kHz
FEATURES = ("log-mel", "mfcc", "raw")
_FORMAT_VERSION = 1


def speakers() -> list[str]:
    """Every speaker: an espeak-ng voice `accent+variant`, in a fixed order."""
    return [f"{accent}+{variant}" for accent in ACCENTS for variant in VARIANTS]


def speaker_split(seed: int = 0) -> tuple[list[str], list[str], list[str]]:
    """The train / validation / test speakers (100 / 20 / 20), disjoint, shuffled with `seed`."""
    order = [speakers()[i] for i in np.random.default_rng(seed).permutation(len(speakers()))]
    return order[:100], order[100:120], order[120:]


def espeak_problem() -> str | None:
    """Why espeak-ng cannot be used here, or None."""
    if shutil.which("espeak-ng") is None:
        return ("The spoken-words data set is synthesized with espeak-ng, which is not installed: "
                "apt-get install espeak-ng (Debian/Ubuntu) or brew install espeak-ng (macOS).")
    return None


def synthesize(word: str, voice: str, speed: int, pitch: int) -> np.ndarray:
    """`word` spoken by espeak-ng `voice` at `speed` (words per minute) and `pitch` (0-99), float32 at 16 kHz."""
    from scipy.signal import resample_poly

    result = subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "--stdout", word],
                            capture_output=True, check=True)
    pcm = np.frombuffer(result.stdout[44:], dtype="<i2").astype("float32") / 32768.0  # after the WAV header
    return resample_poly(pcm, 320, 441).astype("float32")  # 22,050 Hz -> 16,000 Hz


def clip(speech: np.ndarray | None, rng: np.random.Generator) -> np.ndarray:
    """A 1 s clip: `speech` (None: silence) at a random place and volume, plus noise at 5-30 dB SNR."""
    audio = np.zeros(SAMPLE_RATE, dtype="float32")
    if speech is not None:
        speech = speech[:SAMPLE_RATE]
        start = int(rng.integers(0, SAMPLE_RATE - len(speech) + 1))
        audio[start:start + len(speech)] = speech / max(1e-6, float(np.max(np.abs(speech)))) * rng.uniform(0.3, 0.9)
    noise = rng.normal(size=SAMPLE_RATE).astype("float32")
    if rng.random() < 0.5:  # a low hum as well, as a fan or mains makes
        noise += 3 * np.sin(2 * np.pi * rng.uniform(50, 200) * np.arange(SAMPLE_RATE) / SAMPLE_RATE)
    power = float(np.mean(audio**2)) if speech is not None else 10 ** rng.uniform(-5, -2)
    snr_db = rng.uniform(5, 30) if speech is not None else 0.0
    noise *= np.sqrt(power / 10 ** (snr_db / 10) / float(np.mean(noise**2)))
    return np.clip(audio + noise, -1.0, 1.0)


def mel_filterbank(bands: int = MEL_BANDS, n_fft: int = 1024, low: float = 20.0, high: float = 4000.0) -> np.ndarray:
    """Triangular mel filters (HTK mel scale), shape `(n_fft // 2 + 1, bands)`."""
    def mel(f):
        return 2595.0 * np.log10(1.0 + f / 700.0)

    def hz(m):
        return 700.0 * (10 ** (m / 2595.0) - 1.0)

    edges = hz(np.linspace(mel(low), mel(high), bands + 2))
    freqs = np.linspace(0, SAMPLE_RATE / 2, n_fft // 2 + 1)
    bank = np.zeros((len(freqs), bands), dtype="float32")
    for b in range(bands):
        left, center, right = edges[b:b + 3]
        bank[:, b] = np.clip(np.minimum((freqs - left) / (center - left), (right - freqs) / (right - center)), 0, None)
    return bank


def log_mel(audio: np.ndarray) -> np.ndarray:
    """Log mel energies of 1 s clips `(n, 16000)`: `(n, 49, 40)` (40 ms Hann window, 20 ms hop)."""
    frames = np.lib.stride_tricks.sliding_window_view(audio, WINDOW, axis=-1)[..., ::HOP, :]
    spectrum = np.abs(np.fft.rfft(frames * np.hanning(WINDOW).astype("float32"), n=1024)) ** 2
    return np.log(spectrum @ mel_filterbank() + 1e-6).astype("float32")


def mfcc(audio: np.ndarray) -> np.ndarray:
    """The first 10 MFCCs of 1 s clips: `(n, 49, 10)` (DCT-II of `log_mel`)."""
    from scipy.fft import dct

    return dct(log_mel(audio), type=2, norm="ortho", axis=-1)[..., :MFCC_COEFFICIENTS].astype("float32")


def _utterances(names: list[str], repetitions: int, rng: np.random.Generator) -> list[tuple]:
    """`(label, word or None, voice, speed, pitch)` for every clip of these speakers."""
    rows = []
    for voice in names:
        for _ in range(repetitions):
            for label, word in enumerate(COMMANDS):
                rows.append((label, word, voice))
            for word in rng.choice(UNKNOWN_WORDS, 2, replace=False):
                rows.append((LABELS.index("unknown"), str(word), voice))
            rows.append((LABELS.index("silence"), None, voice))
    return [(*row, int(rng.integers(110, 210)), int(rng.integers(20, 80))) for row in rows]


def _generate(names: list[str], repetitions: int, seed: int, features: str) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    rows = _utterances(names, repetitions, rng)
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        speech = list(pool.map(lambda r: None if r[1] is None else synthesize(r[1], r[2], r[3], r[4]), rows))
    audio = np.stack([clip(s, rng) for s in speech])
    x = {"raw": lambda a: a[..., None], "log-mel": lambda a: log_mel(a)[..., None],
         "mfcc": lambda a: mfcc(a)[..., None]}[features](audio)
    return x.astype("float32"), np.array([r[0] for r in rows], dtype="int64")


def cache_dir() -> Path:
    base = os.environ.get("KERAS_NAS_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "keras-nas")
    return Path(base) / "datasets"


def load_spoken_words(features: str = "log-mel", repetitions: int = 3, seed: int = 0, cache: bool = True):
    """Spoken command words (12 classes: `LABELS`) by disjoint train / validation / test speakers.

    See the module docstring for how they are made. About 5,000 clips with the
    defaults (a minute or two to synthesize once, then read from the cache).

    Args:
        features: "log-mel" (`(n, 49, 40, 1)`), "mfcc" (`(n, 49, 10, 1)`) or
            "raw" (`(n, 16000, 1)`, float32 in [-1, 1]).
        repetitions: Clips of each word per speaker (each at its own speed,
            pitch, place, volume and noise).
        seed: Seed of the speaker split and of every random choice.
        cache: Read and write the cache.

    Returns:
        `(x_train, y_train), (x_val, y_val), (x_test, y_test)`; y indexes `LABELS`.

    Raises:
        ValueError: Unknown `features`, or `repetitions` not a positive integer.
        RuntimeError: espeak-ng is not installed (the message says how to install it).

    Example:

    ```python
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = load_spoken_words()
    x_train.shape  # (3900, 49, 40, 1)
    ```
    """
    if features not in FEATURES:
        raise ValueError(f"Unknown features {features!r}; choose one of {FEATURES}.")
    if isinstance(repetitions, bool) or not isinstance(repetitions, int) or repetitions < 1:
        raise ValueError(f"`repetitions` must be a positive integer, got {repetitions!r}.")
    problem = espeak_problem()
    key = hashlib.sha256(json.dumps([_FORMAT_VERSION, features, repetitions, seed]).encode()).hexdigest()[:16]
    path = cache_dir() / f"spoken_words_{features}_{key}.npz"
    if cache and path.is_file():
        with np.load(path) as stored:
            return tuple((stored[f"x_{part}"], stored[f"y_{part}"]) for part in ("train", "val", "test"))
    if problem:
        raise RuntimeError(problem)
    splits = [_generate(names, repetitions, seed + i, features) for i, names in enumerate(speaker_split(seed))]
    if cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=".npz", delete=False) as f:
            np.savez(f, **{f"{k}_{part}": v for part, split in zip(("train", "val", "test"), splits)
                           for k, v in zip(("x", "y"), split)})
        os.replace(f.name, path)
    return tuple(splits)
