"""HTTP/1.1 limits enforced where the bytes arrive, before uvicorn's httptools parser sees them.

One subclass of uvicorn's ``HttpToolsProtocol`` (the class uvicorn instantiates per connection
when given as ``http=``) adds, per connection:

* **Head size** (``max_header_bytes``): bytes of a request head (request line and header
  fields) are counted in ``data_received`` *before* parsing; a head growing past the limit is
  answered ``431 Request Header Fields Too Large`` without parsing the excess, so a huge
  header costs no more than the limit (httptools joins a header's pieces by repeated
  concatenation: quadratic in its size).
* **Field count** (``max_headers``): checked once the head is complete (the size limit
  bounds the work until then); ``431``, and the function is never called.
* **Head timeout** (``header_timeout``): a head not complete that many seconds after the
  server began waiting for it (connection opened, or previous response sent) is answered
  ``408 Request Timeout`` with ``Connection: close``, as RFC 9110 §15.5.9 describes (hyper's
  ``header_read_timeout`` and Go's ``ReadHeaderTimeout`` close without an answer; a client
  that reads the 408 knows why).
* **Idle timeout** (``idle_timeout``): a keep-alive connection on which no byte of a next
  request arrived in that time is closed without an answer (RFC 9112 §9.5), as uvicorn's
  ``timeout_keep_alive`` does; here it also covers a connection that never sends anything.
* **Connection cap** (``max_connections``, default from ``RLIMIT_NOFILE``): at the cap a new
  connection first replaces one that has waited over a second for a head (idle or slow), else
  it is answered ``503`` and closed, so the process keeps descriptors for its own work and
  health probes still get through a slowloris. Logged once per burst.

Every close after an answer is a lingering close (``_linger``): the write side is shut, reading
resumes and the rest of the input is discarded until the client closes or ``LINGER`` seconds
pass, as Go's server does. A kernel answers a close with unread input by a TCP reset, and the
client then loses the answer it had not read yet: an HTTP/1.0 ``411``, a ``413`` on a
``Connection: close`` request, any function that answers before reading the whole body.
pyfunc's own answers that end a connection (400, 408, 431) carry ``Connection: close``.

A connection that starts with the HTTP/2 preface, or asks for ``Upgrade: h2c``, is handed
over to ``pyfunc.h2c`` (imported only then).

Cost per request on the hot path: one subtraction and comparison per received chunk, one
``len`` and one ``should_upgrade`` per head; the head/idle timer reuses the one uvicorn arms
after every response. In return each response's head is written together with its body
(``pyfunc.coalesce``): one ``send`` system call instead of uvicorn's two.
"""

from __future__ import annotations

import asyncio
import sys

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from .coalesce import HeadHolder
from .limits import Limits, Notice

#: Seconds a refused connection keeps draining input after the answer, before it is closed.
LINGER = 1.0
#: A connection must have waited this long for a head before a new one may replace it at the cap.
REPLACEABLE_AFTER = 1.0
_NONE = sys.maxsize
#: How an HTTP/2 connection with prior knowledge begins (RFC 9113 §3.4).
H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


class _TooManyFields(Exception):
    """Raised inside the parser's headers-complete callback to stop parsing."""


def protocol_class(limits: Limits) -> type:
    """A uvicorn httptools protocol class (for ``uvicorn.Config(http=...)``) enforcing ``limits``."""
    waits = [t for t in (limits.idle_timeout, limits.header_timeout) if t]
    namespace = {
        "head_limit": limits.max_header_bytes or _NONE,
        "field_limit": limits.max_headers or _NONE,
        "header_timeout": limits.header_timeout,
        "idle_timeout": limits.idle_timeout,
        "first_wait": min(waits) if waits else 0.0,
        "cap": limits.max_connections,
        "notices": {key: Notice() for key in ("cap", "bytes", "fields", "timeout", "invalid")},
    }
    return type("LimitedHttpToolsProtocol", (LimitedHttpToolsProtocol,), namespace)


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the limits of the module docstring (class attributes)."""

    head_limit = _NONE
    field_limit = _NONE
    header_timeout = 0.0
    idle_timeout = 0.0
    first_wait = 0.0
    cap = 0
    notices: dict[str, Notice] = {}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.timeout_keep_alive = self.first_wait  # uvicorn arms its timer with this after each response
        self._head_budget = self.head_limit  # head bytes still allowed; -1 once the connection is refused
        self._waited = 0.0  # seconds of the current wait for a head already timed
        self._armed = self.first_wait
        self._upgrade: tuple | None = None  # (settings, method, url, headers) of an ``Upgrade: h2c`` request
        self._h2 = None  # the HTTP/2 protocol this connection was handed over to
        self._pending_refusal: tuple[int, str] | None = None  # (status, reason) once the answer in flight is sent
        self._holder: HeadHolder | None = None  # the cycles' transport: head and body in one write (pyfunc.coalesce)
        self._lingering: asyncio.TimerHandle | None = None  # the close at the end of a lingering close
        self._client_done = False  # the client shut its sending side (half-close) during a request

    # Connection

    def connection_made(self, transport) -> None:  # type: ignore[override]
        if self.cap and len(self.connections) >= self.cap and not self._make_room():
            self.transport = transport  # for uvicorn's connection_lost
            self._notice("cap", "open connections reached the cap of %d (PYFUNC_MAX_CONNECTIONS; from "
                         "RLIMIT_NOFILE unless set) and none is idle: new connections get 503", self.cap)
            transport.write(_answer(503, "too many open connections, retry shortly", b"retry-after: 1\r\n"))
            transport.close()
            return
        super().connection_made(transport)
        self._holder = HeadHolder(transport, self.loop, self._linger)
        if self.first_wait:
            self.timeout_keep_alive_task = self.loop.call_later(self.first_wait, self.timeout_keep_alive_handler)

    def connection_lost(self, exc: Exception | None) -> None:
        self._unset_keepalive_if_required()
        if self._lingering is not None:
            self._lingering.cancel()
        super().connection_lost(exc)

    def eof_received(self) -> bool | None:
        """A client that shuts its sending side after a request (half-close) still gets the
        answer: the transport stays open while a request is in flight (uvicorn closes it at
        once, and the answer is lost). Otherwise the connection closes."""
        cycle = self.cycle
        if self._lingering is None and cycle is not None and not cycle.response_complete:
            self._client_done = True
            return True
        return None

    def _make_room(self) -> bool:
        """Close one connection that has waited over REPLACEABLE_AFTER seconds for a head."""
        now = self.loop.time()
        for other in self.connections:
            task = getattr(other, "timeout_keep_alive_task", None)
            if task is not None and now - (task.when() - other._armed - other._waited) >= REPLACEABLE_AFTER:
                other._unset_keepalive_if_required()  # uvicorn's: cancels the timer
                other.transport.close()
                self._notice("cap", "open connections reached the cap of %d (PYFUNC_MAX_CONNECTIONS; from "
                             "RLIMIT_NOFILE unless set): closing connections idle or slow to send a head", self.cap)
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
            if self.cycle is None and data.startswith(H2_PREFACE):  # HTTP/2 with prior knowledge
                self._hand_over(data)
            elif isinstance(exc.__context__, _TooManyFields):
                self._notice("fields", "431: a request had more than %d header fields (PYFUNC_MAX_HEADERS)",
                             self.field_limit)
                self._refuse(431, f"more than {self.field_limit} header fields")
            else:
                self._notice("invalid", "400: invalid HTTP request: %s", exc)
                self._refuse(400, "Invalid HTTP request received.")

    def _overflow(self, data: bytes, budget: int) -> None:
        """``data`` is more than the head may still grow: parse what fits, then judge."""
        if budget < 0:
            return  # refused: drain and drop until the linger ends
        self.data_received(data[:budget])  # fits exactly: leaves a budget of 0 unless the head completed
        if self._h2 is not None:
            self._h2.data_received(data[budget:])
            return
        if self._head_budget != 0:  # the head completed inside the budget (or was refused)
            self.data_received(data[budget:])
            return
        self._notice("bytes", "431: a request head exceeded %d bytes (PYFUNC_MAX_HEADER_BYTES)", self.head_limit)
        self._refuse(431, f"request head larger than {self.head_limit} bytes")

    # Parser callbacks

    def on_headers_complete(self) -> None:
        task = self.timeout_keep_alive_task
        if task is not None:
            task.cancel()
            self.timeout_keep_alive_task = None
        self._waited, self._armed = 0.0, self.first_wait
        self._head_budget = _NONE  # body bytes are not head bytes
        if len(self.headers) > self.field_limit:
            raise _TooManyFields
        if self.parser.should_upgrade() and self._h2c_upgrade():
            return
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is not None:  # (not started yet: its task runs on a later turn of the loop)
            cycle.transport = self._holder

    def on_response_complete(self) -> None:
        self._holder.flush()  # a HEAD answer's head (no body write follows)
        pending = self._pending_refusal
        if self._lingering is not None:  # the answer closed the connection (HTTP/1.0, Connection: close)
            self.server_state.total_requests += 1
            self._pending_refusal = None  # nothing more is answered
            return
        if self._client_done and not self.pipeline:  # nothing more can come: close after the answer
            self.server_state.total_requests += 1
            self._pending_refusal = None
            self._linger()
            return
        if pending is None or self.pipeline:
            super().on_response_complete()
            return
        self.server_state.total_requests += 1
        self._pending_refusal = None
        self._refuse(*pending)

    def on_message_complete(self) -> None:
        self._head_budget = self.head_limit
        if self._upgrade is None:
            super().on_message_complete()

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

        self._unset_keepalive_if_required()
        self._head_budget = -1
        self._h2 = H2Protocol(self)
        self._h2.start(data, upgrade)

    # Timers

    def timeout_keep_alive_handler(self) -> None:
        self.timeout_keep_alive_task = None
        if self.transport.is_closing() or not self._armed:
            return
        self._waited += self._armed
        if self._head_budget != self.head_limit:  # part of a head arrived
            if not self.header_timeout:
                return
            if self._waited >= self.header_timeout:
                self._notice("timeout", "408: a request head was not complete within %gs (PYFUNC_HEADER_TIMEOUT)",
                             self.header_timeout)
                self._refuse(408, f"request head not complete within {self.header_timeout:g}s")
                return
            self._arm(self.header_timeout - self._waited)
        elif self.idle_timeout:
            if self._waited >= self.idle_timeout:
                self.transport.close()  # idle keep-alive: close without an answer
                return
            self._arm(self.idle_timeout - self._waited)
        else:
            self._waited = 0.0
            self._arm(self.first_wait)

    def _arm(self, delay: float) -> None:
        self._armed = delay
        self.timeout_keep_alive_task = self.loop.call_later(delay, self.timeout_keep_alive_handler)

    # Refusals

    def _refuse(self, status: int, reason: str) -> None:
        """Answer ``status`` with ``reason``, shut the write side, drop input, close after LINGER.

        Bytes after a request that is still being answered (pipelined, or the undelimited body
        of an HTTP/1.0 request) are refused only after that answer, so answers stay in order."""
        self._head_budget = -1
        task = self.timeout_keep_alive_task
        if task is not None:
            task.cancel()
            self.timeout_keep_alive_task = None
        if self.pipeline or (self.cycle is not None and not self.cycle.response_complete):
            self._pending_refusal = (status, reason)
            return
        if self._lingering is not None or self.transport.is_closing():
            return
        self.transport.write(_answer(status, reason))
        self._linger()

    def _linger(self) -> None:
        """Close after an answer without a reset: shut the write side, read and drop the rest of
        the input, close when the client does or after LINGER seconds (module docstring)."""
        transport = self.transport
        if self._lingering is not None or transport.is_closing():
            return
        self._head_budget = -1  # data_received drops everything from now on
        self._unset_keepalive_if_required()
        if self._client_done or not transport.can_write_eof():
            transport.close()  # nothing more can arrive, or no write side to shut
            return
        transport.write_eof()
        self.flow.resume_reading()  # uvicorn pauses reading past 64 KiB of unread body
        self._lingering = self.loop.call_later(LINGER, transport.close)

    def _notice(self, key: str, message: str, *args: object) -> None:
        self.notices[key](self.loop.time(), message, *args)


def _answer(status: int, reason: str, extra: bytes = b"") -> bytes:
    body = reason.encode() + b"\n"
    return b"".join([STATUS_LINE[status], b"content-type: text/plain; charset=utf-8\r\n", extra,
                     b"content-length: %d\r\nconnection: close\r\n\r\n" % len(body), body])
