"""The connection-level limits the HTTP protocols enforce, and the once-per-burst warning they log.

See ``pyfunc.connection`` (HTTP/1.1) and ``pyfunc.h2c`` (HTTP/2) for where each applies.
"""

from __future__ import annotations

import logging
import resource
from dataclasses import dataclass

from .config import Config

log = logging.getLogger("pyfunc")


@dataclass(frozen=True)
class Limits:
    """Connection-level limits; 0 means none for every field.

    Attributes:
        max_header_bytes: bytes in one request head (request line + header fields).
        max_headers: header fields in one request.
        header_timeout: seconds from the start of the wait to a complete head.
        idle_timeout: seconds an idle connection (no byte of a next request) stays open.
        max_connections: open connections.
    """

    max_header_bytes: int = 16384
    max_headers: int = 100
    header_timeout: float = 10.0
    idle_timeout: float = 5.0
    max_connections: int = 0

    @classmethod
    def from_config(cls, config: Config) -> "Limits":
        return cls(config.max_header_bytes, config.max_headers, config.header_timeout, config.idle_timeout,
                   connection_cap(config.max_connections))


#: The soft descriptor limit raised to when the hard limit is unlimited (func-python's choice).
MAX_DESCRIPTORS = 65536


def raise_descriptor_limit() -> None:
    """Raise the soft ``RLIMIT_NOFILE`` to the hard limit (at most MAX_DESCRIPTORS when that is
    unlimited), as Go and Java runtimes and func-python do, before the cap is derived from it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = MAX_DESCRIPTORS if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError) as exc:
            log.info("could not raise the open-file limit from %d to %d: %s", soft, target, exc)


def connection_cap(setting: int | None) -> int:
    """The open-connection cap: ``setting`` when given (0 = none), else from ``RLIMIT_NOFILE``.

    The derived cap leaves an eighth of the soft descriptor limit (at least 64) to the process
    itself (listening sockets, the event loop, the function's files): 896 for 1,024.
    """
    if setting is not None:
        return setting
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 0
    return max(1, soft - max(64, soft // 8))


class Notice:
    """Log a warning at most once per ``quiet`` seconds; the next line counts what was held back."""

    def __init__(self, quiet: float = 10.0) -> None:
        self.quiet = quiet
        self.last = -quiet
        self.held = 0

    def __call__(self, now: float, message: str, *args: object) -> None:
        if now - self.last < self.quiet:
            self.held += 1
            return
        if self.held:
            message += " (and %d more like it since the last notice)"
            args += (self.held,)
        log.warning(message, *args)
        self.last, self.held = now, 0
