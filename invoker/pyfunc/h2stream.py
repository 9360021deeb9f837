"""One HTTP/2 stream of an h2c connection (``pyfunc.h2c``) as the ASGI app sees it.

``receive()`` hands over the request body as DATA frames arrive and acknowledges them
(``WINDOW_UPDATE``) only when the function reads them, so a function that reads slowly
slows its client instead of buffering without bound; ``send(message)`` turns
``http.response.start`` into HEADERS (connection-specific fields dropped, RFC 9113 §8.2.2)
and ``http.response.body`` into DATA frames within the peer's flow-control window and the
transport's write buffer. A stream reset by the client, or a closed connection, ends both:
``receive()`` then returns ``http.disconnect`` and ``send`` drops what it is given, as
uvicorn's HTTP/1.1 protocol does after a disconnect.
"""

from __future__ import annotations

import asyncio

import h2.exceptions

#: Connection-specific fields HTTP/2 forbids (RFC 9113 §8.2.2); dropped from responses.
HOP_BY_HOP = {b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"upgrade"}


class H2Stream:
    """One request on ``conn`` (an ``H2Protocol``): its scope, the body not yet read, how it ended."""

    def __init__(self, conn, stream_id: int, scope: dict, more_body: bool = True) -> None:
        self.conn = conn
        self.stream_id = stream_id
        self.scope = scope
        self.body = bytearray()
        self.unacked = 0  # flow-controlled bytes received, not yet acknowledged
        self.more_body = more_body
        self.delivered = False  # the last http.request went to the app
        self.event = asyncio.Event()
        self.disconnected = False
        self.complete = False

    async def receive(self) -> dict:
        """The next ASGI ``http.request`` (body received so far), or ``http.disconnect``."""
        conn = self.conn
        while not (self.disconnected or self.complete):
            if self.body or (not self.more_body and not self.delivered):
                body, self.body = bytes(self.body), bytearray()
                if self.unacked:
                    conn.h2.acknowledge_received_data(self.unacked, self.stream_id)
                    self.unacked = 0
                    conn.flush()
                self.delivered = not self.more_body
                return {"type": "http.request", "body": body, "more_body": self.more_body}
            self.event.clear()
            await self.event.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: dict) -> None:
        """Send an ASGI ``http.response.start`` or ``http.response.body`` on this stream."""
        conn = self.conn
        if self.disconnected or conn.transport.is_closing():
            return
        try:
            if message["type"] == "http.response.start":
                headers = [(b":status", b"%d" % message["status"]), (b"date", conn.site.date_value)]
                headers += [(name.lower(), value) for name, value in message.get("headers", [])
                            if name.lower() not in HOP_BY_HOP]
                conn.h2.send_headers(self.stream_id, headers)
                conn.flush()
            elif message["type"] == "http.response.body":
                body = b"" if self.scope["method"] == "HEAD" else message.get("body", b"")
                await self._send_body(memoryview(body), not message.get("more_body", False))
        except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError):
            self.disconnected = True

    async def _send_body(self, body: memoryview, end: bool) -> None:
        conn, stream_id = self.conn, self.stream_id
        while True:
            size = min(len(body), conn.h2.local_flow_control_window(stream_id), conn.h2.max_outbound_frame_size)
            if body and size <= 0:
                await conn.window.wait()
                if self.disconnected or conn.transport.is_closing():
                    return
                continue
            last = end and size == len(body)
            conn.h2.send_data(stream_id, bytes(body[:size]), end_stream=last)
            conn.flush()
            body = body[size:]
            if conn.flow.write_paused:
                await conn.flow.drain()
            if not body:
                break
        if end:
            self.complete = True
            self.event.set()
