"""Log output: plain text by default, one JSON object a line with ``PYFUNC_LOG_FORMAT=json``.

Neither can be forged by what a client or a function puts in a message (a path, a header, an
exception message): in text, control characters are escaped (``\\n``, ``\\r``, ``\\x1b``...)
so a record is one line plus, for an error, the lines of its traceback; JSON escapes them itself.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import traceback

from .config import Config


class JSONFormatter(logging.Formatter):
    """``{"time", "level", "logger", "message", ...extra fields, "exception"}`` per record."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


#: C0 controls but tab, DEL, C1 controls, and the Unicode line and paragraph separators.
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r"}


def escape(text: str) -> str:
    """``text`` with every character ``_CONTROL`` matches written as a Python escape."""
    if _CONTROL.search(text) is None:
        return text
    return _CONTROL.sub(lambda m: _NAMED.get(m.group(), m.group().encode("unicode_escape").decode()), text)


class TextFormatter(logging.Formatter):
    """``time level logger: message``, one line per record, then the traceback if any.

    The line is escaped whole (paths, headers, function names, logger names...); in a
    traceback, the exception messages and notes are escaped, so only the traceback's own
    structure breaks lines.
    """

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        return escape(super().formatMessage(record))

    def formatException(self, ei) -> str:
        if ei[1] is None:
            return super().formatException(ei)
        error = traceback.TracebackException(*ei)
        _escape_messages(error, set())
        return "\n".join(escape(line) for line in "".join(error.format()).rstrip("\n").split("\n"))

    def formatStack(self, stack_info: str) -> str:
        return "\n".join(escape(line) for line in stack_info.split("\n"))


def _escape_messages(error: traceback.TracebackException, seen: set[int]) -> None:
    """Escape the message and notes of ``error`` and of every exception chained to it."""
    if id(error) in seen:
        return
    seen.add(id(error))
    error._str = escape(error._str)  # CPython 3.10-3.13: the message format_exception_only prints
    notes = getattr(error, "__notes__", None)
    if notes:
        error.__notes__ = [escape(str(note)) for note in notes]
    for other in (error.__cause__, error.__context__, *(getattr(error, "exceptions", None) or ())):
        if other is not None:
            _escape_messages(other, seen)


def setup(config: Config) -> None:
    """Configure the root logger on stderr for ``config.log_format`` and ``config.debug``."""
    handler = logging.StreamHandler(sys.stderr)
    if config.log_format == "json":
        handler.setFormatter(JSONFormatter())
    else:
        handler.setFormatter(TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if config.debug else logging.INFO)
