"""Knative Serving's runtime contract, proven behind the real queue-proxy (v0.50.0).

Every request goes to queue-proxy's serving port inside the pod's own network namespace
(tests/knative_pod.py); readiness is the kubelet's probe of queue-proxy (``GET /`` with
``User-Agent: kube-probe/1.30`` and ``K-Network-Probe: queue``), which queue-proxy answers from
its probe of the invoker (``SERVING_READINESS_PROBE``). Behaviour checked against queue-proxy's
source: pkg/queue/sharedmain (probe, drain, breaker, timeout, forwarded shim) and
knative.dev/pkg/network (kube-probe and K-Network-Probe answered by the Drainer, h2c to the
user container for HTTP/2 requests).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

import knative_pod
from conftest import write_function
from knative_pod import H2C_QUEUE_PORT, KUBELET_PROBE, USER_PORT, Pod, exit_code, http_probe, tcp_probe

HELLO = {"func.py": "def main(req):\n    return 'hello'\n"}

#: A Knative func instance whose start() takes START_SECONDS, then raises if START_FAILS is set,
#: else writes the time it finished to STARTED_FILE.
SLOW_START = {"function/__init__.py": """
    import time

    class Function:
        def start(self, cfg):
            time.sleep(float(cfg["START_SECONDS"]))
            if cfg.get("START_FAILS"):
                raise RuntimeError("start() fails on purpose")
            with open(cfg["STARTED_FILE"], "w") as out:
                out.write(repr(time.time()))

        async def handle(self, scope, receive, send):
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": b"started"})

    def new():
        return Function()
"""}

#: /slow?s=N sleeps N seconds (in the thread pool); anything else answers at once.
SLOW = {"func.py": """
    import time

    def main(req):
        if req.path == "/slow":
            time.sleep(float(req.args["s"]))
            return "slow done"
        return "ok"
"""}

#: Counts callers in the function at once; GET /most answers the highest count seen.
COUNTING = {"func.py": """
    import threading
    import time

    lock = threading.Lock()
    now = most = 0

    def main(req):
        global now, most
        if req.path == "/most":
            return str(most)
        with lock:
            now += 1
            most = max(most, now)
        try:
            time.sleep(0.3)
        finally:
            with lock:
                now -= 1
        return "ok"
"""}

SLEEPY = {"func.py": """
    import asyncio

    async def main(req):
        await asyncio.sleep(float(req.args.get("s", "0")))
        return "done"
"""}

#: Answers and appends to SEEN_FILE what it saw: path, headers, client address, scheme, protocol.
SEEING = {"func.py": """
    import json
    import os

    def main(req):
        seen = {"path": req.path, "headers": dict(req.headers), "remote_addr": req.remote_addr,
                "scheme": req.scheme, "protocol": req.environ["SERVER_PROTOCOL"]}
        with open(os.environ["SEEN_FILE"], "a") as out:
            out.write(json.dumps(seen) + "\\n")
        return seen
"""}


@pytest.fixture
def pod(tmp_path):
    """``pod(files, **Pod options)``: a function dir made of ``files`` behind queue-proxy (not started)."""
    if not knative_pod.QUEUE.exists():
        message = f"queue-proxy is not built ({knative_pod.QUEUE}): run make queue-proxy"
        if os.environ.get("CI"):
            pytest.fail(message)  # make test builds it: in CI a missing queue-proxy is a defect
        pytest.skip(message)
    reason = knative_pod.problem()
    if reason:
        pytest.skip(reason)
    pods: list[Pod] = []

    def make(files: dict[str, str], **options) -> Pod:
        base = tmp_path / f"pod{len(pods)}"
        logs = base / "logs"
        logs.mkdir(parents=True)
        made = Pod(write_function(base / "fn", files), logs, **options)
        pods.append(made)
        return made

    yield make
    for made in pods:
        made.close()


# 1. Ready only when ready ------------------------------------------------------------------

@pytest.mark.parametrize("probe", [tcp_probe(USER_PORT), http_probe(USER_PORT)], ids=["tcp", "http-readiness"])
def test_ready_only_after_start_finished(pod, tmp_path, probe):
    started = tmp_path / "started"
    p = pod(SLOW_START, probe=probe, env={"START_SECONDS": "5", "STARTED_FILE": str(started)})
    p.start_invoker()
    p.start_queue()
    ready_at = p.wait_ready(60)
    assert started.exists(), f"queue-proxy reported ready while start() was still running\n{p.output()}"
    assert float(started.read_text()) <= ready_at, "ready before start() returned"
    assert p.request("GET", "/").text == "started"


def test_start_raising_exits_non_zero_and_resets_no_accepted_request(pod, tmp_path):
    p = pod(SLOW_START, env={"START_SECONDS": "2", "START_FAILS": "1", "STARTED_FILE": str(tmp_path / "started")})
    invoker = p.start_invoker()
    p.start_queue()
    outcomes = []  # per direct connection to the user port: refused / answered / the failure
    probes = []
    while invoker.poll() is None:
        outcomes.append(p.ns.run(_one_request, USER_PORT))
        try:
            probes.append(p.probe(timeout=15).status_code)
        except requests.ConnectionError:
            probes.append("queue-proxy not listening yet")
        time.sleep(0.1)
    assert exit_code(invoker, 30) not in (None, 0), p.output()
    assert "start() fails on purpose" in p.invoker_log()
    lost = [o for o in outcomes if o not in ("refused", "answered")]
    assert (200 in probes, lost) == (False, []), (
        f"kubelet probes while start() ran: {probes} (a 200 is ready although start() raised); "
        f"connections accepted during start() then dropped without an answer: {lost}")


def _one_request(port: int) -> str:
    """One HTTP/1.1 request on a fresh connection: refused, answered, or how it failed."""
    try:
        sock = socket.create_connection(("127.0.0.1", port), 5)
    except ConnectionRefusedError:
        return "refused"
    with sock:
        sock.settimeout(30)
        try:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: fn\r\nConnection: close\r\n\r\n")
            first = sock.recv(64)
        except OSError as exc:
            return f"accepted, then {type(exc).__name__}: {exc}"
    return "answered" if first.startswith(b"HTTP/1.1 ") else f"accepted, then closed ({first!r})"


# 2. LISTEN_ADDRESS as func sets it -----------------------------------------------------------

def test_listen_address_ipv6_any_is_reachable_through_queue_proxy(pod):
    p = pod(HELLO, env={"LISTEN_ADDRESS": f"[::]:{USER_PORT}"}).start(ready_within=20)
    response = p.request("GET", "/")
    assert (response.status_code, response.text) == (200, "hello"), p.output()
