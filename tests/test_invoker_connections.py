"""Connection-level behaviour of the real server: head limits, slow and idle clients, the
connection cap, listen addresses, readiness before accepting, and log lines that cannot be forged.
Malformed or abusive HTTP goes over raw sockets."""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
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


# -- 1. header bombs ------------------------------------------------------------------------

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


# -- 2. slow and idle clients, the connection cap -------------------------------------------

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


def test_connections_over_the_cap_get_503_logged_once_per_burst(tmp_path, serve):
    write_function(tmp_path, SLOW)
    server = serve(tmp_path, {"PYFUNC_MAX_CONNECTIONS": "4"})
    busy = [socket.create_connection(("127.0.0.1", server.port), timeout=15) for _ in range(4)]
    for sock in busy:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 1\r\n\r\n3")
    time.sleep(0.5)
    refused = [exchange(server.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n") for _ in range(20)]
    assert {status(answer) for answer in refused if answer} == {503}
    assert any(b"retry-after: 1" in answer for answer in refused)
    for sock in busy:
        assert read_all(sock).endswith(b"done")  # the function's answer, then close: the request said so
        sock.close()
    assert requests.post(server.url, data="0", timeout=5).text == "done"
    server.stop()
    assert server.output.count("reached the cap of 4") == 1


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


# -- 3. listen addresses --------------------------------------------------------------------

def _has_ipv6() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
        return True
    except OSError:
        return False


def _listening(tmp_path: Path, address: str | None, port: int) -> subprocess.Popen:
    env = {**os.environ, "LISTEN_ADDRESS": address} if address else {**os.environ, "PORT": str(port)}
    process = subprocess.Popen([sys.executable, "-m", "pyfunc", "start", "-s", str(tmp_path)], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    cnb_host.wait_for(port, process)  # over 127.0.0.1
    return process


def test_the_ipv6_wildcard_also_answers_on_ipv4(tmp_path):
    write_function(tmp_path, HELLO)
    port = cnb_host.free_port()
    process = _listening(tmp_path, f"[::]:{port}", port)
    try:
        assert requests.get(f"http://127.0.0.1:{port}/").text == "hello"
        if _has_ipv6():
            assert requests.get(f"http://[::1]:{port}/").text == "hello"
    finally:
        process.terminate()
        process.communicate(timeout=30)


def test_by_default_both_families_are_served(tmp_path):
    write_function(tmp_path, HELLO)
    port = cnb_host.free_port()
    process = _listening(tmp_path, None, port)
    try:
        assert requests.get(f"http://127.0.0.1:{port}/").text == "hello"
        if _has_ipv6():
            assert requests.get(f"http://[::1]:{port}/").text == "hello"
    finally:
        process.terminate()
        process.communicate(timeout=30)


def test_the_ipv4_wildcard_alone_stays_ipv4(tmp_path):
    if not _has_ipv6():
        pytest.skip("this host has no IPv6 loopback")
    write_function(tmp_path, HELLO)
    port = cnb_host.free_port()
    process = _listening(tmp_path, f"0.0.0.0:{port}", port)
    try:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("::1", port), timeout=5)
    finally:
        process.terminate()
        process.communicate(timeout=30)


NO_IPV6 = r"""
import fcntl, os, socket, struct, subprocess, sys, time, urllib.request
for name in ("all", "default", "lo"):
    with open(f"/proc/sys/net/ipv6/conf/{name}/disable_ipv6", "w") as knob:
        knob.write("1")
with socket.socket() as sock:  # ip link set lo up
    flags = struct.unpack("16sH", fcntl.ioctl(sock, 0x8913, struct.pack("16sH14x", b"lo", 0))[:18])[1]
    fcntl.ioctl(sock, 0x8914, struct.pack("16sH14x", b"lo", flags | 0x1))
server = subprocess.Popen([sys.executable, "-m", "pyfunc", "start", "-s", sys.argv[1]],
                          env={**os.environ, "LISTEN_ADDRESS": "[::]:8080"},
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
answer = "no answer"
for _ in range(300):
    if server.poll() is not None:
        break
    try:
        answer = urllib.request.urlopen("http://127.0.0.1:8080/", timeout=2).read().decode()
        break
    except OSError:
        time.sleep(0.1)
server.terminate()
print("ANSWER", answer)
print(server.communicate()[0])
"""


def test_the_ipv6_wildcard_starts_and_answers_on_a_host_without_ipv6(tmp_path):
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("needs root and unshare(1) to make a network namespace without IPv6")
    write_function(tmp_path, HELLO)
    result = subprocess.run(["unshare", "-n", sys.executable, "-c", NO_IPV6, str(tmp_path)],
                            capture_output=True, text=True, timeout=60)
    assert "ANSWER hello" in result.stdout, result.stdout + result.stderr


# -- 4. ready only when ready ---------------------------------------------------------------

SLOW_START = {"function/__init__.py": """
    import pathlib
    import time

    class Function:
        def start(self, cfg):
            marks = pathlib.Path(cfg["MARKS"])
            (marks / "starting").touch()
            time.sleep(float(cfg["START_SECONDS"]))
            if cfg.get("START_FAILS"):
                raise RuntimeError("database unreachable")
            (marks / "started").touch()

        async def handle(self, scope, receive, send):
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"hello"})

    def new():
        return Function()
"""}


def _start_slow(tmp_path: Path, **env: str) -> tuple[subprocess.Popen, int, Path]:
    function, marks = tmp_path / "fn", tmp_path / "marks"
    marks.mkdir()
    write_function(function, SLOW_START)
    port = cnb_host.free_port()
    process = subprocess.Popen([sys.executable, "-m", "pyfunc", "start", "-s", str(function)],
                               env={**os.environ, "LISTEN_ADDRESS": f"127.0.0.1:{port}", "MARKS": str(marks), **env},
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 30
    while not (marks / "starting").exists():
        assert process.poll() is None and time.monotonic() < deadline, process.stdout.read()
        time.sleep(0.02)
    return process, port, marks


def test_connections_are_refused_until_start_has_finished(tmp_path):
    process, port, marks = _start_slow(tmp_path, START_SECONDS="3")
    refused = http_refused = 0
    try:
        deadline = time.monotonic() + 30
        while True:
            assert time.monotonic() < deadline and process.poll() is None
            started_before = (marks / "started").exists()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=2).close()
            except ConnectionRefusedError:
                refused += 1
                try:
                    requests.get(f"http://127.0.0.1:{port}/health/readiness", timeout=2)
                    pytest.fail("the readiness probe was answered before start() finished")
                except requests.ConnectionError:
                    http_refused += 1
                time.sleep(0.05)
                continue
            assert started_before or (marks / "started").exists()
            break
        assert requests.get(f"http://127.0.0.1:{port}/health/readiness", timeout=5).status_code == 200
        assert requests.get(f"http://127.0.0.1:{port}/", timeout=5).text == "hello"
    finally:
        process.terminate()
        process.communicate(timeout=30)
    assert refused >= 5 and http_refused >= 5


def test_a_failed_start_exits_non_zero_without_ever_accepting_a_connection(tmp_path):
    process, port, marks = _start_slow(tmp_path, START_SECONDS="1", START_FAILS="1")
    accepted = attempts = 0
    while process.poll() is None:
        attempts += 1
        try:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
            accepted += 1
        except OSError:
            time.sleep(0.02)
    output = process.stdout.read()
    assert process.returncode != 0
    assert "start() raised RuntimeError: database unreachable" in output
    assert attempts >= 5 and accepted == 0


# -- 5. log lines cannot be forged ----------------------------------------------------------

FORGER = {"func.py": """
    import logging

    def main(req):
        logging.getLogger("fn").warning("user said %s", req.args.get("say"))
        raise ValueError("boom\\r\\nFORGED ERROR pyfunc: all is well\\x1b[2J")
"""}


def test_text_logs_escape_control_characters_from_requests_and_functions(tmp_path, serve):
    write_function(tmp_path, FORGER)
    server = serve(tmp_path, {"PYFUNC_ACCESS_LOG": "1"})
    forged = "%0D%0AFORGED%20INFO%20pyfunc:%20x%1B"
    assert requests.get(f"{server.url}/p{forged}?say=hi%0AFORGED%20WARNING%20fn:%20y").status_code == 500
    server.stop()
    lines = server.output.splitlines()
    assert not [line for line in lines if line.startswith("FORGED")], server.output
    assert "\x1b" not in server.output
    assert "/p\\r\\nFORGED INFO pyfunc: x\\x1b" in server.output  # the request line, escaped
    assert "user said hi\\nFORGED WARNING fn: y" in server.output
    assert "ValueError: boom\\r\\nFORGED ERROR pyfunc: all is well\\x1b[2J" in server.output
    record = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ ")
    traceback_line = re.compile(r"^(Traceback|  |ValueError: |$|The above|During handling)")
    assert all(record.match(line) or traceback_line.match(line) for line in lines), server.output


def test_json_logs_stay_one_valid_object_per_line(tmp_path, serve):
    write_function(tmp_path, FORGER)
    server = serve(tmp_path, {"PYFUNC_LOG_FORMAT": "json"})
    requests.get(f"{server.url}/p%0D%0A%7B%22forged%22:1%7D?say=a%0Ab")
    server.stop()
    entries = [json.loads(line) for line in server.output.splitlines()]
    assert not any("forged" in entry for entry in entries)
    assert any(entry.get("path") == '/p\r\n{"forged":1}' for entry in entries)
    assert any("FORGED ERROR" in entry.get("exception", "") for entry in entries)


# -- with Knative's queue-proxy, when built (go install knative.dev/serving/cmd/queue@v0.50.0) -

QUEUE_PROXY_RUN = r"""
import fcntl, json, os, socket, struct, subprocess, sys, time
import http.client
with socket.socket() as sock:  # ip link set lo up
    flags = struct.unpack("16sH", fcntl.ioctl(sock, 0x8913, struct.pack("16sH14x", b"lo", 0))[:18])[1]
    fcntl.ioctl(sock, 0x8914, struct.pack("16sH14x", b"lo", flags | 0x1))
queue, function, marks = sys.argv[1:4]
invoker = subprocess.Popen([sys.executable, "-m", "pyfunc", "start", "-s", function],
                           env={**os.environ, "LISTEN_ADDRESS": "[::]:8080", "MARKS": marks, "START_SECONDS": "3"},
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
probe = {"tcpSocket": {"host": "127.0.0.1", "port": 8080}, "successThreshold": 1, "periodSeconds": 1}
proxy = subprocess.Popen([queue], env={
    **os.environ, "CONTAINER_CONCURRENCY": "0", "QUEUE_SERVING_PORT": "8012", "QUEUE_SERVING_TLS_PORT": "8112",
    "USER_PORT": "8080", "REVISION_TIMEOUT_SECONDS": "30", "SERVING_LOGGING_CONFIG": "", "SERVING_LOGGING_LEVEL": "",
    "SERVING_NAMESPACE": "ns", "SERVING_CONFIGURATION": "c", "SERVING_REVISION": "r", "SERVING_POD": "p",
    "SERVING_POD_IP": "127.0.0.1", "SERVING_READINESS_PROBE": json.dumps(probe)},
    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
result = {"early_ready": False, "ready": False}
deadline = time.monotonic() + 60
while time.monotonic() < deadline and not result["ready"]:
    started = os.path.exists(os.path.join(marks, "started"))
    try:
        connection = http.client.HTTPConnection("127.0.0.1", 8012, timeout=5)
        connection.request("GET", "/", headers={"User-Agent": "kube-probe/1.30", "K-Network-Probe": "queue"})
        if connection.getresponse().status == 200:
            result["ready"] = True
            result["early_ready"] = not started and not os.path.exists(os.path.join(marks, "started"))
    except OSError:
        pass
    time.sleep(0.2)
h1 = subprocess.run(["curl", "-s", "127.0.0.1:8012/a"], capture_output=True, text=True).stdout
h2 = subprocess.run(["curl", "-s", "--http2-prior-knowledge", "127.0.0.1:8012/b"], capture_output=True, text=True)
result.update(http1=h1, h2c=h2.stdout + h2.stderr)
proxy.kill()
invoker.terminate()
invoker.communicate(timeout=30)
print("RESULT", json.dumps(result))
"""


def test_behind_queue_proxy_ipv6_wildcard_tcp_readiness_and_h2c(tmp_path):
    queue = os.environ.get("QUEUE_PROXY") or shutil.which("queue")
    if not queue:
        pytest.skip("no queue-proxy binary (set QUEUE_PROXY; build: go install knative.dev/serving/cmd/queue@v0.50.0)")
    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("curl"):
        pytest.skip("needs root, unshare(1) and curl: queue-proxy binds :8022 and :9090, so it runs in its own netns")
    function, marks = tmp_path / "fn", tmp_path / "marks"
    marks.mkdir()
    write_function(function, {**SLOW_START, "function/__init__.py": SLOW_START["function/__init__.py"].replace(
        'b"hello"', 'f"{scope[\'http_version\']} {scope[\'path\']}".encode()')})
    result = subprocess.run(["unshare", "-n", sys.executable, "-c", QUEUE_PROXY_RUN, queue, str(function), str(marks)],
                            capture_output=True, text=True, timeout=120)
    line = next((line for line in result.stdout.splitlines() if line.startswith("RESULT ")), None)
    assert line, result.stdout + result.stderr
    outcome = json.loads(line[len("RESULT "):])
    assert outcome["ready"] and not outcome["early_ready"]
    assert outcome["http1"] == "1.1 /a"
    assert outcome["h2c"] == "2 /b"
