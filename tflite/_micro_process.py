"""A long-lived child process that runs TFLite Micro (see `micro.py`).

TFLite Micro does not verify flatbuffers and can abort or segfault on
damaged models, which would kill the caller. The worker runs
`_micro_core.serve()` in a separate Python; it starts on first use (about
0.2-0.3 s) and then serves each request in a few milliseconds. If TFLite
Micro crashes, the worker dies, the request fails with `InvalidModelError`,
and the next request starts a fresh worker.
"""

from __future__ import annotations

import atexit
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading

import numpy as np

from . import _micro_core

_STARTUP = "import runpy, sys; runpy.run_path(sys.argv[1], run_name='__main__')"


class WorkerCrashed(RuntimeError):
    """The worker died while handling a request (the model crashed TFLM)."""


class MicroWorker:
    """Client of one TFLite Micro worker process; thread-safe.

    Example:

    >>> worker = MicroWorker()
    >>> outputs, error, log = worker.run(model_bytes, raw_inputs, 1 << 20)  # doctest: +SKIP
    """

    def __init__(self, timeout_s: float = 600.0) -> None:
        self.timeout_s = timeout_s
        self._lock = threading.Lock()
        self._process: subprocess.Popen | None = None
        self._pid_of_owner: int | None = None
        self._log_file = None

    def _start(self) -> subprocess.Popen:
        self._log_file = tempfile.TemporaryFile()
        self._process = subprocess.Popen(
            [sys.executable, "-c", _STARTUP, _micro_core.__file__],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log_file,
        )
        self._pid_of_owner = os.getpid()
        return self._process

    def forget_after_fork(self) -> None:
        """In a forked child: drop the parent's worker without touching it."""
        self._lock = threading.Lock()
        if self._process is not None:
            for stream in (self._process.stdin, self._process.stdout):
                try:
                    stream.close()
                except OSError:
                    pass
        self._process = None
        self._log_file = None

    def _live_process(self) -> subprocess.Popen:
        if self._process is None:
            return self._start()
        if self._pid_of_owner != os.getpid():  # forked without the fork hook
            self.forget_after_fork()
            return self._start()
        if self._process.poll() is not None:
            self._discard()
            return self._start()
        return self._process

    def _discard(self) -> None:
        process, self._process = self._process, None
        if process is not None and self._pid_of_owner == os.getpid():
            for stream in (process.stdin, process.stdout):
                try:
                    stream.close()
                except OSError:
                    pass
            if process.poll() is None:
                process.kill()
            process.wait()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def _read_exact(self, process: subprocess.Popen, n: int) -> bytes:
        fd = process.stdout.fileno()
        data = bytearray()
        while len(data) < n:
            ready, _, _ = select.select([fd], [], [], self.timeout_s)
            if not ready:
                raise TimeoutError(f"TFLite Micro did not answer within {self.timeout_s:.0f} s")
            chunk = os.read(fd, n - len(data))
            if not chunk:
                raise WorkerCrashed(self._crash_reason(process))
            data += chunk
        return bytes(data)

    def _crash_reason(self, process: subprocess.Popen) -> str:
        code = process.wait()
        if code < 0:
            try:
                what = f"crashed with {signal.Signals(-code).name}"
            except ValueError:
                what = f"was killed by signal {-code}"
        else:
            what = f"exited with code {code}"
        tail = ""
        if self._log_file is not None:
            self._log_file.seek(0)
            tail = self._log_file.read()[-400:].decode("utf-8", "replace").strip()
        return f"TFLite Micro {what} (in its worker process)" + (f": {tail}" if tail else "")

    def run(
        self, model_content: bytes, raw_inputs: np.ndarray, arena_size: int, reset_every: int = 0
    ) -> tuple[np.ndarray | None, str | None, str]:
        """Run `_micro_core.run_tflm` in the worker (`reset_every` as there).

        Returns:
            `(outputs, error, log)`: raw outputs (or `None`), the error text
            (or `None`), and TFLite Micro's stderr output.

        Raises:
            WorkerCrashed: The worker died (the model crashed TFLite Micro).
            TimeoutError: No answer within `timeout_s`; the worker is killed.
        """
        message = _micro_core.pack(
            {
                "model": np.frombuffer(model_content, dtype=np.uint8),
                "inputs": raw_inputs,
                "arena_size": np.int64(arena_size),
                "reset_every": np.int64(reset_every),
            }
        )
        with self._lock:
            process = self._live_process()
            try:
                process.stdin.write(message)
                process.stdin.flush()
                header = self._read_exact(process, _micro_core.HEADER_BYTES)
                reply = _micro_core.unpack(
                    self._read_exact(process, int.from_bytes(header, "little"))
                )
            except BrokenPipeError:
                reason = self._crash_reason(process)
                self._discard()
                raise WorkerCrashed(reason) from None
            except BaseException:
                self._discard()
                raise
        error = str(reply["error"]) if "error" in reply else None
        return reply.get("outputs"), error, str(reply["log"])

    def close(self) -> None:
        """Stop the worker (it also exits on its own when this process ends)."""
        with self._lock:
            self._discard()


_WORKER = MicroWorker()
atexit.register(_WORKER.close)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_WORKER.forget_after_fork)


def shared_worker() -> MicroWorker:
    """The process-wide worker used by `micro.py`."""
    return _WORKER
