"""Execution ids as the Functions Framework gives them (functions-framework 3.10.2, execution_id.py).

Every request to a Functions Framework function carries a ``Function-Execution-Id`` request
header: the client's own, else a new 12-character id of letters and digits, added before the
function sees the request (FF does not echo it in the answer, nor does pyfunc).

With ``LOG_EXECUTION_ID`` true (``y``, ``yes``, ``t``, ``true``, ``on``, ``1``, as FF reads
it), what the function prints and logs while it runs becomes one JSON line per write:
``{"message": ..., "severity": ..., "logging.googleapis.com/labels": {"execution_id": ...},
"logging.googleapis.com/spanId": ...}`` (span id from ``X-Cloud-Trace-Context``:
``TRACE/SPAN;o=0|1``). A line that is already a JSON object gets the fields added. ``print``
to stdout is severity INFO, to stderr ERROR; a ``logging`` record has its level. FF writes
no ``severity``; pyfunc adds it so log routers can tell errors apart. Output outside a
function call is left as it is. The context is a ``ContextVar`` set in the thread or task
running the function, so concurrent requests never mix their ids (FF swaps ``sys.stdout``
process-wide per request).
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import re
import string
import sys
from typing import Any, TextIO

from ...http import random_bits

HEADER = "function-execution-id"
WSGI_KEY = "HTTP_FUNCTION_EXECUTION_ID"
TRACE_HEADER = "x-cloud-trace-context"
LABELS = "logging.googleapis.com/labels"
SPAN = "logging.googleapis.com/spanId"
_TRACE = re.compile(r"^\w+/(\d+);o=[01]$")
_ALPHABET = string.digits + string.ascii_letters
_TRUE = ("y", "yes", "t", "true", "on", "1")

#: ``(execution_id, span_id)`` of the function call running in this thread or task.
current: contextvars.ContextVar[tuple[str, str | None] | None] = contextvars.ContextVar("ff_execution", default=None)


def enabled(env: dict[str, str] | os._Environ = os.environ) -> bool:
    """``LOG_EXECUTION_ID`` as functions-framework reads it."""
    return env.get("LOG_EXECUTION_ID", "") in _TRUE


#: Byte → alphabet character, for ids from random bytes in one ``translate`` (~1 µs).
_BYTE_TO_CHAR = bytes(ord(_ALPHABET[b % len(_ALPHABET)]) for b in range(256))


def new_id() -> str:
    """A fresh execution id: 12 characters of ``[0-9A-Za-z]`` (FF draws them with ``random``
    too; ``pyfunc.http.random_bits``: no system call, no GIL release per request)."""
    return random_bits(96).to_bytes(12, "little").translate(_BYTE_TO_CHAR).decode("ascii")


def ensure_header(scope: dict) -> str:
    """The request's execution id; a new one is added to the ASGI scope's headers when absent."""
    for name, value in scope["headers"]:
        if name == b"function-execution-id":
            return value.decode("latin-1")
    found = new_id()
    scope["headers"] = [*scope["headers"], (b"function-execution-id", found.encode("latin-1"))]
    return found


def span_id(trace_header: str | None) -> str | None:
    """The span id of an ``X-Cloud-Trace-Context`` value, or None."""
    match = _TRACE.match(trace_header or "")
    return match.group(1) if match else None


def entry(text: str, severity: str) -> str | None:
    """The JSON line for ``text`` written during a function call, or None outside one."""
    context = current.get()
    if context is None:
        return None
    try:
        payload = json.loads(text)
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        payload = {"message": text[:-1] if text.endswith("\n") else text}
    payload.setdefault("severity", severity)
    labels = payload.get(LABELS)
    payload[LABELS] = {**(labels if isinstance(labels, dict) else {}), "execution_id": context[0]}
    if context[1]:
        payload[SPAN] = context[1]
    return json.dumps(payload)


class TaggedStream:
    """A text stream that writes each ``write`` made during a function call as a JSON line."""

    def __init__(self, stream: TextIO, severity: str) -> None:
        self._stream = stream
        self._severity = severity

    def write(self, text: str) -> int:
        if current.get() is None:
            return self._stream.write(text)
        if text == "\n" or not text:
            return len(text)
        self._stream.write(entry(text, self._severity) + "\n")
        self._stream.flush()
        return len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class TaggedFormatter(logging.Formatter):
    """Records logged during a function call as JSON lines; others by the ``wrapped`` formatter."""

    def __init__(self, wrapped: logging.Formatter | None) -> None:
        super().__init__()
        self._wrapped = wrapped or logging.Formatter()

    def format(self, record: logging.LogRecord) -> str:
        if current.get() is None:
            return self._wrapped.format(record)
        text = record.getMessage()
        if record.exc_info:
            text = f"{text}\n{self.formatException(record.exc_info)}"
        return entry(text, record.levelname) or text


_installed = False


def install() -> None:
    """Tag stdout, stderr and the root logger's handlers (once per process)."""
    global _installed
    if _installed:
        return
    _installed = True
    sys.stdout = TaggedStream(sys.stdout, "INFO")  # type: ignore[assignment]
    sys.stderr = TaggedStream(sys.stderr, "ERROR")  # type: ignore[assignment]
    for handler in logging.getLogger().handlers:
        handler.setFormatter(TaggedFormatter(handler.formatter))


def enter(execution_id: str | None, trace_header: str | None) -> contextvars.Token:
    """Mark the current thread or task as running the call ``execution_id``; ``leave`` undoes it."""
    return current.set((execution_id or "", span_id(trace_header)))


def leave(token: contextvars.Token) -> None:
    current.reset(token)
