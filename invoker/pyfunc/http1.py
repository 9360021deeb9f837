"""HTTP/1.1 connections (RFC 9112), parsed by httptools, each request served as an ASGI
exchange (``pyfunc.exchange``), with the limits enforced where the bytes arrive.

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
  health probes still get through a slowloris. Logged once per burst.

Requests on one connection are answered in order: one sent while another is answered
(pipelining) waits, and reading pauses meanwhile. A client that shuts its sending side after a
request (half-close) still gets the answer.

Every close after an answer is a lingering close (``_linger``): the write side is shut, reading
resumes and the rest of the input is discarded until the client closes or ``LINGER`` seconds
pass, as Go's server does. A kernel answers a close with unread input by a TCP reset, and the
client then loses the answer it had not read yet: an HTTP/1.0 ``411``, a ``413`` on a
``Connection: close`` request, any function that answers before reading the whole body.
pyfunc's own answers that end a connection (400, 408, 431) carry ``Connection: close``.

A connection that starts with the HTTP/2 preface, or asks for ``Upgrade: h2c``, is handed
over to ``pyfunc.h2c`` (imported only then).
"""

from __future__ import annotations

import asyncio
import sys
import time
import urllib.parse
from collections import deque
from typing import Any

import httptools

from .exchange import Exchange, status_line
from .flow import Flow
from .limits import Limits, Notice

#: Seconds a closing connection keeps draining input after the answer, before it is closed.
LINGER = 1.0
#: A connection must have waited this long for a head before a new one may replace it at the cap.
REPLACEABLE_AFTER = 1.0
_NONE = sys.maxsize
#: How an HTTP/2 connection with prior knowledge begins (RFC 9113 §3.4).
H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class _TooManyFields(Exception):
    """Raised inside the parser's headers-complete callback to stop parsing."""


class Site:
    """What the connections of one server share: the app, the limits, the open connections and
    running exchanges (for the cap and the drain), the proxies whose forwarding headers are
    believed (``pyfunc.forwarded``), the ``Date`` header (refreshed each second by
    ``refresh_date``)."""

    def __init__(self, app: Any, limits: Limits, loop: asyncio.AbstractEventLoop) -> None:
        self.app = app
        self.loop = loop
        self.head_limit = limits.max_header_bytes or _NONE
        self.field_limit = limits.max_headers or _NONE
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
        the first request that has such a header (``ipaddress`` is not imported before)."""
        if self._proxies is None:
            from .forwarded import TrustedProxies

            self._proxies = TrustedProxies.from_env()
        return self._proxies

    def notice(self, key: str, message: str, *args: object) -> None:
        self.notices[key](self.loop.time(), message, *args)


class H1Connection(asyncio.Protocol):
    """One HTTP/1.1 connection of ``site`` (module docstring)."""

    def __init__(self, site: Site) -> None:
        self.site = site
        self.loop = site.loop
        self.app = site.app
        self.head_limit, self.field_limit, self.idle_timeout = site.head_limit, site.field_limit, site.idle_timeout
        self.parser = httptools.HttpRequestParser(self)
        try:  # answer the first of pipelined requests sent with Connection: close
            self.parser.set_dangerous_leniencies(lenient_data_after_close=True)
        except AttributeError:  # httptools < 0.6.3
            pass
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.flow: Flow = None  # type: ignore[assignment]
        self.server: tuple | None = None
        self.client: tuple | None = None
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.expect_continue = False
        self.forwarded = False  # the head has X-Forwarded-For or -Proto
        self.exchange: Exchange | None = None  # the request parsed last
        self.active: Exchange | None = None  # the request being answered
        self.pipeline: deque[Exchange] = deque()  # parsed, waiting for the answers before theirs
        self.timer: asyncio.TimerHandle | None = None  # head or idle timeout
        self._head_budget = site.head_limit  # head bytes still allowed; -1 once the connection is closing
        self._waited = 0.0  # seconds of the current wait for a head already timed
        self._armed = site.first_wait
        self._upgrade: tuple | None = None  # (settings, method, url, headers) of an ``Upgrade: h2c`` request
        self._h2 = None  # the HTTP/2 protocol this connection was handed over to
        self._pending_refusal: tuple[int, str] | None = None  # (status, reason) once the answer in flight is sent
        self._lingering: asyncio.TimerHandle | None = None  # the close at the end of a lingering close
        self._client_done = False  # the client shut its sending side

    # Connection

    def connection_made(self, transport: asyncio.BaseTransport) -> None:  # type: ignore[override]
        site = self.site
        self.transport = transport  # type: ignore[assignment]
        if site.cap and len(site.connections) >= site.cap and not self._make_room():
            site.notice("cap", "open connections reached the cap of %d (PYFUNC_MAX_CONNECTIONS; from "
                        "RLIMIT_NOFILE unless set) and none is idle: new connections get 503", site.cap)
            transport.write(_answer(503, "too many open connections, retry shortly", b"retry-after: 1\r\n"))
            transport.close()
            return
        site.connections.add(self)
        self.flow = Flow(transport)  # type: ignore[arg-type]
        self.server = _address(transport.get_extra_info("sockname"))
        self.client = _address(transport.get_extra_info("peername"))
        if site.first_wait:
            self.timer = self.loop.call_later(site.first_wait, self._timed_out)

    def connection_lost(self, exc: Exception | None) -> None:
        self.site.connections.discard(self)
        self._cancel_timer()
        if self._lingering is not None:
            self._lingering.cancel()
        for exchange in (self.active, *self.pipeline, self.exchange):
            if exchange is not None:
                exchange.lost()
        if self.flow is not None:
            self.flow.resume_writing()

    def eof_received(self) -> bool | None:
        """Keep the transport open to answer a request in flight; close otherwise."""
        exchange = self.exchange
        if self._lingering is None and exchange is not None and not exchange.complete:
            self._client_done = True
            return True
        return None

    def pause_writing(self) -> None:
        self.flow.pause_writing()

    def resume_writing(self) -> None:
        self.flow.resume_writing()

    def closing(self) -> bool:
        """True once no more may be written: closed, or shut for a lingering close."""
        return self._lingering is not None or self.transport.is_closing()

    def shutdown(self) -> None:
        """The server drains: close now when idle, else after the answer in flight."""
        exchange = self.exchange
        if exchange is None or exchange.complete:
            self.transport.close()
        else:
            exchange.keep_alive = False

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

    def data_received(self, data: bytes) -> None:
        budget = self._head_budget
        if len(data) > budget:
            self._overflow(data, budget)
            return
        self._head_budget = budget - len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            if self._upgrade is not None:  # h2c; any other Upgrade is ignored, the request served as HTTP/1.1
                self._hand_over(data[exc.args[0]:], self._upgrade)
        except httptools.HttpParserError as exc:
            if self.exchange is None and data.startswith(H2_PREFACE):  # HTTP/2 with prior knowledge
                self._hand_over(data)
            elif isinstance(exc.__context__, _TooManyFields):
                self.site.notice("fields", "431: a request had more than %d header fields (PYFUNC_MAX_HEADERS)",
                                 self.field_limit)
                self._refuse(431, f"more than {self.field_limit} header fields")
            else:
                self.site.notice("invalid", "400: invalid HTTP request: %s", exc)
                self._refuse(400, "Invalid HTTP request received.")

    def _overflow(self, data: bytes, budget: int) -> None:
        """``data`` is more than the head may still grow: parse what fits, then judge."""
        if budget < 0:
            return  # closing: dropped until the linger ends
        self.data_received(data[:budget])  # fits exactly: leaves a budget of 0 unless the head completed
        if self._h2 is not None:
            self._h2.data_received(data[budget:])
            return
        if self._head_budget != 0:  # the head completed inside the budget (or was refused)
            self.data_received(data[budget:])
            return
        self.site.notice("bytes", "431: a request head exceeded %d bytes (PYFUNC_MAX_HEADER_BYTES)", self.head_limit)
        self._refuse(431, f"request head larger than {self.head_limit} bytes")

    # Parser callbacks

    def on_message_begin(self) -> None:
        self.url = b""
        self.headers = []
        self.expect_continue = self.forwarded = False

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        if name == b"expect" and value.lower() == b"100-continue":
            self.expect_continue = True
        elif name == b"x-forwarded-for" or name == b"x-forwarded-proto":
            self.forwarded = True
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self._cancel_timer()
        self._waited, self._armed = 0.0, self.site.first_wait
        self._head_budget = _NONE  # body bytes are not head bytes
        if len(self.headers) > self.field_limit:
            raise _TooManyFields
        parser = self.parser
        if parser.should_upgrade() and self._h2c_upgrade():
            return
        version = parser.get_http_version()
        url = httptools.parse_url(self.url)
        raw_path = url.path
        path = raw_path.decode("ascii")
        if "%" in path:
            path = urllib.parse.unquote(path)
        scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": version,
                 "server": self.server, "client": self.client, "scheme": "http", "root_path": "",
                 "method": parser.get_method().decode("ascii"), "path": path, "raw_path": raw_path,
                 "query_string": url.query or b"", "headers": self.headers, "state": self.site.app_state.copy()}
        if self.forwarded:
            self.site.trusted_proxies().apply(scope)
        exchange = Exchange(self, scope, version != "1.0" and parser.should_keep_alive(), self.expect_continue)
        previous, self.exchange = self.exchange, exchange
        if previous is None or previous.complete:
            self._start(exchange)
        else:  # pipelined: after the answers before it
            self.flow.pause_reading()
            self.pipeline.append(exchange)

    def on_body(self, body: bytes) -> None:
        if self._upgrade is None:
            self.exchange.feed(body)  # type: ignore[union-attr]

    def on_message_complete(self) -> None:
        self._head_budget = self.head_limit
        if self._upgrade is None:
            self.exchange.end()  # type: ignore[union-attr]

    # Exchanges

    def _start(self, exchange: Exchange) -> None:
        self.active = exchange
        task = self.loop.create_task(exchange.run(self.app))
        self.site.tasks.add(task)
        task.add_done_callback(self.site.tasks.discard)

    def answered(self, exchange: Exchange) -> None:
        """``exchange``'s answer is complete: close, refuse what came after it, or serve the next."""
        self.site.total_requests += 1
        if self.closing():
            self._pending_refusal = None
            return
        if not exchange.keep_alive or self._client_done:
            self._pending_refusal = None  # nothing more is answered
            self._linger()
            return
        pending = self._pending_refusal
        if pending is not None and not self.pipeline:
            self._pending_refusal = None
            self._refuse(*pending)
            return
        self.flow.resume_reading()
        if self.pipeline:
            self._start(self.pipeline.popleft())
        elif self.site.first_wait:
            self._arm(self.site.first_wait)

    def close_after_answer(self) -> None:
        """End the connection after an answer cut short (the app failed after it began)."""
        self._linger()

    # HTTP/2 cleartext

    def _h2c_upgrade(self) -> bool:
        """Note an ``Upgrade: h2c`` request without a body, to hand over when the parser stops."""
        from .h2c import upgrade_settings

        settings = upgrade_settings(self.headers)
        if settings is None or any(name in (b"content-length", b"transfer-encoding") and value.strip() != b"0"
                                   for name, value in self.headers):
            return False  # served as HTTP/1.1 (a server may ignore Upgrade)
        fields = [(name, value) for name, value in self.headers
                  if name not in (b"connection", b"upgrade", b"http2-settings")]
        self._upgrade = (settings, self.parser.get_method(), self.url, fields)
        return True

    def _hand_over(self, data: bytes, upgrade: tuple | None = None) -> None:
        """Serve the rest of this connection as HTTP/2 (``pyfunc.h2c``), starting with ``data``."""
        from .h2c import H2Protocol

        self._cancel_timer()
        self._head_budget = -1
        self._h2 = H2Protocol(self)
        self._h2.start(data, upgrade)

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
        exchange = self.exchange
        if self.pipeline or (exchange is not None and not exchange.complete):
            self._pending_refusal = (status, reason)
            return
        if self.closing():
            return
        self.transport.write(_answer(status, reason))
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


def _address(info: Any) -> tuple | None:
    """``(host, port)`` of a socket address (an IPv6 one has two more fields), None for others."""
    return (str(info[0]), int(info[1])) if isinstance(info, tuple) and len(info) >= 2 else None


def _answer(status: int, reason: str, extra: bytes = b"") -> bytes:
    body = reason.encode() + b"\n"
    return b"".join([status_line(status), b"content-type: text/plain; charset=utf-8\r\n", extra,
                     b"content-length: %d\r\nconnection: close\r\n\r\n" % len(body), body])
