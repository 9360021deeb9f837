"""Knative's pod, once with a built image: queue-proxy in the network namespace of a ``docker run``
container, as the two containers of a Knative pod share one.

A Knative func instance (``new()`` with start/ready/stop) is built by ``pack build`` on the
project's engine (tests/engine_harness.py) and run with ``docker run`` (bridge network, no
published port). The host's queue-proxy (statically linked, ``make queue-proxy``) runs with
``nsenter --net=/proc/<container pid>/ns/net`` and Knative Serving v0.50.0's env
(tests/knative_pod.py); every request is made from inside that namespace. Checked: the kubelet
probe of queue-proxy turns ready only after ``start()`` returned (readiness probe as TCP, the
Knative default, and as HTTP), HTTP/1.1 and h2c answers through queue-proxy, and Knative's
shutdown order (SIGTERM to queue-proxy with the preStop ``GET :8022/wait-for-drain``, then
``docker stop``): the in-flight request answered, both exit 0. Costs queue-proxy's fixed 30 s
drain once (the two probe kinds run in parallel) plus one pack build.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest
import requests

import knative_pod
from conftest import write_function
from knative_pod import (ADMIN_PORT, H2C_QUEUE_PORT, KUBELET_PROBE, QUEUE_PORT, USER_PORT, Netns, exit_code,
                         http_probe, queue_env, run_side_by_side, tcp_probe)

#: start() sleeps START_SECONDS and notes when it returned; ready() follows it; GET /slow takes 4 s;
#: every answer says when start() returned and the HTTP version the request arrived with.
SLOW_START = {
    "func.yaml": "specVersion: 0.36.0\nname: slow-start\nruntime: python\ninvoke: http\n",
    "function/__init__.py": """
        import asyncio
        import json
        import time


        class Function:
            started_at = None

            def start(self, cfg):
                time.sleep(float(cfg.get("START_SECONDS", "0")))
                self.started_at = time.time()

            def ready(self):
                return (True, "started") if self.started_at else (False, "start() still running")

            def stop(self):
                pass

            async def handle(self, scope, receive, send):
                if scope["path"] == "/slow":
                    await asyncio.sleep(4)
                answer = {"path": scope["path"], "http_version": scope["http_version"], "started_at": self.started_at}
                await send({"type": "http.response.start", "status": 200,
                            "headers": [(b"content-type", b"application/json")]})
                await send({"type": "http.response.body", "body": json.dumps(answer).encode()})


        def new():
            return Function()
    """,
}
START_SECONDS = 6
#: probe kind → (SERVING_READINESS_PROBE, queue-proxy's serving port: 8013 is a port named h2c).
SCENARIOS = {"tcp probe, http1 port": (tcp_probe(USER_PORT), QUEUE_PORT),
             "http probe, h2c port": (http_probe(USER_PORT), H2C_QUEUE_PORT)}


@pytest.fixture(scope="module")
def image(docker_engine, tmp_path_factory):
    knative_pod.require()
    name = "pyfunc-e2e/knative-slow-start"
    result = docker_engine.build(name, write_function(tmp_path_factory.mktemp("slow-start"), SLOW_START))
    assert result.returncode == 0, result.stdout
    return name


class ImagePod:
    """The function's container (``docker run``) and queue-proxy in its network namespace."""

    def __init__(self, harness, image: str, name: str, probe: dict, queue_port: int, logs) -> None:
        self.engine, self.name, self.queue_port, self.logs = harness.engine, name, queue_port, logs
        harness.containers.append(name)
        self.engine.docker("run", "-d", "--name", name, "--network", "bridge", "-e", f"PORT={USER_PORT}",
                           "-e", "K_SERVICE=fn", "-e", "K_CONFIGURATION=fn", "-e", "K_REVISION=fn-00001",
                           "-e", f"START_SECONDS={START_SECONDS}", image)
        pid = self.engine.docker("inspect", "--format", "{{.State.Pid}}", name).stdout.strip()
        self.ns = Netns(f"/proc/{pid}/ns/net")
        self.queue = self.ns.popen([str(knative_pod.QUEUE)], queue_env(probe=probe, queue_port=queue_port),
                                   logs / f"{name}-queue.log")

    def request(self, path: str, *, port: int | None = None, **kwargs) -> requests.Response:
        kwargs.setdefault("timeout", 60)
        return self.ns.run(requests.get, f"http://127.0.0.1:{port or self.queue_port}{path}", **kwargs)

    def probe(self) -> requests.Response:
        return self.request("/", headers=KUBELET_PROBE)

    def wait_ready(self, within: float = 90) -> tuple[float, float]:
        """Poll the kubelet probe: (when the first probe queue-proxy answered was sent, when a 200 came).
        AssertionError if queue-proxy exits or ``within`` seconds pass."""
        deadline = time.monotonic() + within
        first = None
        while time.monotonic() < deadline:
            assert self.queue.poll() is None, f"queue-proxy exited {self.queue.returncode}\n{self.output()}"
            sent = time.time()
            try:
                status = self.probe().status_code
            except requests.ConnectionError:  # queue-proxy not listening yet
                time.sleep(0.1)
                continue
            first = sent if first is None else first
            if status == 200:
                return first, time.time()
            time.sleep(0.1)
        raise AssertionError(f"not ready within {within}s\n{self.output()}")

    def curl_h2c(self, path: str) -> tuple[str, str]:
        """curl with HTTP/2 prior knowledge from inside the namespace: (body, "status version")."""
        result = subprocess.run(["nsenter", f"--net={self.ns.path}", "--", "curl", "-sS", "--http2-prior-knowledge",
                                 "-w", "\n%{http_code} %{http_version}", f"http://127.0.0.1:{self.queue_port}{path}"],
                                capture_output=True, text=True, timeout=60)
        body, _, status = result.stdout.rpartition("\n")
        return body, status or result.stderr

    def output(self) -> str:
        queue_log = (self.logs / f"{self.name}-queue.log").read_text(errors="replace")
        container = self.engine.docker("logs", self.name, check=False).stdout
        return f"--- queue-proxy ---\n{queue_log}\n--- container ---\n{container}"

    def close(self) -> None:
        if self.queue.poll() is None:
            self.queue.send_signal(signal.SIGKILL)
            self.queue.wait(10)
        self.ns.close()


def _scenario(p: ImagePod) -> None:
    probing_from, ready_at = p.wait_ready()
    answer = p.request("/http1").json()
    assert answer["started_at"] is not None and answer["started_at"] <= ready_at, (
        f"queue-proxy reported ready before start() returned ({answer['started_at']} > {ready_at})")
    assert probing_from < answer["started_at"], "queue-proxy was not probed while start() ran: nothing was checked"
    assert answer["http_version"] == "1.1"
    if p.queue_port == H2C_QUEUE_PORT:
        body, status = p.curl_h2c("/h2c")
        assert status == "200 2", f"{body}\n{status}\n{p.output()}"
        assert json.loads(body)["http_version"] == "2", "queue-proxy reached the function over HTTP/1.1"

    slow = p.ns.pool.submit(p.request, "/slow")
    time.sleep(1)  # in the function's 4 s sleep
    p.queue.send_signal(signal.SIGTERM)
    pre_stop = p.ns.pool.submit(p.request, "/wait-for-drain", port=ADMIN_PORT, timeout=120)
    time.sleep(0.5)
    assert p.probe().status_code == 503, "the kubelet probe must fail while queue-proxy drains"
    answered = slow.result(30)
    assert (answered.status_code, answered.json()["path"]) == (200, "/slow"), "the in-flight request was lost"
    assert pre_stop.result(120).status_code == 200
    assert exit_code(p.queue, 30) == 0, "queue-proxy did not exit 0 after draining"
    p.engine.docker("stop", "-t", "30", p.name)
    code = p.engine.docker("inspect", "--format", "{{.State.ExitCode}}", p.name).stdout.strip()
    assert code == "0", "the function's container did not exit 0 on docker stop"


def test_built_image_behind_queue_proxy_in_its_network_namespace(docker_engine, image, tmp_path):
    pods = {kind: ImagePod(docker_engine, image, f"pyfunc-qp-{os.getpid()}-{i}", probe, port, tmp_path)
            for i, (kind, (probe, port)) in enumerate(SCENARIOS.items())}
    try:
        run_side_by_side(dict.fromkeys(pods, _scenario), pods)
    finally:
        for p in pods.values():
            p.close()
