"""A Functions Framework function's streamed response (a generator, as Flask streams it), sent
chunk by chunk: the next chunk is made in a worker thread only after the previous one was
written (backpressure), and the iterator is closed when the answer ends, the client goes away,
or the answer is cut short (the timeout, the drain).

A generator cannot be closed while a thread runs it ("generator already executing"), so a close
waits for the step in progress; when the answer is cut short during a step, the close is left
to run after that step and is not waited for, so that the client learns at once.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any, Iterator

from ...http import Receive, Send
from ...runner import Runner

log = logging.getLogger("pyfunc")


async def send_chunks(runner: Runner, status: int, headers: list[tuple[bytes, bytes]], chunks: Iterator[bytes],
                      receive: Receive, send: Send) -> None:
    """Send ``status``, ``headers`` and then ``chunks`` (a WSGI response iterator) as ASGI
    messages, each chunk made by ``runner`` in a worker thread."""
    await send({"type": "http.response.start", "status": status, "headers": headers})
    steps = _Steps(chunks)
    step = runner.wrap(steps.step)
    gone = asyncio.ensure_future(_disconnected(receive))
    stepping = False  # cancelled while a worker thread runs a step
    try:
        while not gone.done():
            try:
                chunk = await step()
            except asyncio.CancelledError:
                stepping = True
                raise
            if chunk is None:
                break
            if chunk:  # send waits while the client's window is full: backpressure
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
    finally:
        gone.cancel()
        if stepping:
            runner.submit(steps.close, (), {}, _Unawaited)
        else:
            await runner.wrap(steps.close)()


class _Steps:
    """A WSGI response iterator stepped in worker threads; ``close`` waits for a step running."""

    __slots__ = ("chunks", "lock")

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self.chunks = chunks
        self.lock = threading.Lock()

    def step(self) -> bytes | None:
        """The next chunk, None at the end."""
        with self.lock:
            return next(self.chunks, None)

    def close(self) -> None:
        close = getattr(self.chunks, "close", None)
        if close is not None:
            with self.lock:
                close()


class _Unawaited:
    """The outcome of a close nobody waits for (``Runner.submit``): a failure is logged."""

    @staticmethod
    def settled(result: Any, error: Exception | None) -> None:
        if error is not None:
            log.error("closing a streamed response after it was cut short failed: %r (raised by the "
                      "generator's cleanup: its finally block or close())", error)


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
