"""A Knative Serving pod without Kubernetes: the real queue-proxy in front of the invoker.

Each ``Pod`` gets its own network namespace with only loopback up (``unshare --net``, then
loopback brought up as ``ip link set lo up`` does, by ioctl, so iproute2 is not needed),
because queue-proxy binds fixed ports on all interfaces (8022 admin, 9090 metrics). Inside it
the ports are Knative's own: queue-proxy serves on 8012 (8013 for an ``h2c`` port), the user
container listens on ``PORT=8080``. Both processes are started with ``nsenter --net``; the
test's requests run in threads that ``setns(2)`` into the namespace, so every byte stays on
that namespace's loopback.

The environment is what Knative Serving v0.50.0 gives each container
(pkg/reconciler/revision/resources/queue.go and deploy.go): queue-proxy gets
``CONTAINER_CONCURRENCY``, ``QUEUE_SERVING_PORT``, ``USER_PORT``, ``REVISION_TIMEOUT_SECONDS``,
``SERVING_READINESS_PROBE``…; the user container gets ``PORT``, ``K_SERVICE``,
``K_CONFIGURATION``, ``K_REVISION`` (not ``CONTAINER_CONCURRENCY``).
"""

from __future__ import annotations

import ctypes
import functools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
QUEUE = ROOT / ".tools" / "bin" / "queue"
QUEUE_PORT, H2C_QUEUE_PORT, USER_PORT, ADMIN_PORT = 8012, 8013, 8080, 8022
#: The kubelet's readiness probe of the queue-proxy container (Knative makes it GET / on the queue port).
KUBELET_PROBE = {"User-Agent": "kube-probe/1.30", "K-Network-Probe": "queue"}
CLONE_NEWNET = 0x40000000

#: Runs in the namespace's first process: loopback up (SIOCGIFFLAGS/SIOCSIFFLAGS), then wait for stdin to close.
LOOPBACK_UP = r"""
import fcntl, socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
flags = struct.unpack("16sH22x", fcntl.ioctl(s, 0x8913, struct.pack("16sH22x", b"lo", 0)))[1]
fcntl.ioctl(s, 0x8914, struct.pack("16sH22x", b"lo", flags | 1))
print("up", flush=True)
sys.stdin.read()
"""


@functools.lru_cache(maxsize=None)
def require() -> None:
    """Skip (or, in CI, fail: ``make test`` builds it) the calling test when queue-proxy is
    missing; skip with the reason when network namespaces cannot be made here."""
    import pytest

    if not QUEUE.exists():
        message = f"queue-proxy is not built ({QUEUE}): run make queue-proxy"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    reason = problem()
    if reason:
        pytest.skip(reason)


def problem() -> str | None:
    """Why network namespaces cannot be made here, or None. A missing queue-proxy is the caller's."""
    if os.geteuid() != 0:
        return "network namespaces need root (unshare --net, setns); run the tests as root"
    for tool in ("unshare", "nsenter"):
        if shutil.which(tool) is None:
            return f"{tool} (util-linux) is not on PATH"
    tried = subprocess.run(["unshare", "--net", "--", "true"], capture_output=True, text=True)
    if tried.returncode != 0:
        return f"unshare --net failed: {tried.stderr.strip()}"
    return None


class Netns:
    """A network namespace held open by a small process; ``popen`` and ``pool`` run inside it."""

    def __init__(self, path: str | None = None) -> None:
        """A new namespace, or (``path``, e.g. ``/proc/<container pid>/ns/net``) an existing one joined."""
        self.holder = None
        if path is None:
            self.holder = subprocess.Popen(["unshare", "--net", "--", sys.executable, "-c", LOOPBACK_UP],
                                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                           text=True)
            if self.holder.stdout.readline().strip() != "up":
                raise RuntimeError(f"could not make a network namespace: {self.holder.stderr.read().strip()}")
            path = f"/proc/{self.holder.pid}/ns/net"
        self.fd = os.open(path, os.O_RDONLY)  # keeps the namespace alive even after its process exits
        self.path = f"/proc/{os.getpid()}/fd/{self.fd}"
        self.pool = ThreadPoolExecutor(48, initializer=self._enter)

    def _enter(self) -> None:
        if ctypes.CDLL(None, use_errno=True).setns(self.fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns failed")

    def popen(self, args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
        with open(log, "wb") as out:
            return subprocess.Popen(["nsenter", f"--net={self.path}", "--", *args], env=env,
                                    stdout=out, stderr=subprocess.STDOUT)

    def run(self, fn, *args, **kwargs):
        """``fn(*args, **kwargs)`` in a thread inside the namespace; its result or exception."""
        return self.pool.submit(fn, *args, **kwargs).result()

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
        os.close(self.fd)
        if self.holder is not None:
            self.holder.stdin.close()
            self.holder.wait(10)


def tcp_probe(port: int) -> dict:
    return {"tcpSocket": {"host": "127.0.0.1", "port": port}, "successThreshold": 1}


def http_probe(port: int, path: str = "/health/readiness") -> dict:
    return {"httpGet": {"host": "127.0.0.1", "port": port, "path": path, "scheme": "HTTP"},
            "successThreshold": 1, "periodSeconds": 1}


def queue_env(*, cc: int = 0, timeout: int = 300, probe: dict | None = None,
              queue_port: int = QUEUE_PORT) -> dict[str, str]:
    """queue-proxy's environment as Knative Serving v0.50.0 sets it (resources/queue.go); ``probe``
    None is Knative's default for a user container, TCP on the user port."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "CONTAINER_CONCURRENCY": str(cc),
        "QUEUE_SERVING_PORT": str(queue_port), "QUEUE_SERVING_TLS_PORT": "8112", "USER_PORT": str(USER_PORT),
        "REVISION_TIMEOUT_SECONDS": str(timeout), "SERVING_LOGGING_CONFIG": "", "SERVING_LOGGING_LEVEL": "",
        "SERVING_NAMESPACE": "default", "SERVING_CONFIGURATION": "fn", "SERVING_REVISION": "fn-00001",
        "SERVING_POD": "fn-00001-deployment-0", "SERVING_POD_IP": "127.0.0.1",
        "SERVING_READINESS_PROBE": json.dumps(probe if probe is not None else tcp_probe(USER_PORT)),
    }


class Pod:
    """queue-proxy and ``python -m pyfunc start`` for ``directory`` in one fresh namespace.

    ``cc``: containerConcurrency; ``timeout``: revision timeout (s); ``probe``: the
    ``SERVING_READINESS_PROBE`` dict (Knative's default: TCP on the user port) or None;
    ``env``: extra invoker env; ``queue_port``: 8012 (http1) or 8013 (h2c port name);
    ``python``: the interpreter that runs ``-m pyfunc start``.
    """

    def __init__(self, directory: Path, logs: Path, *, cc: int = 0, timeout: int = 300,
                 probe: dict | None = None, env: dict[str, str] | None = None, queue_port: int = QUEUE_PORT,
                 python: str = sys.executable) -> None:
        self.directory, self.logs, self.python = directory, logs, python
        self.queue_port = queue_port
        self.url = f"http://127.0.0.1:{queue_port}"
        self.ns = Netns()
        self.invoker_env = {k: v for k, v in os.environ.items() if k not in ("PORT", "LISTEN_ADDRESS", "HOST")}
        self.invoker_env.update({"PORT": str(USER_PORT), "K_SERVICE": "fn", "K_CONFIGURATION": "fn",
                                 "K_REVISION": "fn-00001", **(env or {})})
        self.queue_env = queue_env(cc=cc, timeout=timeout, probe=probe, queue_port=queue_port)
        self.invoker: subprocess.Popen | None = None
        self.queue: subprocess.Popen | None = None

    def start_invoker(self) -> subprocess.Popen:
        self.invoker = self.ns.popen([self.python, "-m", "pyfunc", "start", "-s", str(self.directory)],
                                     self.invoker_env, self.logs / "invoker.log")
        return self.invoker

    def start_queue(self) -> subprocess.Popen:
        self.queue = self.ns.popen([str(QUEUE)], self.queue_env, self.logs / "queue.log")
        return self.queue

    def start(self, ready_within: float = 30) -> "Pod":
        """Both containers, then wait until the kubelet probe says ready."""
        self.start_invoker()
        self.start_queue()
        self.wait_ready(ready_within)
        return self

    def wait_ready(self, within: float) -> float:
        """Poll the kubelet probe until 200; the time it first answered 200.
        AssertionError with both logs when a process exits or ``within`` seconds pass."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            for proc in (self.invoker, self.queue):
                if proc is not None and proc.poll() is not None:
                    raise AssertionError(f"{proc.args[3]} exited {proc.returncode}\n{self.output()}")
            try:
                if self.probe(timeout=within).status_code == 200:
                    return time.time()
            except requests.ConnectionError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"not ready within {within}s\n{self.output()}")

    def request(self, method: str, path: str, *, port: int | None = None, **kwargs) -> requests.Response:
        """An HTTP/1.1 request to queue-proxy's serving port (or ``port``) from inside the namespace."""
        kwargs.setdefault("timeout", 60)
        url = f"http://127.0.0.1:{port or self.queue_port}{path}"
        return self.ns.run(requests.request, method, url, **kwargs)

    def submit(self, method: str, path: str, **kwargs):
        """``request`` in the background: a Future."""
        kwargs.setdefault("timeout", 60)
        return self.ns.pool.submit(requests.request, method, f"{self.url}{path}", **kwargs)

    def probe(self, timeout: float = 30) -> requests.Response:
        """The kubelet's readiness probe of the queue-proxy container."""
        return self.request("GET", "/", headers=KUBELET_PROBE, timeout=timeout)

    def wait_for_drain(self, timeout: float = 120) -> requests.Response:
        """Knative's preStop hook of the user container: ``GET :8022/wait-for-drain``."""
        return self.request("GET", "/wait-for-drain", port=ADMIN_PORT, timeout=timeout)

    def connect(self, port: int = USER_PORT) -> socket.socket:
        """A TCP connection from inside the namespace (raises ConnectionRefusedError)."""
        return self.ns.run(socket.create_connection, ("127.0.0.1", port), 10)

    def run(self, args: list[str], timeout: float = 60) -> subprocess.CompletedProcess:
        """A command (e.g. curl) inside the namespace."""
        return subprocess.run(["nsenter", f"--net={self.ns.path}", "--", *args], capture_output=True, text=True,
                              timeout=timeout)

    def output(self) -> str:
        return "".join(f"--- {name} ---\n{(self.logs / name).read_text(errors='replace')}\n"
                       for name in ("invoker.log", "queue.log") if (self.logs / name).exists())

    def invoker_log(self) -> str:
        return (self.logs / "invoker.log").read_text(errors="replace")

    def close(self) -> None:
        for proc in (self.queue, self.invoker):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait(10)
        self.ns.close()


def run_side_by_side(scenarios: dict, pods: dict) -> None:
    """Run ``scenarios[name](pods[name])`` for every name at once; fail with every failure.

    Each failure is reported under its name with that pod's ``output()``, so one slow
    scenario's AssertionError never hides another's. Used where each scenario waits out
    queue-proxy's fixed drain, so running them one after another would cost that wait each time.
    """
    with ThreadPoolExecutor(len(scenarios)) as pool:
        futures = {name: pool.submit(run, pods[name]) for name, run in scenarios.items()}
    failures = {}
    for name, future in futures.items():
        try:
            future.result()
        except AssertionError as exc:
            failures[name] = f"{exc}\n{pods[name].output()}"
    assert not failures, "\n\n".join(f"[{name}] {text}" for name, text in failures.items())


def exit_code(proc: subprocess.Popen, within: float) -> int | None:
    """The process's exit status, or None if it still runs after ``within`` seconds."""
    try:
        return proc.wait(within)
    except subprocess.TimeoutExpired:
        return None
