"""One write per small answer: a response's head goes out with the first piece of its body.

uvicorn writes a response's status line and headers (``http.response.start``) and its body
(``http.response.body``) with two ``transport.write`` calls, so a hello answer costs two
``send`` system calls and two TCP segments; measured with py-spy under wrk, those two writes
were the largest single cost of a pyfunc request (BENCHMARKS.md, "Hot path, interleaved
measurements"). ``HeadHolder`` stands in for the transport of uvicorn's request-response
cycle (``pyfunc.protocol`` sets it per connection): the head is held and sent together with
the next write (``writelines``: one vectored write with uvloop), when the response completes
(a HEAD answer has no body write), before a close, and at the latest on the event loop's next
turn, so a streamed response never waits for its first body piece to show its head.
``100 Continue`` is never held: the client waits for it before it sends the body.

Its ``close`` is the protocol's lingering close (``pyfunc.protocol``): a plain close with the
request's body still unread would reset the connection and lose the answer.

Order is kept: nothing else writes to the connection while a head is held (the protocol's own
refusals wait for the response in flight to complete, which flushes first).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

#: What uvicorn writes for ``Expect: 100-continue`` before the app reads the body.
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class HeadHolder:
    """The part of ``asyncio.Transport`` a uvicorn ``RequestResponseCycle`` uses: write, close, is_closing."""

    __slots__ = ("transport", "loop", "closer", "held")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop,
                 closer: Callable[[], None]) -> None:
        self.transport = transport
        self.loop = loop
        self.closer = closer  # called by close(), after the held head is written
        self.held: bytes | None = None

    def write(self, data: bytes) -> None:
        held = self.held
        if held is not None:
            self.held = None
            self.transport.writelines((held, data))
        elif data.startswith(b"HTTP/1.1 ") and data != CONTINUE:  # a head: the cycle's body write follows
            self.held = data
            self.loop.call_soon(self.flush)
        else:
            self.transport.write(data)

    def flush(self) -> None:
        held = self.held
        if held is not None:
            self.held = None
            if not self.transport.is_closing():
                self.transport.write(held)

    def close(self) -> None:
        self.flush()
        self.closer()

    def is_closing(self) -> bool:
        return self.transport.is_closing()
