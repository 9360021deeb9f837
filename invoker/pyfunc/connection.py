"""What every connection of a server shares (``Site``), and the limits and closing that
HTTP/1.1 connections (``pyfunc.http1``) enforce where the bytes arrive (``LimitedConnection``).

Per connection:

* **Head size** (``max_header_bytes``): bytes of a request head (request line and header
  fields) are counted in ``data_received`` *before* parsing; a head growing past the limit is
  answered ``431 Request Header Fields Too Large`` without parsing the excess, so a huge
  header costs no more than the limit (httptools joins a header's pieces by repeated
  concatenation: quadratic in its size).
* **Field count** (``max_headers``): checked once the head is complete (the size limit
  bounds the work until then); ``431``, and the function is never called.
* **Head timeout** (``header_timeout``): a head not complete that many seconds after the
  server began waiting for it (connection opened, or previous answer sent) is answered
  ``408 Request Timeout`` with ``Connection: close``, as RFC 9110 §15.5.9 describes (hyper's
  ``header_read_timeout`` and Go's ``ReadHeaderTimeout`` close without an answer; a client
  that reads the 408 knows why).
* **Idle timeout** (``idle_timeout``): a keep-alive connection on which no byte of a next
  request arrived in that time is closed without an answer (RFC 9112 §9.5); it also covers a
  connection that never sends anything.
* **Connection cap** (``max_connections``, default from ``RLIMIT_NOFILE``): at the cap a new
  connection first replaces one that has waited over a second for a head (idle or slow), else
  it is answered ``503`` and closed, so the process keeps descriptors for its own work and
  health probes still get through a slowloris. Logged once per burst. The 503 too is closed
  lingering (below), at most ``MAX_LINGERING_REFUSALS`` at once beyond the cap: a flood of
  connections cannot take the descriptors the cap keeps free.

Every close after an answer is a lingering close (``_linger``): the write side is shut, reading
resumes and the rest of the input is discarded until the client closes or ``LINGER`` seconds
pass, as Go's server does. A kernel answers a close with unread input by a TCP reset, and the
client then loses the answer it had not read yet: an HTTP/1.0 ``411``, a ``413`` on a
``Connection: close`` request, any function that answers before reading the whole body.
pyfunc's own answers that end a connection (400, 408, 431) carry ``Connection: close``.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

from .exchange import status_line
from .flow import Flow
from .limits import Limits, Notice

#: Seconds a closing connection keeps draining input after the answer, before it is closed.
LINGER = 1.0
#: A connection must have waited this long for a head before a new one may replace it at the cap.
REPLACEABLE_AFTER = 1.0
#: Connections answered 503 at the cap that may linger at once (they are not counted in the cap).
MAX_LINGERING_REFUSALS = 32
NO_LIMIT = sys.maxsize
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class Site:
    """What the connections of one server share: the app, the limits, the open connections and
    running exchanges (for the cap and the drain), the proxies whose forwarding headers are
    believed (``pyfunc.forwarded``), the ``Date`` header (refreshed each second by
    ``refresh_date``)."""

    def __init__(self, app: Any, limits: Limits, loop: asyncio.AbstractEventLoop) -> None:
        self.app = app
        self.direct = getattr(app, "direct", False)  # pyfunc.app.App's functions may be called by pyfunc.direct
        self.loop = loop
        self.head_limit = limits.max_header_bytes or NO_LIMIT
        self.field_limit = limits.max_headers or NO_LIMIT
        self.header_timeout = limits.header_timeout
        self.idle_timeout = limits.idle_timeout
        waits = [t for t in (limits.idle_timeout, limits.header_timeout) if t]
        self.first_wait = min(waits) if waits else 0.0
        self.cap = limits.max_connections
        self.notices = {key: Notice() for key in ("cap", "bytes", "fields", "timeout", "invalid")}
        self.connections: set[Any] = set()
        self.tasks: set[asyncio.Task] = set()
        self.app_state: dict[str, Any] = {}
        self._proxies: Any = None  # pyfunc.forwarded.TrustedProxies, made on first use
        self.total_requests = 0
        self.lingering_refusals = 0  # connections answered 503 at the cap, not closed yet
        self.date_value = b""
        self.date = b""
        self.refresh_date()

    def refresh_date(self) -> None:
        """The ``Date`` field (RFC 9110 §6.6.1, IMF-fixdate) of the current second."""
        now = time.gmtime()
        self.date_value = ("%s, %02d %s %04d %02d:%02d:%02d GMT" % (
            _DAYS[now.tm_wday], now.tm_mday, _MONTHS[now.tm_mon - 1], now.tm_year, now.tm_hour, now.tm_min,
            now.tm_sec)).encode()
        self.date = b"date: " + self.date_value + b"\r\n"

    def trusted_proxies(self) -> Any:
        """The proxies whose X-Forwarded-* headers are believed (FORWARDED_ALLOW_IPS), read on
        the first request that has such a header."""
        if self._proxies is None:
            from .forwarded import TrustedProxies

            self._proxies = TrustedProxies.from_env()
        return self._proxies

    def notice(self, key: str, message: str, *args: object) -> None:
        self.notices[key](self.loop.time(), message, *args)


class LimitedConnection(asyncio.Protocol):
    """A connection of ``site`` under its limits (module docstring); ``busy()`` says whether a
    request is being answered or waits to be (subclasses)."""

    def __init__(self, site: Site) -> None:
        self.site = site
        self.loop = site.loop
        self.app = site.app
        self.head_limit, self.field_limit, self.idle_timeout = site.head_limit, site.field_limit, site.idle_timeout
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.flow: Flow = None  # type: ignore[assignment]
        self.timer: asyncio.TimerHandle | None = None  # head or idle timeout
        self._head_budget = site.head_limit  # head bytes still allowed; -1 once the connection is closing
        self._waited = 0.0  # seconds of the current wait for a head already timed
        self._armed = site.first_wait
        self._pending_refusal: tuple[int, str] | None = None  # (status, reason) once the answer in flight is sent
        self._lingering: asyncio.TimerHandle | None = None  # the close at the end of a lingering close
        self._client_done = False  # the client shut its sending side
        self._refused = False  # answered 503 at the cap: counted in site.lingering_refusals

    def busy(self) -> bool:
        return False

    def running_call(self) -> Any:
        """The ``pyfunc.direct.Call`` answering this connection's request without a Task, if one
        runs (the drain cancels it as it cancels Tasks; subclasses)."""
        return None

    def closing(self) -> bool:
        """True once no more may be written: closed, or shut for a lingering close."""
        return self._lingering is not None or self.transport.is_closing()

    def _make_room(self) -> bool:
        """Close one connection that has waited over REPLACEABLE_AFTER seconds for a head."""
        now = self.loop.time()
        for other in self.site.connections:
            timer = getattr(other, "timer", None)
            if timer is not None and now - (timer.when() - other._armed - other._waited) >= REPLACEABLE_AFTER:
                other._cancel_timer()
                other.transport.close()
                self.site.notice("cap", "open connections reached the cap of %d (PYFUNC_MAX_CONNECTIONS; from "
                                 "RLIMIT_NOFILE unless set): closing connections idle or slow to send a head",
                                 self.site.cap)
                return True
        return False

    # Timers

    def _timed_out(self) -> None:
        self.timer = None
        if self.closing() or not self._armed:
            return
        self._waited += self._armed
        site = self.site
        if self._head_budget != self.head_limit:  # part of a head arrived
            if not site.header_timeout:
                return
            if self._waited >= site.header_timeout:
                site.notice("timeout", "408: a request head was not complete within %gs (PYFUNC_HEADER_TIMEOUT)",
                            site.header_timeout)
                self._refuse(408, f"request head not complete within {site.header_timeout:g}s")
                return
            self._arm(site.header_timeout - self._waited)
        elif site.idle_timeout:
            if self._waited >= site.idle_timeout:
                self.transport.close()  # idle keep-alive: close without an answer
                return
            self._arm(site.idle_timeout - self._waited)
        else:
            self._waited = 0.0
            self._arm(site.first_wait)

    def _arm(self, delay: float) -> None:
        self._armed = delay
        self.timer = self.loop.call_later(delay, self._timed_out)

    def _cancel_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    # Refusals and closing

    def _refuse(self, status: int, reason: str) -> None:
        """Answer ``status`` with ``reason`` and ``Connection: close``, then close lingering.

        Bytes after a request that is still being answered (pipelined, or the undelimited body
        of an HTTP/1.0 request) are refused only after that answer, so answers stay in order."""
        self._head_budget = -1
        self._cancel_timer()
        if self.busy():
            self._pending_refusal = (status, reason)
            return
        if self.closing():
            return
        self.transport.write(answer(status, reason))
        self._linger()

    def _refuse_at_cap(self) -> None:
        """After the 503 of a connection over the cap: close lingering while few others do, else at once."""
        site = self.site
        if site.lingering_refusals >= MAX_LINGERING_REFUSALS:
            self.transport.close()
            return
        site.lingering_refusals += 1
        self._refused = True
        self.flow = Flow(self.transport)  # type: ignore[arg-type]
        self._linger()

    def _linger(self) -> None:
        """Close after an answer without a reset: shut the write side, read and drop the rest of
        the input, close when the client does or after LINGER seconds (module docstring)."""
        if self.closing():
            return
        transport = self.transport
        self._head_budget = -1  # data_received drops everything from now on
        self._cancel_timer()
        if self._client_done or not transport.can_write_eof():
            transport.close()  # nothing more can arrive, or nothing to shut
            return
        transport.write_eof()
        self.flow.resume_reading()  # reading pauses past 64 KiB of unread body
        self._lingering = self.loop.call_later(LINGER, transport.close)


def answer(status: int, reason: str, extra: bytes = b"") -> bytes:
    body = reason.encode() + b"\n"
    return b"".join([status_line(status), b"content-type: text/plain; charset=utf-8\r\n", extra,
                     b"content-length: %d\r\nconnection: close\r\n\r\n" % len(body), body])
