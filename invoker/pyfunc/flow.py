"""Flow control of one connection's transport: reading paused while input waits, writers
waiting while the transport's write buffer is over its high-water mark (asyncio's
``pause_writing``/``resume_writing`` protocol callbacks)."""

from __future__ import annotations

import asyncio

#: Bytes of request body buffered for the app before reading from the socket pauses.
HIGH_WATER = 65536


class Flow:
    """``pause_reading``/``resume_reading`` once each way; ``drain()`` waits while writing is paused."""

    __slots__ = ("transport", "read_paused", "write_paused", "_writable")

    def __init__(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        self.read_paused = False
        self.write_paused = False
        self._writable: asyncio.Future | None = None

    def pause_reading(self) -> None:
        if not self.read_paused:
            self.read_paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.read_paused:
            self.read_paused = False
            self.transport.resume_reading()

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        """Also called when the connection is lost, so that no writer waits forever."""
        self.write_paused = False
        waiter, self._writable = self._writable, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def drain(self) -> None:
        if self.write_paused:
            if self._writable is None:
                self._writable = asyncio.get_running_loop().create_future()
            await asyncio.shield(self._writable)
