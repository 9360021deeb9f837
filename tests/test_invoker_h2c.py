"""HTTP/2 cleartext on the HTTP/1.1 port, against the real server, with the h2 library as the
client: prior knowledge (what Knative's queue-proxy does on a port named h2c) and
``Upgrade: h2c``; the same probes and limits."""

from __future__ import annotations

import json
import socket
import time

import h2.config
import h2.connection
import h2.events
import requests

from conftest import write_function

ECHO = {"func.py": """
    def main(req):
        if req.path == "/big":
            return b"x" * (1 << 20)
        return {"method": req.method, "path": req.path, "args": dict(req.args), "length": len(req.get_data()),
                "host": req.headers.get("host"), "version": req.environ.get("SERVER_PROTOCOL")}
"""}


class Client:
    """One HTTP/2 connection: ``request()`` returns ``(status, headers, body)``."""

    def __init__(self, port: int, upgrade: bytes | None = None) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=15)
        self.h2 = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding=None))
        self.responses: dict[int, list] = {}
        if upgrade is None:
            self.h2.initiate_connection()
            self.sock.sendall(self.h2.data_to_send())
            return
        settings = self.h2.initiate_upgrade_connection()
        self.sock.sendall(b"GET " + upgrade + b" HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\n"
                          b"Upgrade: h2c\r\nHTTP2-Settings: " + settings + b"\r\n\r\n")
        received = b""
        while b"\r\n\r\n" not in received:
            received += self.sock.recv(65536)
        head, _, rest = received.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101 "), head
        self.responses[1] = [None, [], b"", False]
        self.sock.sendall(self.h2.data_to_send())
        self._handle(rest)

    def request(self, method: str, path: str, body: bytes = b"", headers: list | None = None) -> tuple:
        stream_id = self.h2.get_next_available_stream_id()
        self.responses[stream_id] = [None, [], b"", False]
        self.h2.send_headers(stream_id, [(b":method", method.encode()), (b":path", path.encode()),
                                         (b":scheme", b"http"), (b":authority", b"fn.local"), *(headers or [])],
                             end_stream=not body)
        view = memoryview(body)
        while view:
            size = min(len(view), self.h2.local_flow_control_window(stream_id), self.h2.max_outbound_frame_size)
            if size:
                self.h2.send_data(stream_id, bytes(view[:size]), end_stream=size == len(view))
                view = view[size:]
            self.sock.sendall(self.h2.data_to_send())
            if view and not size:
                self._handle(self.sock.recv(65536))  # wait for WINDOW_UPDATE
        self.sock.sendall(self.h2.data_to_send())
        return self.wait(stream_id)

    def wait(self, stream_id: int) -> tuple:
        while not self.responses[stream_id][3]:
            data = self.sock.recv(65536)
            assert data, "the server closed the connection"
            self._handle(data)
        status, headers, body, _ = self.responses.pop(stream_id)
        return status, dict(headers), body

    def _handle(self, data: bytes) -> None:
        for event in self.h2.receive_data(data):
            response = self.responses.get(getattr(event, "stream_id", None))
            if isinstance(event, h2.events.ResponseReceived):
                response[1] = event.headers
                response[0] = int(dict(event.headers)[b":status"])
            elif isinstance(event, h2.events.DataReceived):
                response[2] += event.data
                self.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, (h2.events.StreamEnded, h2.events.StreamReset)):
                response[3] = True
        self.sock.sendall(self.h2.data_to_send())


def test_prior_knowledge_serves_requests_probes_and_bodies_both_ways(tmp_path, serve):
    write_function(tmp_path, ECHO)
    server = serve(tmp_path)
    client = Client(server.port)
    status, headers, body = client.request("GET", "/hello?name=you")
    assert status == 200 and headers[b"content-type"] == b"application/json"
    assert json.loads(body) == {"method": "GET", "path": "/hello", "args": {"name": "you"},
                                                       "length": 0, "host": "fn.local", "version": "HTTP/2"}
    assert client.request("GET", "/health/readiness")[0] == 200
    upload = b"u" * 300_000  # beyond the 64 KiB initial window: needs the server's WINDOW_UPDATEs
    status, _, body = client.request("POST", "/up", upload)
    assert status == 200 and json.loads(body)["length"] == 300_000
    status, _, body = client.request("GET", "/big")  # beyond the client's window: the server must wait
    assert status == 200 and body == b"x" * (1 << 20)
    assert requests.get(server.url + "/health/readiness").status_code == 200  # HTTP/1.1 still on the port


def test_concurrent_streams_on_one_connection(tmp_path, serve):
    write_function(tmp_path, {"func.py": """
        import asyncio

        released = asyncio.Event()

        async def main(body):
            if body == b"wait":  # answered only once the next stream has arrived
                await asyncio.wait_for(released.wait(), 20)
                return "released"
            released.set()
            return "set"
    """})
    server = serve(tmp_path)
    client = Client(server.port)
    streams = []
    for body in (b"wait", b"set"):
        stream_id = client.h2.get_next_available_stream_id()
        client.responses[stream_id] = [None, [], b"", False]
        client.h2.send_headers(stream_id, [(b":method", b"POST"), (b":path", b"/"), (b":scheme", b"http"),
                                           (b":authority", b"x")])
        client.h2.send_data(stream_id, body, end_stream=True)
        client.sock.sendall(client.h2.data_to_send())
        streams.append(stream_id)
    assert [client.wait(stream_id)[2] for stream_id in streams] == [b"released", b"set"]


def test_upgrade_h2c_answers_101_then_the_request_on_stream_1(tmp_path, serve):
    write_function(tmp_path, ECHO)
    server = serve(tmp_path)
    client = Client(server.port, upgrade=b"/up?x=1")
    status, _, body = client.wait(1)
    assert status == 200 and json.loads(body)["path"] == "/up" and json.loads(body)["args"] == {"x": "1"}
    assert client.request("GET", "/healthz/live")[0] == 200


def test_the_header_limits_hold_on_http2(tmp_path, serve):
    write_function(tmp_path, ECHO)
    server = serve(tmp_path)
    client = Client(server.port)
    many = [(b"x-f%d" % i, b"v") for i in range(150)]
    status, _, body = client.request("GET", "/", headers=many)
    assert status == 431 and b"more than 100 header fields" in body
    assert client.request("GET", "/")[0] == 200  # the connection stays usable
    big = Client(server.port)
    big.h2.send_headers(1, [(b":method", b"GET"), (b":path", b"/"), (b":scheme", b"http"), (b":authority", b"x"),
                            (b"x-big", b"a" * 40_000)], end_stream=True)
    big.sock.sendall(big.h2.data_to_send())
    ended = b""
    try:
        while chunk := big.sock.recv(65536):
            ended += chunk
    except ConnectionResetError:
        pass
    events = big.h2.receive_data(ended) if ended else []
    assert not ended or any(isinstance(event, h2.events.ConnectionTerminated) for event in events)
    assert not any(isinstance(event, h2.events.ResponseReceived) and dict(event.headers)[b":status"] == b"200"
                   for event in events)


def test_idle_http2_connections_are_closed(tmp_path, serve):
    write_function(tmp_path, ECHO)
    server = serve(tmp_path, {"PYFUNC_IDLE_TIMEOUT": "1"})
    client = Client(server.port)
    assert client.request("GET", "/")[0] == 200
    start = time.monotonic()
    received = b""
    while chunk := client.sock.recv(65536):
        received += chunk
    assert 0.9 < time.monotonic() - start < 8
    assert any(isinstance(event, h2.events.ConnectionTerminated) for event in client.h2.receive_data(received))


def test_the_body_limit_holds_on_http2_and_the_connection_goes_on(tmp_path, serve):
    write_function(tmp_path, ECHO)
    server = serve(tmp_path, {"PYFUNC_MAX_BODY": "100000"})
    client = Client(server.port)
    assert client.request("POST", "/", b"b" * 300_000)[0] == 413
    status, _, body = client.request("POST", "/", b"b" * 50_000)  # the window the 413 left is given back
    assert status == 200 and json.loads(body)["length"] == 50_000


def test_cookie_crumbs_of_http2_reach_a_flask_request_as_its_cookies(tmp_path, serve):
    """RFC 9113 8.2.3: an HTTP/2 client may split Cookie into one field per cookie; a request
    object must see them joined with '; ', as one HTTP/1.1 Cookie field carries them."""
    write_function(tmp_path, {"func.py": "def main(req):\n    return {'cookies': dict(req.cookies)}\n"})
    server = serve(tmp_path)
    status, _, body = Client(server.port).request("GET", "/", headers=[(b"cookie", b"a=1"), (b"cookie", b"b=2")])
    assert status == 200 and json.loads(body) == {"cookies": {"a": "1", "b": "2"}}
