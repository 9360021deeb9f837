"""HTTP/1.1 connections (RFC 9112), parsed by httptools, each request served as an ASGI
exchange (``pyfunc.exchange``), under the limits of ``pyfunc.connection``.

Requests on one connection are answered in order: one sent while another is answered
(pipelining) waits, and reading pauses meanwhile. A client that shuts its sending side after a
request (half-close) still gets the answer; then the connection closes.

A connection that starts with the HTTP/2 preface, or asks for ``Upgrade: h2c``, is handed
over to ``pyfunc.h2c`` (imported only then)."""

from __future__ import annotations

import asyncio
import urllib.parse
from collections import deque
from typing import Any

import httptools

from . import direct
from .connection import NO_LIMIT, LimitedConnection, Site, answer
from .exchange import Exchange
from .flow import Flow

#: How an HTTP/2 connection with prior knowledge begins (RFC 9113 §3.4).
H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


class _TooManyFields(Exception):
    """Raised inside the parser's headers-complete callback to stop parsing."""


class H1Connection(LimitedConnection):
    """One HTTP/1.1 connection of ``site`` (module docstring)."""

    def __init__(self, site: Site) -> None:
        super().__init__(site)
        self.parser = httptools.HttpRequestParser(self)
        try:  # answer the first of pipelined requests sent with Connection: close
            self.parser.set_dangerous_leniencies(lenient_data_after_close=True)
        except AttributeError:  # httptools < 0.6.3
            pass
        self.server: tuple | None = None
        self.client: tuple | None = None
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.expect_continue = False
        self.forwarded = False  # the head has X-Forwarded-For or -Proto
        self.exchange: Exchange | None = None  # the request parsed last
        self.active: Exchange | None = None  # the request being answered
        self.pipeline: deque[Exchange] = deque()  # parsed, waiting for the answers before theirs
        self._upgrade: tuple | None = None  # (settings, method, url, headers) of an ``Upgrade: h2c`` request
        self._h2 = None  # the HTTP/2 protocol this connection was handed over to

    # Connection

    def connection_made(self, transport: asyncio.BaseTransport) -> None:  # type: ignore[override]
        site = self.site
        self.transport = transport  # type: ignore[assignment]
        if site.cap and len(site.connections) >= site.cap and not self._make_room():
            site.notice("cap", "open connections reached the cap of %d (PYFUNC_MAX_CONNECTIONS; from "
                        "RLIMIT_NOFILE unless set) and none is idle: new connections get 503", site.cap)
            transport.write(answer(503, "too many open connections, retry shortly", b"retry-after: 1\r\n"))
            self._refuse_at_cap()
            return
        site.connections.add(self)
        self.flow = Flow(transport)  # type: ignore[arg-type]
        self.server = _address(transport.get_extra_info("sockname"))
        self.client = _address(transport.get_extra_info("peername"))
        if site.first_wait:
            self.timer = self.loop.call_later(site.first_wait, self._timed_out)

    def connection_lost(self, exc: Exception | None) -> None:
        self.site.connections.discard(self)
        if self._refused:
            self.site.lingering_refusals -= 1
        self._cancel_timer()
        if self._lingering is not None:
            self._lingering.cancel()
        exchanges = (self.active, *self.pipeline, self.exchange)
        # Let go of what refers back to this connection, so that it is freed as it closes, not
        # by the cycle collector: the parser (which holds this connection's callbacks) and the
        # exchanges (an exchange still running keeps its connection, not the other way round).
        self.parser = None  # type: ignore[assignment]
        self.exchange = self.active = None
        self.pipeline.clear()
        for exchange in exchanges:
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

    def busy(self) -> bool:
        """A request is being answered, or parsed and waiting for its turn."""
        exchange = self.exchange
        return bool(self.pipeline) or (exchange is not None and not exchange.complete)

    def running_call(self) -> Any:
        active = self.active
        call = None if active is None else active.call  # set from the request's turn until it is answered
        return None if call is None or call.task is not None else call  # (a streamed answer's task: site.tasks)

    def shutdown(self) -> None:
        """The server drains: close now when idle, else after the answer in flight."""
        exchange = self.exchange
        if exchange is None or exchange.complete:
            self.transport.close()
        else:
            exchange.keep_alive = False

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
        value = value.rstrip(b" \t")  # RFC 9112 5: the value excludes the OWS around it (llhttp strips the leading)
        if name == b"expect" and value.lower() == b"100-continue":
            self.expect_continue = True
        elif name == b"x-forwarded-for" or name == b"x-forwarded-proto":
            self.forwarded = True
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self._cancel_timer()
        self._waited, self._armed = 0.0, self.site.first_wait
        self._head_budget = NO_LIMIT  # body bytes are not head bytes
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
        if self.site.direct:
            exchange.direct = direct.eligible(self.app, scope, self.expect_continue)
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
            exchange = self.exchange
            exchange.end()  # type: ignore[union-attr]
            if exchange.direct and exchange is self.active:  # type: ignore[union-attr]
                self._dispatch(exchange)  # type: ignore[arg-type]

    # Exchanges

    def _start(self, exchange: Exchange) -> None:
        self.active = exchange
        if exchange.direct:
            direct.begin(self.app, exchange)
            if not exchange.more_body:
                self._dispatch(exchange)
            return  # else dispatched once the body is complete (on_message_complete)
        self._run(exchange)

    def _dispatch(self, exchange: Exchange) -> None:
        """Answer ``exchange`` through ``pyfunc.direct``, or through the app when it declines."""
        if not direct.dispatch(self.app, exchange):
            exchange.direct = False
            self._run(exchange)

    def _run(self, exchange: Exchange) -> None:
        """Serve ``exchange`` by the ASGI app, in a Task of its own."""
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

def _address(info: Any) -> tuple | None:
    """``(host, port)`` of a socket address (an IPv6 one has two more fields), None for others."""
    return (str(info[0]), int(info[1])) if isinstance(info, tuple) and len(info) >= 2 else None


