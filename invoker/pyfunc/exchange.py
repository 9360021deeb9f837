"""One HTTP/1.1 request and its answer, as the ASGI ``receive`` and ``send`` callables
(ASGI HTTP connection scope, spec 2.3).

Request body: the connection (``pyfunc.http1``) feeds the parser's body pieces (``feed``)
and the end of the message (``end``); ``receive`` hands over what arrived, and reading from the
socket pauses while more than ``flow.HIGH_WATER`` bytes wait for the app. ``100 Continue`` is
written when the app first asks for the body of a request that expects it, never after its
answer began. After the whole body, or once the answer is complete or the client gone,
``receive`` answers ``http.disconnect`` as the spec says.

Answer: the head is held and written together with the first body piece (one ``send`` system
call, where writing head and body apart costs two), at the latest on the event loop's next
turn, so a streamed answer never waits for its first piece to show its head. A buffered answer
(``pyfunc.http.send_response``, ``pyfunc.direct``) skips the two messages: ``answer`` writes
head and body at once. Framing: the app's ``Content-Length`` is kept (``pyfunc.framing`` has
checked it), else the body is chunked; HEAD, 204 and 304 answers carry none. A body longer or
shorter than its Content-Length is a RuntimeError, as is a message out of order. An answer
with ``Connection: close``, to HTTP/1.0 or to a request that asked for it, ends the connection
with a lingering close (``pyfunc.connection``).
"""

from __future__ import annotations

import asyncio
import logging
from http import HTTPStatus
from typing import Any

from .flow import HIGH_WATER
from .framing import VALID

log = logging.getLogger("pyfunc")

CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_STATUS_LINES: dict[int, bytes] = {}
_NO_BODY = frozenset({204, 304})
_INTERNAL_ERROR = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", b"21"),
                   (b"connection", b"close")]


#: A body up to this size is copied after its head, for one ``write`` (``Exchange._write``).
ONE_WRITE = 64 * 1024


def _asks_close(connection: bytes) -> bool:
    """True when a ``Connection`` header value has the ``close`` option (RFC 9112 9.6)."""
    return b"close" in [token.strip() for token in connection.lower().split(b",")]


def status_line(status: int) -> bytes:
    """``HTTP/1.1 <status> <reason phrase>\\r\\n`` (the phrase of RFC 9110, empty when unknown)."""
    line = _STATUS_LINES.get(status)
    if line is None:
        try:
            phrase = HTTPStatus(status).phrase.encode()
        except ValueError:
            phrase = b""
        line = _STATUS_LINES[status] = b"HTTP/1.1 %d %s\r\n" % (status, phrase)
    return line


class Exchange:
    """One request of a connection (``conn``: a ``pyfunc.http1.H1Connection``) and its answer."""

    __slots__ = ("conn", "scope", "keep_alive", "waiting_for_continue", "body", "buffered", "more_body",
                 "delivered", "waiter", "started", "complete", "disconnected", "chunked", "remaining", "held",
                 "head_only", "direct", "call")

    def __init__(self, conn: Any, scope: dict, keep_alive: bool, expect_continue: bool) -> None:
        self.conn = conn
        self.scope = scope
        self.keep_alive = keep_alive
        self.waiting_for_continue = expect_continue
        self.body: list[bytes] = []  # pieces the app has not received yet
        self.buffered = 0
        self.more_body = True  # the parser has not seen the end of the request yet
        self.delivered = False  # the app received the last body message
        self.waiter: asyncio.Future | None = None
        self.started = False
        self.complete = False
        self.disconnected = False
        self.chunked = False
        self.remaining = -1  # bytes the Content-Length still announces; -1 without one
        self.held: bytes | None = None
        self.head_only = scope["method"] == "HEAD"
        self.direct = False  # answered by pyfunc.direct, once the body is complete
        self.call: Any = None  # its pyfunc.direct.Call, from its turn (``direct.begin``)

    # From the connection

    def feed(self, piece: bytes) -> None:
        if self.complete:
            return  # the answer was given: the rest of the body is dropped
        self.body.append(piece)
        self.buffered += len(piece)
        if self.buffered > HIGH_WATER:
            self.conn.flow.pause_reading()
        self._wake()

    def end(self) -> None:
        self.more_body = False
        self._wake()

    def lost(self) -> None:
        self.disconnected = True
        self._wake()

    def take_body(self) -> bytes:
        """The whole body the parser fed (pyfunc.direct: called after ``end``), as ``receive`` would give it."""
        body = self.body
        self.body, self.buffered = [], 0
        self.delivered = True
        return body[0] if len(body) == 1 else b"".join(body)

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # ASGI

    async def receive(self) -> dict:
        if self.waiting_for_continue:
            self.waiting_for_continue = False
            if not self.started and not self.conn.closing():
                self.conn.transport.write(CONTINUE)
        while not (self.disconnected or self.complete):
            if self.body or (not self.more_body and not self.delivered):
                body = self.body
                self.body, self.buffered = [], 0
                self.delivered = not self.more_body
                return {"type": "http.request", "body": body[0] if len(body) == 1 else b"".join(body),
                        "more_body": self.more_body}
            self.conn.flow.resume_reading()
            self.waiter = self.conn.loop.create_future()
            try:
                await self.waiter
            finally:
                self.waiter = None
        return {"type": "http.disconnect"}

    async def send(self, message: dict) -> None:
        conn = self.conn
        if conn.flow.write_paused and not self.disconnected:
            await conn.flow.drain()
        if self.disconnected:
            return
        kind = message["type"]
        if not self.started:
            if kind != "http.response.start":
                raise RuntimeError(f"Expected ASGI message 'http.response.start', but got {kind!r}.")
            self._start(message["status"], message.get("headers", ()))
        elif not self.complete:
            if kind != "http.response.body":
                raise RuntimeError(f"Expected ASGI message 'http.response.body', but got {kind!r}.")
            self._body(message.get("body", b""), message.get("more_body", False))
        else:
            raise RuntimeError(f"Unexpected ASGI message {kind!r} sent, after response already completed.")

    async def answer(self, status: int, headers: Any, body: bytes) -> None:
        """The whole answer at once, ``headers`` already framed (``pyfunc.framing.frame``): as
        ``http.response.start`` then one ``http.response.body``, written in one go."""
        conn = self.conn
        if conn.flow.write_paused and not self.disconnected:
            await conn.flow.drain()
        if not self.disconnected:
            self.answer_now(status, headers, body)

    def answer_now(self, status: int, headers: Any, body: bytes) -> None:
        """``answer`` without waiting for a paused transport to drain. ``headers`` are
        ``framing.frame``'s (checked, with the server's own Content-Length), so the head is built
        without ``_head``'s checks and framing, and head and body go in one ``write``: 14% less
        CPU a sync hello request than ``_head`` and ``_body`` (tools/bench/hot-path-notes.md).
        Kept apart from ``_head``: calling it here (its valid-pair path) cost 7% more (8 rounds)."""
        if self.started:
            raise RuntimeError("Unexpected ASGI message 'http.response.start' sent, after response already started.")
        self.started = True
        self.waiting_for_continue = False
        head = [status_line(status), self.conn.site.date]
        close = False
        for name, value in headers:
            if name.lower() == b"connection" and _asks_close(value):
                self.keep_alive = False
                close = True
            head += (name, b": ", value, b"\r\n")
        if not self.keep_alive and not close:
            head.append(b"connection: close\r\n")
        head.append(b"\r\n")
        self._write(b"".join(head), b"" if self.head_only else body)
        self.complete = True
        self._wake()
        self.conn.answered(self)

    def fail(self) -> None:
        """Answer 500 now and close the connection after it (``run``'s answer for an app that failed)."""
        self.answer_now(500, _INTERNAL_ERROR, b"Internal Server Error")

    def _start(self, status: int, headers: Any) -> None:
        self.held = self._head(status, headers)
        self.conn.loop.call_soon(self.flush)

    def _head(self, status: int, headers: Any) -> bytes:
        """The answer's head; notes its framing and whether the connection closes after it."""
        self.started = True
        self.waiting_for_continue = False
        head = [status_line(status), self.conn.site.date]
        close = False
        framed = False
        for pair in headers:
            if type(pair) is tuple and pair in VALID:  # checked before; neither framing nor Connection
                head += (pair[0], b": ", pair[1], b"\r\n")
                continue
            name, value = pair
            if b"\n" in value or b"\r" in value or b"\n" in name or b"\r" in name or b":" in name:
                raise RuntimeError("Invalid HTTP header.")  # (pyfunc.framing checks every answer first)
            lower = name.lower()
            if lower == b"content-length" and not framed:
                self.remaining = int(value)
                framed = True
            elif lower == b"transfer-encoding" and value.lower() == b"chunked" and not framed:
                self.chunked = framed = True
            elif lower == b"connection" and _asks_close(value):
                self.keep_alive = False
                close = True
            head += (name, b": ", value, b"\r\n")
        if not self.keep_alive and not close:
            head.append(b"connection: close\r\n")
        if not framed and not self.head_only and status not in _NO_BODY:
            self.chunked = True
            head.append(b"transfer-encoding: chunked\r\n")
        head.append(b"\r\n")
        return b"".join(head)

    def _body(self, body: bytes, more_body: bool) -> None:
        if self.head_only:
            body = b""
        elif self.chunked:
            if body:
                body = b"%x\r\n%b\r\n" % (len(body), body)
            if not more_body:
                body += b"0\r\n\r\n"
        elif self.remaining >= 0:
            self.remaining -= len(body)
            if self.remaining < 0:
                raise RuntimeError("Response content longer than Content-Length")
        held = self.held
        if held is not None:
            self.held = None
            self._write(held, body)
        elif body:
            self.conn.transport.write(body)
        if not more_body:
            if self.remaining > 0 and not self.head_only:
                raise RuntimeError("Response content shorter than Content-Length")
            self.complete = True
            self._wake()
            self.conn.answered(self)

    def _write(self, head: bytes, body: bytes) -> None:
        """``head`` and ``body`` in one system call: joined up to ``ONE_WRITE`` bytes of body (a
        copy costs less than ``writelines``), else by ``writelines``, the body not copied."""
        if len(body) <= ONE_WRITE:
            self.conn.transport.write(head + body)
        else:
            self.conn.transport.writelines((head, body))

    def flush(self) -> None:
        """Write a held head (the loop's next turn after the answer started, or before a close)."""
        held = self.held
        if held is not None:
            self.held = None
            if not self.conn.closing():
                self.conn.transport.write(held)

    # The task

    async def run(self, app: Any) -> None:
        """Call ``app`` on this exchange; what the app left unanswered gets a 500 or a close."""
        try:
            await app(self.scope, self.receive, self.send)
        except BaseException as exc:
            log.error("Exception in ASGI application", exc_info=exc)
            if not self.started:
                await self._internal_error()
            else:
                self.conn.close_after_answer()
        else:
            if not self.started and not self.disconnected:
                log.error("ASGI callable returned without starting response.")
                await self._internal_error()
            elif not self.complete and not self.disconnected:
                log.error("ASGI callable returned without completing response.")
                self.flush()
                self.conn.close_after_answer()

    async def _internal_error(self) -> None:
        await self.send({"type": "http.response.start", "status": 500, "headers": _INTERNAL_ERROR})
        await self.send({"type": "http.response.body", "body": b"Internal Server Error"})
