"""Build output laid out as Paketo's packit ``scribe`` does (packit/scribe.Emitter).

| line          | indent | packit            | e.g.                                              |
|---------------|--------|-------------------|---------------------------------------------------|
| title         | 0      | ``Title``         | ``pyfunc Python Function Buildpack 0.1.0``        |
| step          | 2      | ``Process``       | ``Installing invoker``                            |
| detail        | 4      | ``Subprocess``    | ``Reusing cached layer /layers/...``              |
| sub-detail    | 6      | ``Action``        | ``Completed in 1.234s``, a detail's own lines     |

Sections (steps) are separated by one blank line (packit's ``Break``); a timed step ends with
``Completed in`` at the sub-detail level, as packit's ``Action("Completed in %s")``.
``BP_LOG_LEVEL=DEBUG`` shows debug lines (the commands run and their output) as sub-details.
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
        self._sections = 0

    def title(self, name: str, version: str) -> None:
        self._write(0, f"{name} {version}")

    def step(self, text: str) -> None:
        """A section: a blank line before every one but the first."""
        if self._sections:
            self.stream.write("\n")
        self._sections += 1
        self._write(1, text)

    def detail(self, text: str) -> None:
        self._write(2, text)

    def subdetail(self, text: str) -> None:
        self._write(3, text)

    def debug(self, text: str) -> None:
        if self.debug_on:
            self._write(3, text)

    def warn(self, text: str) -> None:
        self._write(2, f"WARNING: {text}")

    @contextmanager
    def timed(self, text: str) -> Iterator[None]:
        """A step whose body's duration is reported as ``Completed in 1.234s``."""
        self.step(text)
        start = time.monotonic()
        yield
        self._write(3, f"Completed in {time.monotonic() - start:.3f}s")

    def _write(self, level: int, text: str) -> None:
        pad = "  " * level
        for line in text.splitlines() or [""]:
            self.stream.write(f"{pad}{line}\n")
        self.stream.flush()
