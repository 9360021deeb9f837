"""The process environment functions-framework 3.10.2 sets up for a function.

* ``FUNCTION_TARGET`` (the function's name) and ``FUNCTION_SIGNATURE_TYPE`` (the resolved
  signature type) are set in ``os.environ``, as FF's ``_function_registry`` does.
* Legacy GCF Python 3.7 mode, when ``ENTRY_POINT`` is set: ``FUNCTION_NAME`` =
  ``K_SERVICE`` or the target, ``FUNCTION_TRIGGER_TYPE`` = the signature type, stdout and
  stderr become one JSON object per write ``{"severity": "INFO"|"ERROR", "message"}`` on
  stderr, ``logging`` at INFO (INFO and below to stdout, WARNING and above to stderr), and
  an http function returning ``None`` answers ``OK`` (``flask_app.prepare``).
* ``CLOUD_RUN_TIMEOUT_SECONDS`` with ``THREADED_TIMEOUT_ENABLED=true``: a request still
  running after that many seconds answers 500 with ``X-Google-Status: crash`` (FF raises in
  the request's thread; pyfunc answers and lets the thread finish: ``deadline``).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from typing import Any, TextIO


def apply(target: str, signature: str) -> None:
    os.environ["FUNCTION_TARGET"] = target
    os.environ["FUNCTION_SIGNATURE_TYPE"] = signature
    if os.environ.get("ENTRY_POINT"):
        os.environ["FUNCTION_NAME"] = os.environ.get("K_SERVICE", target)
        os.environ["FUNCTION_TRIGGER_TYPE"] = signature
        _legacy_logging()


def deadline() -> float | None:
    """Seconds a request may run (``CLOUD_RUN_TIMEOUT_SECONDS`` when
    ``THREADED_TIMEOUT_ENABLED`` is true), or None."""
    try:
        seconds = int(os.environ.get("CLOUD_RUN_TIMEOUT_SECONDS", "0") or 0)
    except ValueError:
        return None
    enabled = os.environ.get("THREADED_TIMEOUT_ENABLED", "False").lower() == "true"
    return float(seconds) if seconds > 0 and enabled else None


class SeverityStream:
    """A text stream writing each non-empty write as ``{"severity", "message"}`` to ``target``."""

    def __init__(self, severity: str, target: TextIO) -> None:
        self.severity = severity
        self.target = target

    def write(self, text: str) -> int:
        if text.strip("\n"):
            self.target.write(json.dumps({"severity": self.severity, "message": text.rstrip("\n")}) + "\n")
            self.target.flush()
        return len(text)

    def flush(self) -> None:
        self.target.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.target, name)


def _legacy_logging() -> None:
    stderr = sys.stderr
    sys.stdout = SeverityStream("INFO", stderr)  # type: ignore[assignment]
    sys.stderr = SeverityStream("ERROR", stderr)  # type: ignore[assignment]
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    info = logging.StreamHandler(sys.stdout)
    info.addFilter(lambda record: record.levelno <= logging.INFO)
    warnings = logging.StreamHandler(sys.stderr)
    warnings.setLevel(logging.WARNING)
    root.addHandler(info)
    root.addHandler(warnings)
