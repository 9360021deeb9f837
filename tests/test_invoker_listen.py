"""Where and when the real server accepts connections: ``[::]`` serves IPv4 too (also on a host
without IPv6), nothing is accepted before the function's ``start()`` returned, and the same
behind Knative's queue-proxy when its binary is at hand."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

import knative_pod
from conftest import cnb_host, write_function

HELLO = {"func.py": """
    def main(req):
        return "hello"
"""}


# -- listen addresses ------------------------------------------------------------------------

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


@pytest.mark.parametrize("listen", ["[::]:{port}", None], ids=["ipv6-wildcard", "default"])
def test_the_ipv6_wildcard_and_the_default_answer_on_both_families(tmp_path, listen):
    write_function(tmp_path, HELLO)
    port = cnb_host.free_port()
    process = _listening(tmp_path, listen.format(port=port) if listen else None, port)
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


# -- ready only when ready ------------------------------------------------------------------

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
                except requests.ConnectionError:
                    http_refused += 1
                else:  # start() may have finished since the connect was refused: never before the answer
                    assert (marks / "started").exists(), "the readiness probe was answered before start() finished"
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
    knative_pod.require()  # make test builds queue-proxy (a failure in CI); root and unshare for its own netns
    queue = os.environ.get("QUEUE_PROXY") or str(knative_pod.QUEUE)
    if not shutil.which("curl"):  # .ci/run installs it
        pytest.skip("needs curl (its --http2-prior-knowledge client) on PATH")
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
