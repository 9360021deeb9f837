"""HTTP/2 cleartext (h2c) on the HTTP/1.1 port, with the ``h2`` library.

Knative's queue-proxy speaks h2c with prior knowledge to a container port named ``h2c``;
other clients upgrade with ``Upgrade: h2c`` (RFC 7540 §3.2; RFC 9113 dropped it, curl and
Go still send it). The HTTP/1.1 protocol (``pyfunc.http1``) hands the connection over
when it starts with the HTTP/2 preface, or after a bodiless ``Upgrade: h2c`` request
(answered ``101``, its response then goes on stream 1), as hypercorn does. This module, and
``h2``, are imported only then.

Limits as on HTTP/1.1: ``SETTINGS_MAX_HEADER_LIST_SIZE`` is the head byte limit (a larger
header block is a connection error: GOAWAY and close, as ``h2``'s decoder refuses it while
decoding), more header fields than the limit get ``431`` on their
stream, at most 100 concurrent streams, a connection without open streams for the idle
timeout is closed (GOAWAY); the connection counts against the connection cap. Request
bodies are flow-controlled: a DATA frame is acknowledged when the function reads it.
"""

from __future__ import annotations

import asyncio
import logging
import urllib.parse

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings
import httptools

from .flow import Flow
from .h2stream import H2Stream

log = logging.getLogger("pyfunc")

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
SWITCHING = b"HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: h2c\r\n\r\n"
MAX_STREAMS = 100


class H2Protocol(asyncio.Protocol):
    """Serves one h2c connection taken over from ``http1`` (a ``pyfunc.http1.H1Connection``)."""

    def __init__(self, http1) -> None:
        site = self.site = http1.site
        self.app, self.loop, self.transport = site.app, site.loop, http1.transport
        self.connections, self.tasks = site.connections, site.tasks
        self.idle_timeout, self.field_limit = site.idle_timeout, site.field_limit
        self.base = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"},
                     "http_version": "2", "server": http1.server, "client": http1.client, "scheme": "http",
                     "root_path": ""}
        self.app_state = site.app_state
        settings = {h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: MAX_STREAMS}
        if http1.head_limit < (1 << 31):
            settings[h2.settings.SettingCodes.MAX_HEADER_LIST_SIZE] = http1.head_limit
        self.h2 = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False, header_encoding=None))
        self.h2.local_settings = h2.settings.Settings(client=False, initial_values=settings)
        if http1.head_limit < (1 << 31):  # enforced from the first HEADERS, not only once the client ACKs
            self.h2.decoder.max_header_list_size = http1.head_limit
        self.flow = Flow(self.transport)
        self.streams: dict[int, H2Stream] = {}
        self.window = asyncio.Event()
        self.closing = False
        self.idle_task: asyncio.TimerHandle | None = None
        self.connections.discard(http1)
        self.connections.add(self)
        self.transport.set_protocol(self)

    def start(self, data: bytes, upgrade: tuple[bytes, bytes, bytes, list] | None = None) -> None:
        """Begin with the bytes after the handover; ``upgrade`` is ``(settings, method, url, headers)``."""
        if upgrade is None:
            self.h2.initiate_connection()
        else:
            settings, method, url, headers = upgrade
            self.transport.write(SWITCHING)
            self.h2.initiate_upgrade_connection(settings)
            self._open(1, method, url, headers, more_body=False)
        self.flush()
        if data:
            self.data_received(data)
        elif not self.streams:
            self._arm_idle()

    # Transport events

    def data_received(self, data: bytes) -> None:
        try:
            events = self.h2.receive_data(data)
        except h2.exceptions.ProtocolError as exc:
            log.info("h2c connection closed: %s", exc)
            self.flush()
            self.transport.close()
            return
        for event in events:
            handler = _HANDLERS.get(type(event))
            if handler is not None:
                handler(self, event)
        self.flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self.connections.discard(self)
        self._cancel_idle()
        for stream in self.streams.values():
            stream.disconnected = True
            stream.event.set()
        self.window.set()
        self.flow.resume_writing()

    def pause_writing(self) -> None:
        self.flow.pause_writing()

    def resume_writing(self) -> None:
        self.flow.resume_writing()

    def shutdown(self) -> None:
        """uvicorn's graceful shutdown: GOAWAY, then close once the open streams are answered."""
        self.closing = True
        if not self.transport.is_closing():
            self.h2.close_connection()
            self.flush()
            if not self.streams:
                self.transport.close()

    # h2 events

    def _request(self, event: h2.events.RequestReceived) -> None:
        pseudo = {name: value for name, value in event.headers if name.startswith(b":")}
        fields = [(name, value) for name, value in event.headers if not name.startswith(b":")]
        if self.closing:
            self.h2.reset_stream(event.stream_id, h2.errors.ErrorCodes.REFUSED_STREAM)
            return
        if len(fields) > self.field_limit:
            body = f"more than {self.field_limit} header fields\n".encode()
            self.h2.send_headers(event.stream_id, [(b":status", b"431"), (b"content-type", b"text/plain; charset=utf-8"),
                                                   (b"content-length", b"%d" % len(body))])
            self.h2.send_data(event.stream_id, body, end_stream=True)
            return
        if b":authority" in pseudo and not any(name == b"host" for name, _ in fields):
            fields.insert(0, (b"host", pseudo[b":authority"]))
        self._open(event.stream_id, pseudo.get(b":method", b"GET"), pseudo.get(b":path", b"/"), fields,
                   more_body=event.stream_ended is None)

    def _data(self, event: h2.events.DataReceived) -> None:
        stream = self.streams.get(event.stream_id)
        if stream is None or stream.delivered:
            self.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            return
        stream.body += event.data
        stream.unacked += event.flow_controlled_length
        stream.event.set()

    def _ended(self, event: h2.events.StreamEnded) -> None:
        stream = self.streams.get(event.stream_id)
        if stream is not None:
            stream.more_body = False
            stream.event.set()

    def _reset(self, event: h2.events.StreamReset) -> None:
        stream = self.streams.get(event.stream_id)
        if stream is not None:
            stream.disconnected = True
            stream.event.set()
        self._window_opened(event)

    def _window_opened(self, event: object = None) -> None:
        self.window.set()
        self.window = asyncio.Event()

    def _terminated(self, event: h2.events.ConnectionTerminated) -> None:
        self.closing = True
        if not self.streams:
            self.transport.close()

    # Streams

    def _open(self, stream_id: int, method: bytes, url: bytes, headers: list, more_body: bool) -> None:
        parsed = httptools.parse_url(url)
        path = parsed.path.decode("latin-1")
        scope = {**self.base, "method": method.decode("ascii"), "path": urllib.parse.unquote(path),
                 "raw_path": parsed.path, "query_string": parsed.query or b"", "headers": headers,
                 "state": self.app_state.copy()}
        self.site.trusted_proxies().apply(scope)  # X-Forwarded-For/-Proto from a trusted proxy (pyfunc.forwarded)
        stream = self.streams[stream_id] = H2Stream(self, stream_id, scope, more_body)
        self._cancel_idle()
        task = self.loop.create_task(self._run(stream))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _run(self, stream: H2Stream) -> None:
        stream_id = stream.stream_id
        try:
            await self.app(stream.scope, stream.receive, stream.send)
        except Exception:
            log.exception("h2c stream %d failed", stream_id)
        finally:
            if not stream.complete and not stream.disconnected and not self.transport.is_closing():
                try:
                    self.h2.reset_stream(stream_id, h2.errors.ErrorCodes.INTERNAL_ERROR)
                except h2.exceptions.ProtocolError:
                    pass
            del self.streams[stream_id]
            if stream.unacked and not self.transport.is_closing():  # the body the function left unread
                self.h2.acknowledge_received_data(stream.unacked, stream_id)
            self.flush()
            if not self.streams:
                if self.closing:
                    self.transport.close()
                else:
                    self._arm_idle()

    # Connection

    def flush(self) -> None:
        """Write what h2 has queued (frames, acknowledgements), unless the transport is closing."""
        data = self.h2.data_to_send()
        if data and not self.transport.is_closing():
            self.transport.write(data)

    def _arm_idle(self) -> None:
        if self.idle_timeout and self.idle_task is None:
            self.idle_task = self.loop.call_later(self.idle_timeout, self._idle)

    def _cancel_idle(self) -> None:
        if self.idle_task is not None:
            self.idle_task.cancel()
            self.idle_task = None

    def _idle(self) -> None:
        self.idle_task = None
        if not self.streams and not self.transport.is_closing():
            self.h2.close_connection()
            self.flush()
            self.transport.close()


_HANDLERS = {
    h2.events.RequestReceived: H2Protocol._request,
    h2.events.DataReceived: H2Protocol._data,
    h2.events.StreamEnded: H2Protocol._ended,
    h2.events.StreamReset: H2Protocol._reset,
    h2.events.WindowUpdated: H2Protocol._window_opened,
    h2.events.RemoteSettingsChanged: H2Protocol._window_opened,
    h2.events.ConnectionTerminated: H2Protocol._terminated,
}


def upgrade_settings(headers: list[tuple[bytes, bytes]]) -> bytes | None:
    """The ``HTTP2-Settings`` value when ``headers`` ask for ``Upgrade: h2c`` (RFC 7540 §3.2), else None."""
    upgrade = settings = None
    connection: set[bytes] = set()
    for name, value in headers:
        if name == b"upgrade":
            upgrade = value.strip().lower()
        elif name == b"http2-settings":
            settings = value.strip()
        elif name == b"connection":
            connection.update(token.strip().lower() for token in value.split(b","))
    if upgrade == b"h2c" and settings is not None and b"upgrade" in connection:
        return settings
    return None
