"""The response path: a head goes out with its body in one write (pyfunc.exchange), never later
than it must; header checks are remembered for valid pairs only (pyfunc.framing); per-request
ids come from a generator of their own (pyfunc.http.random_bits).

Against the real server on raw sockets: a head held for its body is still sent at once when
no body write follows (HEAD; a streamed answer whose first piece takes seconds), and
pipelined answers keep their order.
"""

from __future__ import annotations

import socket
import time

from conftest import write_function


def _read_until(sock: socket.socket, marker: bytes, limit: float) -> tuple[bytes, float]:
    """Bytes read until ``marker`` has arrived (or ``limit`` seconds passed), and the seconds it took."""
    started = time.monotonic()
    data = b""
    sock.settimeout(0.2)
    while marker not in data and time.monotonic() - started < limit:
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            continue
        if not chunk:
            break
        data += chunk
    return data, time.monotonic() - started


def test_head_request_gets_its_head_and_the_connection_goes_on(tmp_path, serve):
    (tmp_path / "func.py").write_text("def main(body):\n    return 'Hello world!'\n")
    server = serve(tmp_path)
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n")
        head, waited = _read_until(sock, b"\r\n\r\n", 10)
        assert head.startswith(b"HTTP/1.1 200 ") and b"content-length: 12\r\n" in head.lower(), head
        assert head.endswith(b"\r\n\r\n") and waited < 5, (head, waited)
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        answer, _ = _read_until(sock, b"Hello world!", 10)
        assert answer.startswith(b"HTTP/1.1 200 ") and answer.endswith(b"\r\n\r\nHello world!"), answer


def test_streamed_head_is_sent_before_a_slow_first_chunk(tmp_path, serve):
    (tmp_path / "main.py").write_text(
        "import time\n"
        "def hello(request):\n"
        "    def chunks():\n"
        "        time.sleep(6)\n"
        "        yield 'late\\n'\n"
        "    return chunks()\n")
    server = serve(tmp_path, args=("--target", "hello"))
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        head, waited = _read_until(sock, b"\r\n\r\n", 10)
        assert head.startswith(b"HTTP/1.1 200 ") and waited < 3, f"head after {waited:.2f}s: {head!r}"
        assert b"late" not in head
        rest, _ = _read_until(sock, b"0\r\n\r\n", 20)
        assert b"late\n" in rest and rest.endswith(b"0\r\n\r\n"), rest


def test_pipelined_answers_keep_their_order(tmp_path, serve):
    (tmp_path / "func.py").write_text("def main(req):\n    return req.path\n")
    server = serve(tmp_path)
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(b"".join(b"GET /%d HTTP/1.1\r\nHost: x\r\n\r\n" % n for n in range(5)))
        data, _ = _read_until(sock, b"/4", 10)
    bodies = [part.split(b"\r\n\r\n", 1)[1] for part in data.split(b"HTTP/1.1 200 OK\r\n")[1:]]
    assert [body[:2] for body in bodies] == [b"/0", b"/1", b"/2", b"/3", b"/4"], data


def test_header_checks_remembered_only_for_valid_pairs_and_bounded():
    from pyfunc import framing

    for n in range(3 * framing.VALID_PAIRS):  # unique values (ids) never grow the set past its bound
        kept, _ = framing.check_headers([(b"x-id", b"%d" % n)])
        assert kept == [(b"x-id", b"%d" % n)]
        assert len(framing.VALID) <= framing.VALID_PAIRS
    framing.check_headers([(b"x-ok", b"yes"), (b"Content-Length", b"3")])
    for invalid in [(b"x-ok", b"yes\r\nx-injected: 1"), (b"x ok", b"yes"), (b"x-ok", "yes"), [b"x-ok", b"a\x00"]]:
        try:
            framing.check_headers([(b"x-ok", b"yes"), invalid])
        except framing.InvalidResponse:
            continue
        raise AssertionError(f"{invalid!r} passed the checks")
    assert framing.check_headers([(b"Content-Length", b"3")]) == ([], [(b"content-length", b"3")])
    framing.check_headers([(b"Connection", b"close"), (b"connection", b"keep-alive")])  # exchange must see these
    assert (b"Connection", b"close") not in framing.VALID and (b"connection", b"keep-alive") not in framing.VALID
    assert (b"x-ok", b"yes") in framing.VALID and not any(name.lower() in (b"content-length", b"transfer-encoding")
                                                           for name, _ in framing.VALID)


def test_per_request_ids_are_unique_and_unaffected_by_the_functions_random_seed():
    import random
    import re
    import uuid

    from pyfunc import cloudevent
    from pyfunc.styles.functions_framework.execution import new_id

    ids, event_ids = set(), set()
    for _ in range(2000):
        random.seed(42)  # a function reseeding the global generator must not repeat ids
        ids.add(new_id())
        event_ids.add(dict(cloudevent.encode({"type": "t", "source": "/s"}, None, False).headers)[b"ce-id"])
    assert len(ids) == 2000 and all(re.fullmatch(r"[0-9A-Za-z]{12}", i) for i in ids)
    assert len(event_ids) == 2000 and all(uuid.UUID(i.decode()).version == 4 for i in event_ids)


STREAMER = """
import os

def new():
    return Function()

class Function:
    async def handle(self, scope, receive, send):
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        piece = b"x" * 65536
        for sent in range(1, 513):  # 32 MiB
            await send({"type": "http.response.body", "body": piece, "more_body": True})
            with open(os.environ["PROGRESS"], "w") as out:
                out.write(str(sent))
        await send({"type": "http.response.body", "body": b"end"})
        message = await receive()  # after the answer: the spec's http.disconnect
        with open(os.environ["PROGRESS"], "a") as out:
            out.write(" " + message["type"])
"""


def test_a_client_that_does_not_read_holds_back_the_stream_not_memory(tmp_path, serve):
    """Writing waits while the transport's buffer is full (flow control): a function streaming
    32 MiB to a client that reads nothing gets only as far as the buffers let it, and the
    client then reads every byte."""
    (tmp_path / "func.py").write_text(STREAMER)
    progress = tmp_path / "progress"
    server = serve(tmp_path, {"PROGRESS": str(progress)})
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(2)
        held_at = int(progress.read_text().split()[0]) if progress.exists() else 0
        assert held_at < 256, f"{held_at} of 512 pieces sent to a client that read nothing"
        data, _ = _read_until(sock, b"end\r\n0\r\n\r\n", 60)
    assert data.split(b"\r\n\r\n", 1)[1].count(b"x") == 512 * 65536 and data.endswith(b"end\r\n0\r\n\r\n")
    deadline = time.monotonic() + 10
    while "http.disconnect" not in progress.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert progress.read_text() == "512 http.disconnect"


def test_every_answer_carries_the_current_date(tmp_path, serve):
    (tmp_path / "func.py").write_text("def main(req):\n    return 'hi'\n")
    server = serve(tmp_path)
    import email.utils

    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        for _ in range(2):
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            head, _ = _read_until(sock, b"hi", 10)
            date = next(line.split(b": ", 1)[1] for line in head.split(b"\r\n") if line.lower().startswith(b"date: "))
            assert abs(email.utils.parsedate_to_datetime(date.decode()).timestamp() - time.time()) < 3
            time.sleep(1.2)


def test_buffered_answers_in_one_write_keep_their_framing(tmp_path, serve):
    """``Exchange.answer_now`` builds the head of a framed answer itself: a 204 has no
    Content-Length and the connection goes on; a body over ``ONE_WRITE`` (written uncopied)
    arrives whole; a function's ``Connection: close`` is sent once and ends the connection."""
    (tmp_path / "func.py").write_text(
        "def main(req):\n"
        "    if req.path == '/none':\n"
        "        return None\n"
        "    if req.path == '/big':\n"
        "        return b'x' * 200_000\n"
        "    return 'bye', 200, {'Connection': 'close'}\n")
    server = serve(tmp_path)
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(b"GET /none HTTP/1.1\r\nHost: x\r\n\r\n")
        head, _ = _read_until(sock, b"\r\n\r\n", 10)
        assert head.startswith(b"HTTP/1.1 204 ") and head.endswith(b"\r\n\r\n"), head
        assert b"content-length" not in head.lower() and b"transfer-encoding" not in head.lower(), head
        sock.sendall(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
        big, _ = _read_until(sock, b"x" * 200_000, 20)
        big_head, _, big_body = big.partition(b"\r\n\r\n")
        assert b"content-length: 200000" in big_head.lower() and big_body == b"x" * 200_000, big_head
        sock.sendall(b"GET /close HTTP/1.1\r\nHost: x\r\n\r\n")
        last, waited = _read_until(sock, b"never sent", 10)
    assert waited < 5, "the server kept the connection open"
    assert last.startswith(b"HTTP/1.1 200 ") and last.endswith(b"\r\n\r\nbye"), last
    assert last.lower().count(b"connection: close\r\n") == 1, last


def test_an_asgi_answer_with_connection_close_ends_its_connection_every_time(tmp_path, serve):
    """Header pairs checked once are written unchecked after (``framing.VALID``), but never a
    ``Connection`` pair: the exchange must see each ``Connection: close`` to end the connection."""
    (tmp_path / "function").mkdir()
    (tmp_path / "function" / "__init__.py").write_text(
        "def new():\n    return F()\n\n"
        "class F:\n"
        "    async def handle(self, scope, receive, send):\n"
        "        await send({'type': 'http.response.start', 'status': 200,\n"
        "                    'headers': [(b'content-type', b'text/plain'), (b'connection', b'close')]})\n"
        "        await send({'type': 'http.response.body', 'body': b'bye'})\n")
    server = serve(tmp_path)
    for _ in range(3):
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            answer, waited = _read_until(sock, b"never sent", 10)
        assert waited < 5 and answer.endswith(b"\r\n\r\nbye"), (waited, answer)
        assert answer.lower().count(b"connection: close\r\n") == 1, answer


def test_an_asgi_answer_given_whole_then_an_error_keeps_its_connection(tmp_path, serve):
    """A Knative ``handle`` whose one-message answer went out in one call (``framing.answerer``)
    and that raises after it: the error is logged once with its cause, no second answer is
    tried, and the connection serves the next request."""
    write_function(tmp_path, {"function/__init__.py": """
        def new():
            return F()

        class F:
            async def handle(self, scope, receive, send):
                await send({'type': 'http.response.start', 'status': 200, 'headers': []})
                await send({'type': 'http.response.body', 'body': scope['path'].encode()})
                if scope['path'] == '/fail':
                    raise ValueError('raised after the answer')
        """})
    server = serve(tmp_path)
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(b"GET /fail HTTP/1.1\r\nHost: x\r\n\r\n")
        first, _ = _read_until(sock, b"\r\n\r\n/fail", 10)
        sock.sendall(b"GET /next HTTP/1.1\r\nHost: x\r\n\r\n")
        second, _ = _read_until(sock, b"\r\n\r\n/next", 10)
    assert first.startswith(b"HTTP/1.1 200 ") and first.endswith(b"content-length: 5\r\n\r\n/fail"), first
    assert second.startswith(b"HTTP/1.1 200 ") and second.endswith(b"\r\n\r\n/next"), second
    server.stop()
    assert server.output.count("ValueError: raised after the answer") == 1, server.output
    assert "Exception in ASGI application" not in server.output, server.output
