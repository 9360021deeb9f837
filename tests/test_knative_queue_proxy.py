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
from pathlib import Path

import pytest
import requests

import knative_pod
from conftest import write_function
from knative_pod import (H2C_QUEUE_PORT, KUBELET_PROBE, USER_PORT, Pod, exit_code, http_probe, run_side_by_side,
                         tcp_probe)

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

#: /slow?s=N creates SLOW_MARK, then sleeps N seconds (in the thread pool); anything else answers at once.
SLOW = {"func.py": """
    import os
    import time

    def main(req):
        if req.path == "/slow":
            open(os.environ["SLOW_MARK"], "w").close()
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
    knative_pod.require()
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
    assert outcomes, "no connection was tried while start() ran"
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


# 3. Knative's shutdown order (each scenario costs queue-proxy's fixed 30 s drain: run in parallel) --

def test_shutdown_orders_answer_in_flight_requests_and_exit_zero(pod, tmp_path):
    scenarios = {"knative order": _knative_order, "reverse order": _reverse_order,
                 "reverse order, SIGTERM twice": lambda p: _reverse_order(p, twice=True)}
    pods = {name: pod(SLOW, env={"SLOW_MARK": str(tmp_path / f"slow-{i}")}) for i, name in enumerate(scenarios)}
    run_side_by_side(scenarios, pods)


def _in_flight(p: Pod):
    """Start the pod and a 4 s request; return its Future once the function is running it."""
    p.start()
    mark = Path(p.invoker_env["SLOW_MARK"])
    slow = p.submit("GET", "/slow?s=4")
    deadline = time.monotonic() + 20
    while not mark.exists() and time.monotonic() < deadline and not slow.done():
        time.sleep(0.05)
    assert mark.exists(), f"the slow request never reached the function: {slow.result() if slow.done() else 'pending'}"
    return slow


def _knative_order(p: Pod) -> None:
    """SIGTERM to queue-proxy and the user container's preStop GET :8022/wait-for-drain at once;
    when that returns, SIGTERM to the invoker (Knative's pod spec, pkg/queue/sharedmain)."""
    slow = _in_flight(p)
    p.queue.send_signal(signal.SIGTERM)
    pre_stop = p.ns.pool.submit(p.wait_for_drain)
    time.sleep(0.5)
    assert p.probe(timeout=15).status_code == 503, "the kubelet probe must fail while queue-proxy drains"
    during = [p.request("GET", "/during") for _ in range(3)]  # still routed here until endpoints update
    assert [(r.status_code, r.text) for r in during] == [(200, "ok")] * 3
    answer = slow.result(30)
    assert (answer.status_code, answer.text) == (200, "slow done"), "the in-flight request was not answered"
    assert pre_stop.result(120).status_code == 200
    assert exit_code(p.queue, 30) == 0, "queue-proxy did not exit 0 after draining"
    p.invoker.send_signal(signal.SIGTERM)
    assert exit_code(p.invoker, 30) == 0, "the invoker did not exit 0 on SIGTERM"


def _reverse_order(p: Pod, twice: bool = False) -> None:
    """SIGTERM reaches the invoker first (no preStop, or it failed), a slow request in flight."""
    slow = _in_flight(p)
    p.invoker.send_signal(signal.SIGTERM)
    if twice:
        time.sleep(0.5)
        p.invoker.send_signal(signal.SIGTERM)
    answer = slow.result(30)
    assert (answer.status_code, answer.text) == (200, "slow done"), "the in-flight request was not answered"
    assert exit_code(p.invoker, 30) == 0, "the invoker did not exit 0 after draining"
    assert p.probe(timeout=30).status_code == 503, "queue-proxy must report not ready once the invoker is gone"
    p.queue.send_signal(signal.SIGTERM)
    assert p.wait_for_drain().status_code == 200
    assert exit_code(p.queue, 60) == 0, "queue-proxy did not exit 0 after draining"


# 4. containerConcurrency ---------------------------------------------------------------------

@pytest.mark.parametrize("cc", [1, 3])
def test_container_concurrency_is_never_exceeded_and_bursts_queue(pod, cc):
    p = pod(COUNTING, cc=cc).start()
    burst = 8 * cc  # under queue-proxy's queue depth (10 × CC): nothing is refused
    futures = [p.submit("GET", f"/work/{i}") for i in range(burst)]
    answers = [f.result(60) for f in futures]
    assert [(a.status_code, a.text) for a in answers] == [(200, "ok")] * burst, p.output()
    assert p.request("GET", "/most").text == str(cc), "the function saw more (or fewer) callers at once than CC"


# 5. Timeouts ---------------------------------------------------------------------------------

def test_revision_timeout_is_a_504_from_queue_proxy_and_the_next_request_is_served(pod):
    p = pod(SLEEPY, cc=1, timeout=2).start()
    started = time.monotonic()
    late = p.request("GET", "/?s=8")
    assert (late.status_code, late.text.strip()) == (504, "request timeout"), p.output()
    assert time.monotonic() - started < 8
    after = p.request("GET", "/", timeout=10)
    assert (after.status_code, after.text) == (200, "done")


def test_pyfunc_timeout_is_a_504_from_the_invoker_and_the_next_request_is_served(pod):
    p = pod(SLEEPY, cc=1, timeout=30, env={"PYFUNC_TIMEOUT": "1"}).start()
    late = p.request("GET", "/?s=8")
    assert late.status_code == 504, p.output()
    assert late.text.strip() != "request timeout", "the invoker's timeout must answer before queue-proxy's"
    after = p.request("GET", "/", timeout=10)
    assert (after.status_code, after.text) == (200, "done")


# 6. Probe traffic and forwarded headers -------------------------------------------------------

def test_probes_never_reach_the_function_and_forwarded_headers_do(pod, tmp_path):
    seen_file = tmp_path / "seen.jsonl"
    p = pod(SEEING, env={"SEEN_FILE": str(seen_file), "PYFUNC_LOG_FORMAT": "json"}).start()

    kubelet = p.request("GET", "/", headers=KUBELET_PROBE)
    assert (kubelet.status_code, kubelet.text) == (200, "queue")
    network = p.request("GET", "/network-probe", headers={"K-Network-Probe": "probe", "K-Network-Hash": "h1"})
    assert (network.status_code, network.headers.get("K-Network-Hash")) == (200, "h1")
    activator = p.request("GET", "/activator-probe",
                          headers={"User-Agent": "Knative-Activator-Probe", "K-Network-Probe": "queue"})
    assert (activator.status_code, activator.text) == (200, "queue")
    kube_ua = p.request("GET", "/any-path", headers={"User-Agent": "kube-probe/1.30"})
    assert kube_ua.status_code == 400  # a kubelet probe without K-Network-Probe: queue-proxy refuses it itself

    proxied = p.request("GET", "/via-activator", headers={
        "K-Proxy-Request": "activator", "Knative-Serving-Revision": "fn-00001", "Knative-Serving-Namespace": "default"})
    assert proxied.status_code == 200
    headers = proxied.json()["headers"]
    assert headers.get("K-Proxy-Request") == "activator"
    assert "Knative-Serving-Revision" not in headers and "Knative-Serving-Namespace" not in headers

    forwarded = p.request("GET", "/forwarded", headers={
        "X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "fn.example.com"})
    seen = forwarded.json()
    assert seen["headers"]["Forwarded"] == "for=203.0.113.7;host=fn.example.com;proto=https"
    assert seen["headers"]["X-Forwarded-For"] == "203.0.113.7, 127.0.0.1"  # queue-proxy appends its peer
    assert (seen["remote_addr"], seen["scheme"]) == ("203.0.113.7", "https")  # the loopback proxy is trusted

    paths = [json.loads(line)["path"] for line in seen_file.read_text().splitlines()]
    assert paths == ["/via-activator", "/forwarded"], "probe traffic reached the function"
    p.invoker.send_signal(signal.SIGTERM)  # the request log line is written after the answer: let it drain
    assert exit_code(p.invoker, 30) == 0
    logged = [json.loads(line) for line in p.invoker_log().splitlines() if line.startswith("{")]
    assert [entry["path"] for entry in logged if entry.get("logger") == "pyfunc.request"] == paths


def test_request_log_records_the_client_knative_forwards(pod):
    p = pod(HELLO, env={"PYFUNC_LOG_FORMAT": "json"}).start()
    assert p.request("GET", "/logged", headers={"X-Forwarded-For": "203.0.113.7"}).status_code == 200
    p.invoker.send_signal(signal.SIGTERM)
    assert exit_code(p.invoker, 30) == 0
    logged = [json.loads(line) for line in p.invoker_log().splitlines() if line.startswith("{")]
    [entry] = [entry for entry in logged if entry.get("logger") == "pyfunc.request"]
    fields = {key: value for key, value in entry.items() if key != "message"}
    assert any(str(value).startswith("203.0.113.7") for value in fields.values()), (
        f"the request log line does not record the client queue-proxy forwarded (203.0.113.7): {entry}")


# 7. h2c ----------------------------------------------------------------------------------------

def test_h2c_port_is_served_over_http2_end_to_end(pod):
    """A Revision whose port is named h2c: queue-proxy serves on 8013 and, for an HTTP/2 request,
    dials the user container with HTTP/2 prior knowledge (knative.dev/pkg/network
    NewProxyAutoTransport picks h2c when the request's ProtoMajor is 2); no env switches it."""
    p = pod(SEEING, queue_port=H2C_QUEUE_PORT, env={"SEEN_FILE": os.devnull}).start()
    http1 = p.request("GET", "/http1")  # HTTP/1.1 requests still arrive as HTTP/1.1 on the same port
    assert (http1.status_code, http1.json()["protocol"]) == (200, "HTTP/1.1")
    result = p.run(["curl", "-sS", "--http2-prior-knowledge", "-w", "\n%{http_code} %{http_version}",
                    f"http://127.0.0.1:{H2C_QUEUE_PORT}/h2c"])
    body, _, status = result.stdout.rpartition("\n")
    assert status == "200 2", f"{result.stdout}{result.stderr}\n{p.output()}"
    assert json.loads(body)["protocol"].startswith("HTTP/2"), "queue-proxy reached the function over HTTP/1.1"
