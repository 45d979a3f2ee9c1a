"""One status line that updates in place while a search works, as Keras' progress bar does.

At `verbose=1` a search prints one line per finished trial; between those a
candidate may train for minutes. `StatusLine` shows what is happening now
(measuring a candidate's cost, epoch k of E, a finalist's fold) on one line
that is rewritten in place where the output can do it (a terminal, a
notebook) and left out elsewhere (a log file gets only the per-trial lines).

Example:

```python
line = StatusLine()
line.show("trial 0003: measuring int8 cost")
model.fit(x, y, epochs=20, callbacks=[EpochStatus(line, "trial 0003")])
line.clear()
```
"""

from __future__ import annotations

import sys

import keras


def updates_in_place(stream) -> bool:
    """Whether `stream` can rewrite its last line: a terminal, or a Jupyter/Colab kernel (as Keras decides)."""
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) or "ipykernel" in sys.modules


class StatusLine:
    """A line of the output rewritten in place (nothing where the output cannot do it).

    Args:
        stream: Where to write; default `sys.stdout` at each call (so captured
            output is followed).
        enabled: Force the line on or off; `None` asks `updates_in_place`.
    """

    def __init__(self, stream=None, enabled: bool | None = None):
        self._stream = stream
        self._enabled = enabled
        self._width = 0

    @property
    def stream(self):
        return self._stream or sys.stdout

    @property
    def enabled(self) -> bool:
        return updates_in_place(self.stream) if self._enabled is None else self._enabled

    def show(self, text: str) -> None:
        """Replaces the line's text."""
        if not self.enabled:
            return
        padding = " " * max(0, self._width - len(text))
        self.stream.write(f"\r{text}{padding}")
        self.stream.flush()
        self._width = len(text)

    def clear(self) -> None:
        """Erases the line, so the next print starts on a clean one."""
        if self.enabled and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
        self._width = 0


class EpochStatus(keras.callbacks.Callback):
    """Shows `"<prefix>: epoch k/E <metric> <value>"` on a `StatusLine` after each epoch.

    Args:
        line: The `StatusLine`.
        prefix: What is training (`"trial 0003"`, `"finalist 0003, fold 2/3"`).
        monitor: The metric shown, when the logs have it (e.g. `"val_accuracy"`).
    """

    def __init__(self, line: StatusLine, prefix: str, monitor: str | None = None):
        super().__init__()
        self.line, self.prefix, self.monitor = line, prefix, monitor
        self.epochs = None

    def on_train_begin(self, logs=None):
        self.epochs = self.params.get("epochs")

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        metric = ""
        if self.monitor and isinstance(logs.get(self.monitor), (int, float)):
            metric = f" {self.monitor} {float(logs[self.monitor]):.4f}"
        self.line.show(f"{self.prefix}: epoch {epoch + 1}/{self.epochs}{metric}")
