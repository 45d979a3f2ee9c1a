"""Cached, noise-controlled LiteRT latency measurements.

A NAS measures many candidates, often the same bytes more than once (the
same architecture re-sampled, a resumed search). `LatencyCache` keys each
measurement by the sha256 of the model bytes plus the settings that change
the figure (threads, XNNPACK, runs, warm-up), keeps it in memory and, with a
`path`, in a JSON file that later processes reuse.

Noise control: a measurement whose coefficient of variation (std / mean)
exceeds `max_cv` is repeated, up to `max_remeasure` more times, and the
measurement with the lowest cv is kept; `remeasured` says how many extra
measurements were needed.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from dataclasses import asdict, dataclass

from . import latency as _latency
from .interpreter import ModelSource, as_model_bytes
from .latency import LatencyStats

_FORMAT = 1  # bump when the stored fields change


@dataclass(frozen=True)
class CachedLatency:
    """A latency figure and how it was obtained.

    Attributes:
        stats: The kept `LatencyStats` (lowest cv among the measurements).
        cache_hit: `True` when nothing was measured for this call.
        remeasured: Extra measurements made because cv exceeded `max_cv`.
        max_cv: The cv threshold in force.
        key: The cache key.
    """

    stats: LatencyStats
    cache_hit: bool
    remeasured: int
    max_cv: float
    key: str

    @property
    def median_ms(self) -> float:
        """`stats.median_ms`."""
        return self.stats.median_ms


def model_hash(model_content: ModelSource) -> str:
    """sha256 hex digest of the model bytes.

    Example:

    >>> model_hash(b"....TFL3")[:8]
    '9bc9987b'
    """
    return hashlib.sha256(as_model_bytes(model_content)).hexdigest()


class LatencyCache:
    """Latency measurements keyed by model bytes and measurement settings.

    Args:
        path: Optional JSON file. Existing entries are loaded from it, and
            every new measurement is written back (atomically), so other
            processes and later runs reuse them. `None` keeps the cache in
            memory only.
        max_cv: Re-measure when the coefficient of variation is above this.
        max_remeasure: At most this many extra measurements per model.

    Raises:
        ValueError: `max_cv <= 0`, `max_remeasure < 0`, or `path` holds a
            file that is not a latency cache (the message names the file).

    Example:

    >>> cache = LatencyCache("latency_cache.json")  # doctest: +SKIP
    >>> first = cache.measure(model_bytes, runs=30)  # doctest: +SKIP
    >>> cache.measure(model_bytes, runs=30).cache_hit  # doctest: +SKIP
    True
    """

    def __init__(self, path: str | None = None, max_cv: float = 0.15, max_remeasure: int = 3) -> None:
        if not isinstance(max_cv, (int, float)) or max_cv <= 0:
            raise ValueError(f"max_cv must be a positive number, got {max_cv!r}.")
        if not isinstance(max_remeasure, int) or max_remeasure < 0:
            raise ValueError(f"max_remeasure must be a non-negative int, got {max_remeasure!r}.")
        self.path = os.fspath(path) if path is not None else None
        self.max_cv = float(max_cv)
        self.max_remeasure = max_remeasure
        self.hits = 0
        self.misses = 0
        self.measurements = 0
        self._lock = threading.Lock()
        self._entries: dict[str, dict] = {}
        if self.path and os.path.exists(self.path):
            self._load()

    def _load(self) -> None:
        try:
            with open(self.path, encoding="utf-8") as f:
                content = json.load(f)
            if content.get("format") != _FORMAT or not isinstance(content.get("entries"), dict):
                raise ValueError("missing 'format'/'entries'")
            for key, entry in content["entries"].items():
                LatencyStats(**entry["stats"])  # validate
            self._entries = content["entries"]
        except (OSError, ValueError, TypeError, KeyError, AttributeError) as e:
            raise ValueError(
                f"{self.path!r} is not a keras-nas latency cache ({type(e).__name__}: {e}). "
                "Pass another path, or delete the file to start a new cache."
            ) from e

    def _save(self) -> None:
        if not self.path:
            return
        directory = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump({"format": _FORMAT, "entries": self._entries}, f, indent=1, sort_keys=True)
        os.replace(tmp, self.path)

    def __len__(self) -> int:
        return len(self._entries)

    @staticmethod
    def key(data: bytes, runs: int, warmup: int, num_threads: int, use_xnnpack: bool) -> str:
        """Cache key: sha256 of the bytes + threads + XNNPACK + runs + warm-up."""
        digest = hashlib.sha256(data).hexdigest()
        return f"{digest}|t{num_threads}|x{int(bool(use_xnnpack))}|r{runs}|w{warmup}"

    def measure(
        self,
        model_content: ModelSource,
        runs: int = 50,
        warmup: int = 5,
        num_threads: int = 1,
        use_xnnpack: bool = True,
    ) -> CachedLatency:
        """Cached, noise-controlled `measure_latency`.

        Args:
            model_content: The `.tflite` flatbuffer as bytes, or a file path.
            runs: Timed runs per measurement.
            warmup: Untimed runs before each measurement.
            num_threads: Interpreter threads.
            use_xnnpack: XNNPACK delegate on or off.

        Returns:
            A `CachedLatency`.

        Raises:
            InvalidModelError: The model cannot be loaded.
            ValueError: Bad `runs`/`warmup`/`num_threads`.
        """
        data = as_model_bytes(model_content)
        key = self.key(data, runs, warmup, num_threads, use_xnnpack)
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self.hits += 1
                return CachedLatency(
                    stats=LatencyStats(**entry["stats"]), cache_hit=True,
                    remeasured=entry["remeasured"], max_cv=self.max_cv, key=key,
                )  # fmt: skip
        best = None
        remeasured = 0
        for attempt in range(self.max_remeasure + 1):
            stats = _latency.measure_latency(
                data, runs=runs, warmup=warmup, num_threads=num_threads, use_xnnpack=use_xnnpack
            )
            self.measurements += 1
            if best is None or stats.cv < best.cv:
                best = stats
            if stats.cv <= self.max_cv:
                break
            if attempt < self.max_remeasure:
                remeasured += 1
        with self._lock:
            self.misses += 1
            self._entries[key] = {"stats": asdict(best), "remeasured": remeasured}
            self._save()
        return CachedLatency(stats=best, cache_hit=False, remeasured=remeasured, max_cv=self.max_cv, key=key)


_DEFAULT_CACHE = LatencyCache()


def default_cache() -> LatencyCache:
    """The process-wide in-memory cache `measure_latency_cached` uses by default."""
    return _DEFAULT_CACHE


def measure_latency_cached(
    model_content: ModelSource,
    runs: int = 50,
    warmup: int = 5,
    num_threads: int = 1,
    use_xnnpack: bool = True,
    cache: LatencyCache | None = None,
) -> CachedLatency:
    """`measure_latency` through a `LatencyCache` (the process-wide one by default).

    Args:
        model_content: The `.tflite` flatbuffer as bytes, or a file path.
        runs: Timed runs per measurement.
        warmup: Untimed runs before each measurement.
        num_threads: Interpreter threads.
        use_xnnpack: XNNPACK delegate on or off.
        cache: The cache to use; `None` uses `default_cache()`.

    Returns:
        A `CachedLatency` (`.stats`, `.cache_hit`, `.remeasured`).

    Raises:
        InvalidModelError: The model cannot be loaded.

    Example:

    >>> measure_latency_cached(model_bytes, runs=30).stats.median_ms  # doctest: +SKIP
    0.011
    """
    return (cache if cache is not None else _DEFAULT_CACHE).measure(
        model_content, runs=runs, warmup=warmup, num_threads=num_threads, use_xnnpack=use_xnnpack
    )
