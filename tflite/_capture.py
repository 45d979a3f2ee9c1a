"""Capture what native code writes to the process-level stderr (fd 2).

TensorFlow's converter and TFLite Micro report through C/C++ `stderr`, which
`contextlib.redirect_stderr` cannot see. `capture_stderr()` temporarily points
file descriptor 2 at a temporary file and hands the text back.
"""

import contextlib
import os
import sys
import tempfile
import threading

# fd 2 is process-wide state: only one capture at a time.
_LOCK = threading.RLock()


class CapturedText:
    """Holder for the captured text, filled in when the context exits."""

    def __init__(self) -> None:
        self.text = ""


def _flush_python_streams() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # closed or replaced streams: nothing to flush
            pass


@contextlib.contextmanager
def capture_stderr():
    """Redirect fd 2 to a temporary file for the duration of the block.

    Yields a `CapturedText` whose `.text` holds everything written to fd 2
    (by Python or native code) once the block has exited, also when it
    raised. If fd 2 cannot be duplicated (for example it is closed), the block
    runs without capture and `.text` stays empty.

    Note that while the block runs, other threads' stderr output is captured
    too (fd 2 is shared by the whole process).

    Example:

    >>> with capture_stderr() as captured:
    ...     _ = os.write(2, b"hello from C\\n")
    >>> captured.text
    'hello from C\\n'
    """
    captured = CapturedText()
    with _LOCK:
        try:
            saved_fd = os.dup(2)
        except OSError:
            yield captured
            return
        with tempfile.TemporaryFile(mode="w+b") as tmp:
            _flush_python_streams()
            os.dup2(tmp.fileno(), 2)
            try:
                yield captured
            finally:
                _flush_python_streams()
                os.dup2(saved_fd, 2)
                os.close(saved_fd)
                tmp.seek(0)
                captured.text = tmp.read().decode("utf-8", errors="replace")
