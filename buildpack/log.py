"""Build output in the Paketo style: a title, indented steps, timings, DEBUG detail.

``BP_LOG_LEVEL=DEBUG`` shows detail lines and the commands run.
"""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from typing import Iterator, TextIO


class Log:
    """Writes to ``stream`` (stdout): two spaces an indent level."""

    def __init__(self, level: str | None = None, stream: TextIO = sys.stdout) -> None:
        self.debug_on = (level or "").upper() == "DEBUG"
        self.stream = stream

    def title(self, name: str, version: str) -> None:
        self._write(0, f"{name} {version}")

    def step(self, text: str) -> None:
        self._write(1, text)

    def detail(self, text: str) -> None:
        self._write(2, text)

    def debug(self, text: str) -> None:
        if self.debug_on:
            self._write(2, text)

    def warn(self, text: str) -> None:
        self._write(2, f"WARNING: {text}")

    @contextmanager
    def timed(self, text: str) -> Iterator[None]:
        """A step whose body's duration is reported as ``Completed in 1.234s``."""
        self.step(text)
        start = time.monotonic()
        yield
        self._write(2, f"Completed in {time.monotonic() - start:.3f}s")

    def _write(self, level: int, text: str) -> None:
        pad = "  " * level
        for line in text.splitlines() or [""]:
            self.stream.write(f"{pad}{line}\n")
        self.stream.flush()
