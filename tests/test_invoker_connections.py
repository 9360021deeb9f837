"""Connection-level limits of the real server: head size and field count, slow and idle clients,
the connection cap. Malformed or abusive HTTP goes over raw sockets."""

from __future__ import annotations

import os
import re
import resource
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from conftest import cnb_host, write_function

HELLO = {"func.py": """
    def main(req):
        return "hello"
"""}


def exchange(port: int, payload: bytes, timeout: float = 10, host: str = "127.0.0.1") -> bytes:
    """Send ``payload`` (the send may fail once the server closed), read until the server closes."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        try:
            sock.sendall(payload)
        except OSError:
            pass
        return read_all(sock)


def read_all(sock: socket.socket) -> bytes:
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except ConnectionResetError:
        pass
    return received


def status(answer: bytes) -> int:
    match = re.match(rb"HTTP/1\.1 (\d{3}) ", answer)
    assert match, answer[:200]
    return int(match.group(1))


# -- header bombs ------------------------------------------------------------------------

def test_more_header_fields_than_the_limit_get_431_and_the_function_is_not_called(tmp_path, serve):
    write_function(tmp_path, {"func.py": """
        def main(req):
            print("CALLED", flush=True)
            return "hello"
    """})
    server = serve(tmp_path)
    fields = b"".join(b"X-F%d: v\r\n" % i for i in range(10_000))
    assert status(exchange(server.port, b"GET / HTTP/1.1\r\nHost: x\r\n" + fields + b"\r\n")) == 431
    fields = b"".join(b"X-F%d: v\r\n" % i for i in range(200))  # well under 16 KiB
    answer = exchange(server.port, b"GET / HTTP/1.1\r\nHost: x\r\n" + fields + b"\r\n")
    assert status(answer) == 431 and b"connection: close" in answer
    assert b"more than 100 header fields" in answer
    ok = b"".join(b"X-F%d: v\r\n" % i for i in range(98))  # + Host + Connection = 100: the limit is fine
    assert status(exchange(server.port, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + ok + b"\r\n")) == 200
    server.stop()
    assert server.output.count("CALLED") == 1
    assert "431: a request had more than 100 header fields (PYFUNC_MAX_HEADERS)" in server.output


def test_a_head_over_the_byte_limit_gets_431_before_the_rest_is_read(tmp_path, serve):
    write_function(tmp_path, HELLO)
    server = serve(tmp_path)
    answer = exchange(server.port, b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (1 << 20) + b"\r\n\r\n")
    assert status(answer) == 431 and b"request head larger than 16384 bytes" in answer
    long_url = exchange(server.port, b"GET /" + b"a" * 20_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status(long_url) == 431
    # a head just under the limit, followed in the same packet by a body larger than the limit
    near = b"POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 40000\r\nX-Pad: "
    near += b"p" * (16384 - len(near) - 4) + b"\r\n\r\n"
    assert len(near) == 16384
    assert status(exchange(server.port, near + b"b" * 40000)) == 200


def test_the_head_limits_are_settings(tmp_path, serve):
    write_function(tmp_path, HELLO)
    server = serve(tmp_path, {"PYFUNC_MAX_HEADER_BYTES": "100000", "PYFUNC_MAX_HEADERS": "300"})
    big = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Big: " + b"a" * 60_000 + b"\r\n\r\n"
    assert status(exchange(server.port, big)) == 200
    many = b"".join(b"X-F%d: v\r\n" % i for i in range(250))
    assert status(exchange(server.port, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + many + b"\r\n")) == 200
    assert status(exchange(server.port, b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n")) == 431


def test_a_huge_header_being_sent_does_not_stall_other_connections(tmp_path, serve):
    write_function(tmp_path, HELLO)
    server = serve(tmp_path)
    stop = threading.Event()
    answers: list[int] = []

    def bomb() -> None:  # 96 MiB of one header, again and again, until the probes are done
        chunk = b"a" * (1 << 20)
        while not stop.is_set():
            with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
                try:
                    sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Bomb: ")
                    for _ in range(96):
                        sock.sendall(chunk)
                except OSError:
                    pass
                answer = read_all(sock)
                if answer:
                    answers.append(status(answer))

    bombers = [threading.Thread(target=bomb) for _ in range(3)]
    for thread in bombers:
        thread.start()
    slowest = 0.0
    try:
        for _ in range(30):
            start = time.monotonic()
            assert requests.get(server.url + "/health/readiness", timeout=10).status_code == 200
            slowest = max(slowest, time.monotonic() - start)
            time.sleep(0.05)
    finally:
        stop.set()
        for thread in bombers:
            thread.join()
    assert slowest < 2, f"a probe took {slowest:.2f}s while header bombs were sent"
    assert answers and set(answers) == {431}


# -- slow and idle clients, the connection cap -------------------------------------------

def test_a_head_not_complete_within_the_header_timeout_gets_408_and_others_are_served(tmp_path, serve):
    write_function(tmp_path, HELLO)
    server = serve(tmp_path, {"PYFUNC_HEADER_TIMEOUT": "1.5", "PYFUNC_IDLE_TIMEOUT": "1"})
    with socket.create_connection(("127.0.0.1", server.port), timeout=15) as slow:
        start = time.monotonic()
        slow.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        try:
            for byte in b"X-Trickle: 1234567890":  # a byte every 0.2 s: never idle, never done
                slow.sendall(bytes([byte]))
                assert requests.get(server.url, timeout=5).text == "hello"
                time.sleep(0.2)
        except OSError:
            pass
        answer = read_all(slow)
        took = time.monotonic() - start
    assert status(answer) == 408 and b"connection: close" in answer
    assert 1.4 < took < 8
    server.stop()
    assert "408: a request head was not complete within 1.5s (PYFUNC_HEADER_TIMEOUT)" in server.output


def test_idle_connections_close_after_the_idle_timeout_and_busy_ones_stay(tmp_path, serve):
    write_function(tmp_path, HELLO)
    server = serve(tmp_path, {"PYFUNC_IDLE_TIMEOUT": "1"})
    with socket.create_connection(("127.0.0.1", server.port), timeout=15) as silent:
        start = time.monotonic()
        assert read_all(silent) == b""  # never sent anything: closed, no answer
        assert 0.9 < time.monotonic() - start < 8
    with socket.create_connection(("127.0.0.1", server.port), timeout=15) as keep_alive:
        for _ in range(4):  # a request every 0.5 s keeps it open past the idle timeout
            keep_alive.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            answer = b""
            while not answer.endswith(b"hello"):
                answer += keep_alive.recv(65536)
            time.sleep(0.5)
        start = time.monotonic()
        assert read_all(keep_alive) == b""
        assert 0.4 < time.monotonic() - start < 8


def test_the_default_timeouts_and_limits():
    from pyfunc.config import Config
    from pyfunc.limits import connection_cap

    config = Config.load({}, {})
    assert (config.max_header_bytes, config.max_headers) == (16384, 100)
    assert (config.header_timeout, config.idle_timeout, config.max_connections) == (10.0, 5.0, None)
    assert connection_cap(None) == resource.getrlimit(resource.RLIMIT_NOFILE)[0] - max(
        64, resource.getrlimit(resource.RLIMIT_NOFILE)[0] // 8)
    assert connection_cap(7) == 7 and connection_cap(0) == 0


def test_the_soft_descriptor_limit_is_raised_to_the_hard_limit_before_the_cap_is_derived(tmp_path):
    write_function(tmp_path, HELLO)
    port = cnb_host.free_port()
    process = subprocess.Popen([sys.executable, "-m", "pyfunc", "start", "-s", str(tmp_path)],
                               env={**os.environ, "LISTEN_ADDRESS": f"127.0.0.1:{port}"},
                               preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (256, 2048)),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        cnb_host.wait_for(port, process)
        limits = Path(f"/proc/{process.pid}/limits").read_text()
        assert re.search(r"Max open files\s+2048\s+2048", limits), limits
    finally:
        process.terminate()
        process.communicate(timeout=30)


SLOW = {"func.py": """
    import asyncio

    async def main(body):
        await asyncio.sleep(float(body or 0))
        return "done"
"""}


def fill_the_cap(port: int, count: int) -> list[socket.socket]:
    """``count`` connections, each with a request the SLOW function answers after 3 s, then closes."""
    busy = [socket.create_connection(("127.0.0.1", port), timeout=15) for _ in range(count)]
    for sock in busy:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 1\r\n\r\n3")
    time.sleep(0.5)
    return busy


def test_connections_over_the_cap_get_503_logged_once_per_burst(tmp_path, serve):
    write_function(tmp_path, SLOW)
    server = serve(tmp_path, {"PYFUNC_MAX_CONNECTIONS": "4"})
    busy = fill_the_cap(server.port, 4)
    refused = [exchange(server.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n") for _ in range(20)]
    assert [status(answer) for answer in refused] == [503] * 20
    assert all(b"retry-after: 1" in answer for answer in refused)
    for sock in busy:
        assert read_all(sock).endswith(b"done")  # the function's answer, then close: the request said so
        sock.close()
    assert requests.post(server.url, data="0", timeout=5).text == "done"
    server.stop()
    assert server.output.count("reached the cap of 4") == 1


def test_the_503_at_the_cap_reaches_a_client_that_already_sent_its_request(tmp_path, serve):
    """A connection over the cap whose request (and body) arrived before the server accepted it
    gets the whole 503, not a TCP reset: closing with that input unread would send one."""
    write_function(tmp_path, SLOW)
    server = serve(tmp_path, {"PYFUNC_MAX_CONNECTIONS": "2"})
    busy = fill_the_cap(server.port, 2)
    body = b"x" * 16_384
    refused = []
    for _ in range(20):  # connected and sent in a burst: most requests arrive before their accept
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%b" % (len(body), body))
        refused.append(sock)
    answers = []
    for sock in refused:
        received = b""
        with sock:
            while chunk := sock.recv(65536):  # a reset raises ConnectionResetError: the test fails
                received += chunk
        answers.append(received)
    assert all(answer.startswith(b"HTTP/1.1 503 ") and answer.endswith(b"retry shortly\n") for answer in answers)
    for sock in busy:
        assert read_all(sock).endswith(b"done")
        sock.close()


def test_past_32_lingering_503s_a_refused_connection_is_closed_at_once(tmp_path, serve):
    """A flood over the cap cannot take the descriptors the cap keeps free: at most
    MAX_LINGERING_REFUSALS (32) refused connections linger (they take more input quietly for a
    second), the rest are closed at once (more input gets a reset)."""
    write_function(tmp_path, SLOW)
    server = serve(tmp_path, {"PYFUNC_MAX_CONNECTIONS": "2"})
    busy = fill_the_cap(server.port, 2)
    flood = []
    for _ in range(40):  # within the linger of the first: none has closed yet
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        flood.append(sock)
    time.sleep(0.2)  # every connection accepted, and answered or closed; the linger is 1 s
    outcomes = {}
    for pass_ in range(2):  # a lingering connection reads and drops input; a closed one resets
        for sock in flood:
            try:
                sock.sendall(b"more")
            except (BrokenPipeError, ConnectionResetError):
                outcomes[sock] = "closed"
        time.sleep(0.1)
    for sock in flood:
        sock.close()
    assert sum(outcome == "closed" for outcome in outcomes.values()) == 40 - 32, outcomes
    for sock in busy:
        assert read_all(sock).endswith(b"done")
        sock.close()
    assert requests.post(server.url, data="0", timeout=5).text == "done"


def test_slowloris_with_1024_descriptors_leaves_probes_and_requests_working(tmp_path):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1400:
        pytest.skip(f"the test process needs 1,400 descriptors; its hard limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1400) if hard == resource.RLIM_INFINITY
                                                else min(max(soft, 1400), hard), hard))
    write_function(tmp_path, HELLO)
    port = cnb_host.free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "pyfunc", "start", "-s", str(tmp_path)],
        env={**os.environ, "LISTEN_ADDRESS": f"127.0.0.1:{port}", "PYFUNC_HEADER_TIMEOUT": "60"},
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024)),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    tricklers: list[socket.socket] = []
    try:
        cnb_host.wait_for(port, process)
        for _ in range(1010):
            sock = socket.socket()
            sock.settimeout(5)
            try:
                sock.connect(("127.0.0.1", port))
                sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            except OSError:
                pass
            tricklers.append(sock)
        time.sleep(1.5)
        for round_ in range(10):
            for sock in tricklers[round_::10]:  # keep trickling: a byte per socket now and then
                try:
                    sock.send(b"z")
                except OSError:
                    pass
            assert requests.get(f"http://127.0.0.1:{port}/health/readiness", timeout=10).status_code == 200
            assert requests.get(f"http://127.0.0.1:{port}/", timeout=10).text == "hello"
        assert process.poll() is None
    finally:
        for sock in tricklers:
            sock.close()
        process.terminate()
        output = process.communicate(timeout=30)[0]
    cap_lines = [line for line in output.splitlines() if "reached the cap of 896" in line]
    assert 1 <= len(cap_lines) <= 2, output[-3000:]
    assert "Too many open files" not in output


# -- answers that close the connection before the request body was read -------------------

UNREAD = {
    "pyfunc": {"func.py": """
        def main(req):
            return "read"
    """},
    "knative": {"func.py": """
        def new():
            return Function()

        class Function:
            async def handle(self, scope, receive, send):  # answers without reading the body
                await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
                await send({"type": "http.response.body", "body": b"unread"})
    """},
}

BODY = 2 * 1024 * 1024  # far past the 64 KiB at which the server stops reading a body nobody asked for


@pytest.mark.parametrize("style, max_body, head, expected", [
    ("pyfunc", BODY, b"POST / HTTP/1.0\r\nContent-Type: text/plain\r\n\r\n", b"HTTP/1.1 411 "),
    ("pyfunc", BODY - 1, b"POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: %d\r\n\r\n" % BODY,
     b"HTTP/1.1 413 "),
    ("knative", BODY, b"POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: %d\r\n\r\n" % BODY,
     b"HTTP/1.1 200 "),
], ids=["http10-411", "connection-close-413", "function-answers-first"])
def test_an_answer_given_before_the_body_was_read_reaches_the_client(tmp_path, serve, style, max_body, head,
                                                                      expected):
    """The server answers, then closes, while the client is still sending: the close must not
    turn into a TCP reset that takes the answer with it (a kernel resets a connection closed
    with unread input). The rest of the input is read and dropped until the client closes.
    Fresh servers each round: whether input was still unread at the close depends on timing."""
    write_function(tmp_path, UNREAD[style])
    for _ in range(3):
        server = serve(tmp_path, {"PYFUNC_MAX_BODY": str(max_body)})
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(head + b"b" * BODY)  # a reset here, or in recv, fails the test
            sock.shutdown(socket.SHUT_WR)
            received = b""
            while chunk := sock.recv(65536):
                received += chunk
        assert received.startswith(expected), received[:300]
        server.stop()


def test_a_client_that_keeps_sending_after_the_answer_is_closed_on_after_the_linger(tmp_path, serve):
    """The lingering close is bounded: a client that goes on sending after the answer and never
    closes is closed on once LINGER (1 s) passed, not kept open by its own bytes."""
    write_function(tmp_path, UNREAD["pyfunc"])
    server = serve(tmp_path)
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"POST / HTTP/1.0\r\nContent-Type: text/plain\r\n\r\nstart")  # undelimited: 411
        sock.settimeout(0.05)
        received = b""
        answered = closed = None
        deadline = time.monotonic() + 10
        while closed is None and time.monotonic() < deadline:
            try:
                sock.sendall(b"b" * 1024)
                chunk = sock.recv(65536)  # b"" once the server shut its write side: it still reads
            except socket.timeout:
                continue
            except OSError:  # reset: the server closed the connection, our later bytes unread
                closed = time.monotonic()
                break
            received += chunk
            if answered is None and b"\r\n\r\n" in received:
                answered = time.monotonic()
            time.sleep(0.02)
    assert received.startswith(b"HTTP/1.1 411 "), received[:300]
    assert answered is not None and closed is not None, "the server kept the connection open"
    assert 0.8 <= closed - answered <= 4.0, closed - answered


@pytest.mark.parametrize("request_bytes", [
    b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
    b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    b"POST / HTTP/1.0\r\nContent-Length: 5\r\n\r\nhello",
], ids=["content-length", "chunked", "http10"])
def test_a_client_that_half_closes_after_its_request_gets_the_answer(tmp_path, serve, request_bytes):
    """Shutting the sending side once the request is sent (``nc -N``, some proxies) ends the
    input, not the exchange: the answer is sent, then the connection closes."""
    write_function(tmp_path, UNREAD["pyfunc"])
    server = serve(tmp_path)
    for _ in range(3):
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(request_bytes)
            sock.shutdown(socket.SHUT_WR)
            received = b""
            while chunk := sock.recv(65536):  # ends: the server closes after the answer
                received += chunk
        assert received.startswith(b"HTTP/1.1 200 ") and received.endswith(b"read"), received[:300]
