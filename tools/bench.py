"""``make bench``: pyfunc against the anchors, side by side in one run, into BENCHMARKS.md.

    python tools/bench.py [--seconds 10] [--warmup 3] [--connections 50] [--passes 2]
                          [--soak-seconds 60] [--only NAME ...] [--out BENCHMARKS.md]

Method (reference/perf-baselines.md): every configuration in turn, loopback only, bounded:
warm-up, then ``wrk -t2 -cN -dS --latency`` twice; the median of the passes is reported, and
ratios to functions-framework's default server measured in the same run. Cold start is
spawn → first HTTP 200 (median of 5). RSS/PSS are summed over the server's processes from
/proc. The anchors (functions-framework, func-python on hypercorn, raw ASGI on uvicorn and
granian) are installed into their own virtualenvs under .tools/bench/ on first use. As root,
pyfunc's hello is also measured straight and through Knative's queue-proxy in a network
namespace, over HTTP/1.1 (wrk) and h2c (``h2load``, Debian's nghttp2-client); ``--only queue-proxy``
measures just that and rewrites only its section of BENCHMARKS.md (``make queue-proxy`` builds it).
A CPU-bound function (≈ 2 ms of pure Python) runs in 1 and ``WORKERS`` worker processes, and
hello's cold start is measured in ``WORKERS`` processes too (they fork after import).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cnb_host  # noqa: E402

ROOT = cnb_host.ROOT
BENCH = ROOT / ".tools" / "bench"
WHEELS = cnb_host.BUILDPACK / "wheels"
PYFUNC_PACKAGES = BENCH / "pyfunc" / "packages"

#: Virtualenvs: name → requirements. pyfunc is the assembled buildpack's wheel, installed as the
#: buildpack installs it in an image (pip --target, on PYTHONPATH); the anchors are installed
#: in their venvs' site-packages, at the versions of reference/perf-baselines.md.
ENVIRONMENTS = {
    "pyfunc": [str(next(iter(sorted(WHEELS.glob("pyfunc-*.whl"))), WHEELS / "pyfunc-missing.whl"))],
    "ff": ["functions-framework==3.10.2"],
    "func": ["func-python==0.8.1"],
    "raw": ["uvicorn==0.54.0", "uvloop", "httptools", "granian==2.8.7", "matplotlib"],
}

HELLO_ASGI = textwrap.dedent("""
    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain"), (b"content-length", b"12")]})
        await send({"type": "http.response.body", "body": b"Hello world!"})
""")

#: Function sources, one directory each: relative path → source.
FUNCTIONS = {
    "ff-hello": {"main.py": "def hello(request):\n    return 'Hello world!'\n"},
    "ff-cloudevent": {"main.py": "def hello(cloud_event):\n    return None\n"},
    "ff-body": {"main.py": "def hello(request):\n    return str(len(request.get_data()))\n"},
    "ff-sleep": {"main.py": "import time\n\ndef hello(request):\n    time.sleep(0.05)\n    return 'ok'\n"},
    "raw": {"app.py": HELLO_ASGI},
    "func-python": {"serve_hello.py": HELLO_ASGI + "\nfrom func_python.http import serve\n\n"
                    "async def handle(scope, receive, send):\n    await app(scope, receive, send)\n\nserve(handle)\n"},
    "pyfunc-req": {"func.py": "def main(req):\n    return 'Hello world!'\n"},
    "pyfunc-body": {"func.py": "def main(body):\n    return 'Hello world!'\n"},
    "pyfunc-async": {"func.py": "async def main(body):\n    return 'Hello world!'\n"},
    "knative": {"function/__init__.py": "class Hello:\n" + textwrap.indent(HELLO_ASGI.replace(
        "async def app(scope", "async def handle(self, scope"), "    ") + "\nnew = Hello\n"},
    "handler": {"function/__init__.py": "", "function/handler.py": "def handle(logger, request):\n    return request\n"},
    "pyfunc-cloudevent": {"func.py": "def main(data, attributes):\n"
                          "    return {'type': 'dev.bench.reply', 'source': '/bench'}, data\n"},
    "pyfunc-len": {"func.py": "def main(body):\n    return str(len(body))\n"},
    "pyfunc-sleep": {"func.py": "import time\n\ndef main(body):\n    time.sleep(0.05)\n    return 'ok'\n"},
    # ≈ 2 ms of pure Python per request (holds the GIL: only more processes add throughput)
    "pyfunc-cpu": {"func.py": "def main(body):\n    n = 0\n    for i in range(27000):\n        n += i * i\n    return str(n)\n"},
}

#: Worker processes of the multi-process configurations: the machine's CPUs (at least 2).
WORKERS = max(2, os.cpu_count() or 1)

CLOUDEVENT_LUA = """
wrk.method = "POST"
wrk.body = '{"message": "hello"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["ce-specversion"] = "1.0"
wrk.headers["ce-type"] = "dev.bench.event"
wrk.headers["ce-source"] = "/bench"
wrk.headers["ce-id"] = "bench-1"
"""
JSON_LUA = 'wrk.method = "POST"\nwrk.body = \'{"name": "bench", "n": 1}\'\nwrk.headers["Content-Type"] = "application/json"\n'
MIB_LUA = 'wrk.method = "POST"\nwrk.body = string.rep("x", 1048576)\nwrk.headers["Content-Type"] = "application/octet-stream"\n'


@dataclass
class Config:
    """One server under load: ``command`` run in ``function``'s directory with ``venv``'s Python."""

    name: str
    label: str
    venv: str  # "pyfunc" or a key of ENVIRONMENTS
    function: str
    args: list[str]
    case: str  # hello, cloudevent, mib, sleep
    script: str | None = None
    flask: bool = False
    env: dict[str, str] = field(default_factory=dict)

    def python(self) -> Path:
        return BENCH / self.venv / "bin" / "python"


def pyfunc(name: str, label: str, function: str, case: str = "hello", script: str | None = None, flask: bool = False,
           args: tuple[str, ...] = (), workers: int = 1) -> Config:
    return Config(name, label, "pyfunc", function, ["-m", "pyfunc", "start", *args], case, script, flask,
                  {"LISTEN_ADDRESS": "127.0.0.1:{port}", "PYTHONPATH": str(PYFUNC_PACKAGES), "WEB_CONCURRENCY": str(workers)})


CONFIGS = [
    Config("ff", "functions-framework default", "ff", "ff-hello",
           ["-m", "functions_framework", "--target", "hello", "--port", "{port}", "--host", "127.0.0.1"], "hello", flask=True),
    Config("ff-asgi", "functions-framework --asgi", "ff", "ff-hello",
           ["-m", "functions_framework", "--target", "hello", "--port", "{port}", "--host", "127.0.0.1", "--asgi"], "hello",
           flask=True),
    Config("func-python", "func-python (hypercorn, raw ASGI)", "func", "func-python", ["serve_hello.py"], "hello",
           env={"LISTEN_ADDRESS": "127.0.0.1:{port}"}),
    Config("uvicorn", "raw ASGI on uvicorn", "raw", "raw",
           ["-m", "uvicorn", "app:app", "--port", "{port}", "--loop", "uvloop", "--http", "httptools", "--no-access-log",
            "--log-level", "warning"], "hello"),
    Config("granian", "raw ASGI on granian", "raw", "raw",
           ["-m", "granian", "--interface", "asgi", "--port", "{port}", "--workers", "1", "--log-level", "warning",
            "app:app"], "hello"),
    pyfunc("pyfunc-body", "pyfunc main(body)", "pyfunc-body"),
    pyfunc("pyfunc-async", "pyfunc async main(body)", "pyfunc-async"),
    pyfunc("pyfunc-req", "pyfunc main(req) (Flask request)", "pyfunc-req", flask=True),
    pyfunc("knative", "pyfunc Knative ASGI instance", "knative"),
    pyfunc("handler", "pyfunc handle(logger, request) JSON echo", "handler", script=JSON_LUA),
    pyfunc("pyfunc-ff", "pyfunc Functions Framework hello(request)", "ff-hello", flask=True, args=("--target", "hello")),
    Config("ff-cloudevent", "functions-framework cloudevent", "ff", "ff-cloudevent",
           ["-m", "functions_framework", "--target", "hello", "--signature-type", "cloudevent", "--port", "{port}",
            "--host", "127.0.0.1"], "cloudevent", CLOUDEVENT_LUA),
    pyfunc("pyfunc-cloudevent", "pyfunc CloudEvent in/out (binary)", "pyfunc-cloudevent", "cloudevent", CLOUDEVENT_LUA),
    Config("ff-mib", "functions-framework 1 MiB POST", "ff", "ff-body",
           ["-m", "functions_framework", "--target", "hello", "--port", "{port}", "--host", "127.0.0.1"], "mib", MIB_LUA),
    pyfunc("pyfunc-mib", "pyfunc 1 MiB POST main(body)", "pyfunc-len", "mib", MIB_LUA),
    Config("ff-sleep", "functions-framework sync sleep 50 ms", "ff", "ff-sleep",
           ["-m", "functions_framework", "--target", "hello", "--port", "{port}", "--host", "127.0.0.1"], "sleep"),
    pyfunc("pyfunc-sleep", "pyfunc sync sleep 50 ms", "pyfunc-sleep", "sleep"),
    pyfunc("pyfunc-cpu", "pyfunc CPU-bound 2 ms, 1 worker process", "pyfunc-cpu", "cpu"),
    pyfunc("pyfunc-cpu-workers", f"pyfunc CPU-bound 2 ms, {WORKERS} worker processes", "pyfunc-cpu", "cpu",
           workers=WORKERS),
    pyfunc("pyfunc-body-workers", f"pyfunc main(body), {WORKERS} worker processes", "pyfunc-body", workers=WORKERS),
]

#: (goal text, measured value → ratio, reference, limit, comparison) checked after the run.
NO_FLASK_HELLO = ("pyfunc-body", "pyfunc-async", "knative", "handler")
FLASK_HELLO = ("pyfunc-req", "pyfunc-ff")


def prepare(root: Path, venvs: tuple[str, ...] = tuple(ENVIRONMENTS)) -> None:
    for venv in venvs:
        requirements = ENVIRONMENTS[venv]
        python = BENCH / venv / "bin" / "python"
        marker = BENCH / venv / ".installed"
        stamp = "\n".join(requirements + [_digest(Path(r)) for r in requirements if r.endswith(".whl")])
        if marker.is_file() and marker.read_text() == stamp:
            continue
        print(f"installing the {venv} comparison environment: {' '.join(requirements)}", flush=True)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(BENCH / venv)], check=True)
        target = ["--target", str(PYFUNC_PACKAGES)] if venv == "pyfunc" else []
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *target,
                        *requirements], check=True)
        marker.write_text(stamp)
    for name, files in FUNCTIONS.items():
        for relative, source in files.items():
            path = root / name / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(source))


def _digest(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


class Server:
    def __init__(self, config: Config, root: Path) -> None:
        self.port = cnb_host.free_port()
        args = [a.replace("{port}", str(self.port)) for a in config.args]
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        env.update({k: v.replace("{port}", str(self.port)) for k, v in config.env.items()})
        self.started = time.perf_counter()
        self.process = subprocess.Popen([str(config.python()), *args], cwd=root / config.function, env=env,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)

    def wait(self, timeout: float = 30, path: str = "/", any_status: bool = False) -> float:
        """Seconds from spawn to the first 200 on ``path`` (or any answer)."""
        import http.client

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited {self.process.returncode}")
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                connection.request("GET", path)
                status = connection.getresponse().status
                if status == 200 or any_status:
                    return time.perf_counter() - self.started
            except OSError:
                time.sleep(0.005)
        raise RuntimeError("server did not answer")

    def memory(self) -> tuple[float, float]:
        """(RSS, PSS) in MiB summed over the server and its child processes."""
        rss = pss = 0
        for pid in _tree(self.process.pid):
            try:
                for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1])
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1])
            except OSError:
                pass
        return rss / 1024, pss / 1024

    def stop(self) -> None:
        for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, None)):
            try:
                os.killpg(self.process.pid, sig)
                self.process.wait(wait)
                return
            except ProcessLookupError:
                self.process.wait()
                return
            except subprocess.TimeoutExpired:
                continue


def _tree(pid: int) -> list[int]:
    pids = [pid]
    for child in Path("/proc").glob("[0-9]*"):
        try:
            if int(Path(child, "stat").read_text().split(") ", 1)[1].split()[1]) in pids:
                pids.append(int(child.name))
        except (OSError, IndexError, ValueError):
            pass
    return pids


def wrk(url: str, seconds: int, connections: int, script: Path | None, prefix: tuple[str, ...] = ()) -> dict[str, float]:
    command = [*prefix, "wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", *(["-s", str(script)] if script else []), url]
    out = subprocess.run(command, capture_output=True, text=True, check=True, timeout=seconds + 60).stdout
    result = {"req_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
              "requests": int(re.search(r"(\d+) requests in", out).group(1))}
    for label, key in (("50%", "p50_ms"), ("99%", "p99_ms")):
        value, unit = re.search(rf"{label}\s+([\d.]+)(us|ms|s)", out).groups()
        result[key] = float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    result["errors"] = (sum(map(int, errors.groups())) if errors else 0) + (int(non2xx.group(1)) if non2xx else 0)
    return result


def measure(config: Config, root: Path, args: argparse.Namespace) -> dict[str, object]:
    script = None
    if config.script:
        script = root / f"{config.name}.lua"
        script.write_text(config.script)
    cold = cold_starts([config], root, args.cold_starts)[0] if config.case == "hello" else None
    server = Server(config, root)
    try:
        server.wait(any_status=True)
        idle_rss, _ = server.memory()
        url = f"http://127.0.0.1:{server.port}/"
        wrk(url, args.warmup, args.connections, script)
        passes = [wrk(url, args.seconds, args.connections, script) for _ in range(args.passes)]
        rss, pss = server.memory()
    finally:
        server.stop()
    result: dict[str, object] = {key: statistics.median(p[key] for p in passes) for key in passes[0]}
    result.update(passes=[p["req_per_s"] for p in passes], idle_rss=idle_rss, rss=rss, pss=pss,
                  cold_ms=cold)
    return result


def cold_starts(configs: list[Config], root: Path, runs: int) -> list[float]:
    """Median ms from spawn to the first 200 of each configuration, spawned in turn ``runs``
    times, so that the machine's changing load falls on all of them alike."""
    times: list[list[float]] = [[] for _ in configs]
    for attempt in range(runs + 1):  # the first round warms the page cache; it is not counted
        for config, seen in zip(configs, times):
            server = Server(config, root)
            try:
                elapsed = server.wait() * 1000
            finally:
                server.stop()
            if attempt:
                seen.append(elapsed)
    return [statistics.median(t) for t in times]


def h2load(url: str, seconds: int, connections: int, script: None, prefix: tuple[str, ...] = ()) -> dict[str, float]:
    """``h2load`` (nghttp2) with HTTP/2 prior knowledge, one stream at a time per connection like
    wrk: req/s from its summary, p50/p99 from its per-request log (µs), errors = failed + 4xx + 5xx."""
    with tempfile.NamedTemporaryFile(prefix="h2load-", suffix=".log") as log:
        command = [*prefix, "h2load", "-t2", f"-c{connections}", "-m1", f"-D{seconds}", f"--log-file={log.name}", url]
        out = subprocess.run(command, capture_output=True, text=True, check=True, timeout=seconds + 60).stdout
        durations = sorted(int(line.split("\t")[2]) / 1000 for line in Path(log.name).read_text().splitlines() if line)
    counts = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed", out)
    statuses = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
    if not durations or counts is None or statuses is None:
        raise RuntimeError(f"h2load answered nothing usable from {url}:\n{out}")
    return {"req_per_s": float(re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", out).group(1)),
            "requests": int(counts.group(3)), "p50_ms": durations[len(durations) // 2],
            "p99_ms": durations[min(len(durations) - 1, int(len(durations) * 0.99))],
            "errors": int(counts.group(5)) + int(statuses.group(3)) + int(statuses.group(4))}


def queue_proxy(root: Path, args: argparse.Namespace) -> dict[str, dict] | None:
    """pyfunc main(body) straight to the invoker and through Knative's queue-proxy
    (containerConcurrency 0), in a network namespace (tests/knative_pod.py, as the tests run it):
    HTTP/1.1 with wrk through queue-proxy's port 8012, HTTP/2 cleartext (prior knowledge) with
    h2load through its port 8013 (a container port named h2c; queue-proxy then speaks h2c to the
    invoker); None without root or without .tools/bin/queue (make queue-proxy)."""
    sys.path.insert(0, str(ROOT / "tests"))
    import knative_pod

    if knative_pod.problem() or not knative_pod.QUEUE.exists():
        print(f"skipping queue-proxy: {knative_pod.problem() or 'make queue-proxy first'}", flush=True)
        return None
    results = {}
    pods = ((knative_pod.QUEUE_PORT, wrk, "HTTP/1.1"), (knative_pod.H2C_QUEUE_PORT, h2load, "h2c"))
    for queue_port, tool, protocol in pods:
        logs = root / f"queue-proxy-logs-{queue_port}"
        logs.mkdir(exist_ok=True)
        pod = knative_pod.Pod(root / "pyfunc-body", logs, python=str(BENCH / "pyfunc" / "bin" / "python"),
                              env={"PYTHONPATH": str(PYFUNC_PACKAGES)}, queue_port=queue_port)
        try:
            pod.start()
            prefix = ("nsenter", f"--net={pod.ns.path}", "--")
            for name, port in ((f"{protocol} direct", knative_pod.USER_PORT),
                               (f"{protocol} through queue-proxy (:{queue_port})", queue_port)):
                url = f"http://127.0.0.1:{port}/"
                tool(url, args.warmup, args.connections, None, prefix)
                passes = [tool(url, args.seconds, args.connections, None, prefix) for _ in range(args.passes)]
                results[name] = {key: statistics.median(p[key] for p in passes) for key in passes[0]}
                r = results[name]
                print(f"  {name}: {r['req_per_s']:.0f} req/s, p99 {r['p99_ms']:.1f} ms, errors {r['errors']:.0f}",
                      flush=True)
        finally:
            pod.close()
    return results


def soak(root: Path, seconds: int, connections: int) -> dict[str, object]:
    config = pyfunc("soak", "pyfunc main(body)", "pyfunc-body")
    server = Server(config, root)
    samples: list[float] = []
    done = threading.Event()

    def sample() -> None:
        while not done.wait(1.0):
            samples.append(server.memory()[0])

    try:
        server.wait()
        url = f"http://127.0.0.1:{server.port}/"
        wrk(url, 3, connections, None)
        sampler = threading.Thread(target=sample)
        sampler.start()
        result = wrk(url, seconds, connections, None)
        done.set()
        sampler.join()
    finally:
        server.stop()
    first, last = statistics.mean(samples[:10]), statistics.mean(samples[-10:])
    return {**result, "rss_first": first, "rss_last": last, "growth": last / first - 1, "seconds": seconds,
            "connections": connections}


def buildpack_times(runs: int = 21) -> dict[str, object]:
    """Detect wall time on samples/http (python3 path), first build and cached rebuild of samples/with-deps."""
    detect = cnb_host.BUILDPACK / "bin" / "detect"
    if not Path("/usr/bin/python3").is_file():
        return {"detect_ms": float("nan"), "build": "no /usr/bin/python3"}
    # The build image's python3 (Debian's here), not a version-manager shim that starts a shell.
    env = {"PATH": "/usr/bin:/bin", "CNB_PLATFORM_DIR": "/nonexistent"}
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([str(detect)], cwd=ROOT / "samples" / "http", env=env, capture_output=True, check=True)
        times.append((time.perf_counter() - start) * 1000)
    result: dict[str, object] = {"detect_ms": statistics.median(times)}
    if cnb_host.missing():
        return {**result, "build": cnb_host.missing()}
    workspace_root = Path(tempfile.mkdtemp(prefix="pyfunc-bench-build-"))
    try:
        workspace = cnb_host.Workspace(workspace_root, ROOT / "samples" / "with-deps")
        start = time.perf_counter()
        first = workspace.detect_and_build()
        result["first_build_s"] = time.perf_counter() - start
        start = time.perf_counter()
        again = workspace.detect_and_build()
        result["rebuild_s"] = time.perf_counter() - start
        result["rebuild_skipped_pip"] = first.returncode == 0 and again.returncode == 0 and all(
            f"Reusing cached layer {workspace.layers / 'pyfunc_python-function' / layer}" in again.stdout
            for layer in ("invoker", "dependencies"))
    finally:
        shutil.rmtree(workspace_root, ignore_errors=True)
    return result


def targets(results: dict[str, dict], build: dict[str, object]) -> list[tuple[str, str, str, bool]]:
    """(target, goal, measured, met) rows."""
    rows = []
    ff, uvi = results.get("ff"), results.get("uvicorn")

    def ratio(name: str, base: dict | None, key: str = "req_per_s") -> float | None:
        return results[name][key] / base[key] if name in results and base and base.get(key) else None

    for name in NO_FLASK_HELLO:
        r_ff, r_raw = ratio(name, ff), ratio(name, uvi)
        if r_ff is not None:
            rows.append((f"{name} req/s vs functions-framework", "≥ 10×", f"{r_ff:.1f}×", r_ff >= 10))
        if r_raw is not None:
            rows.append((f"{name} req/s vs raw ASGI on uvicorn", "≥ 0.6×", f"{r_raw:.2f}×", r_raw >= 0.6))
        if name in results and ff:
            p99 = results[name]["p99_ms"]
            rows.append((f"{name} p99 vs functions-framework", f"≤ {ff['p99_ms']:.1f} ms", f"{p99:.1f} ms",
                         p99 <= ff["p99_ms"]))
    for name in FLASK_HELLO:
        r_ff = ratio(name, ff)
        if r_ff is not None:
            rows.append((f"{name} req/s vs functions-framework", "≥ 4×", f"{r_ff:.1f}×", r_ff >= 4))
    r_ce = ratio("pyfunc-cloudevent", results.get("ff-cloudevent"))
    if r_ce is not None:
        rows.append(("CloudEvent in/out req/s vs functions-framework cloudevent", "≥ 8×", f"{r_ce:.1f}×", r_ce >= 8))
    for name in (*NO_FLASK_HELLO[:3], *FLASK_HELLO):
        cold = ratio(name, ff, "cold_ms")
        if cold is not None:
            goal = 1.0 if name in FLASK_HELLO else 0.6
            rows.append((f"{name} cold start vs functions-framework", f"≤ {goal}×", f"{cold:.2f}×", cold <= goal))
    r_cpu = ratio("pyfunc-cpu-workers", results.get("pyfunc-cpu"))
    if r_cpu is not None:
        rows.append((f"CPU-bound req/s, {WORKERS} worker processes vs 1", "≥ 1.3×", f"{r_cpu:.2f}×", r_cpu >= 1.3))
    r_cold = results.get("pyfunc-body-workers", {}).get("cold_vs_one")
    if r_cold is not None:
        rows.append((f"cold start, {WORKERS} worker processes vs 1 (fork after import; spawned in turn)", "≤ 1.15×",
                     f"{r_cold:.2f}×", r_cold <= 1.15))
    for name in NO_FLASK_HELLO[:1]:
        if name in results and ff:
            rows.append(("idle RSS vs functions-framework", f"≤ {ff['idle_rss']:.0f} MiB",
                         f"{results[name]['idle_rss']:.0f} MiB", results[name]["idle_rss"] <= ff["idle_rss"]))
    if "detect_ms" in build:
        rows.append(("detect median wall (samples/http, func.yaml)", "≤ 60 ms", f"{build['detect_ms']:.0f} ms",
                     build["detect_ms"] <= 60))
    if "rebuild_skipped_pip" in build:
        rows.append(("cached rebuild skips pip", "yes", "yes" if build["rebuild_skipped_pip"] else "no",
                     bool(build["rebuild_skipped_pip"])))
    return rows


def chart(results: dict[str, dict], path: Path) -> None:
    data = {"labels": [c.label for c in CONFIGS if c.name in results],
            "rps": [results[c.name]["req_per_s"] for c in CONFIGS if c.name in results],
            "cold": [(c.label, results[c.name]["cold_ms"]) for c in CONFIGS if results.get(c.name, {}).get("cold_ms")]}
    code = textwrap.dedent("""
        import json, sys
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        data = json.loads(sys.argv[1])
        fig, (a, b) = plt.subplots(1, 2, figsize=(15, 7), gridspec_kw={"width_ratios": [3, 2]})
        a.barh(data["labels"], data["rps"], color="#3b7dd8"); a.invert_yaxis(); a.set_xlabel("requests/s (median of passes)")
        a.set_title("Throughput, one run, same machine")
        names = [c[0] for c in data["cold"]]; values = [c[1] for c in data["cold"]]
        b.barh(names, values, color="#d8843b"); b.invert_yaxis(); b.set_xlabel("ms, spawn to first 200 (median of 5)")
        b.set_title("Cold start")
        fig.tight_layout(); fig.savefig(sys.argv[2], dpi=90)
    """)
    subprocess.run([str(BENCH / "raw" / "bin" / "python"), "-c", code, json.dumps(data), str(path)], check=True)


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return f"{os.cpu_count()} CPUs ({cpu}), {platform.system()} {platform.release()}, Python {platform.python_version()}"


def versions() -> str:
    lines = []
    names = {"pyfunc": ["pyfunc", "uvicorn", "uvloop", "httptools", "cloudevents", "flask"]}
    for venv, requirements in ENVIRONMENTS.items():
        python = BENCH / venv / "bin" / "python"
        requirements = names.get(venv) or [r.split("==")[0] for r in requirements]
        code = "import sys; sys.path.insert(0, sys.argv.pop(1)); from importlib.metadata import version; print(', '.join(f'{n} {version(n)}' for n in sys.argv[1:]))"
        out = subprocess.run([str(python), "-c", code, str(PYFUNC_PACKAGES), *requirements], capture_output=True,
                             text=True).stdout.strip()
        lines.append(f"- {venv}: {out}")
    return "\n".join(lines)


QUEUE_PROXY_HEADING = "## Behind Knative's queue-proxy"


def proxied_section(proxied: dict[str, dict], args: argparse.Namespace) -> str:
    """The "Behind Knative's queue-proxy" section: a leading and a trailing newline."""
    lines = [f"| {name} | {r['req_per_s']:.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['errors']:.0f} |"
             for name, r in proxied.items()]
    command = " ".join(["python", "tools/bench.py", *sys.argv[1:]])
    return f"""
{QUEUE_PROXY_HEADING}

pyfunc `def main(body)` hello in its own network namespace, measured straight on the invoker's
port and through queue-proxy v0.50.0 (containerConcurrency 0). Written on
{datetime.date.today().isoformat()} by `{command}`; load: {args.connections} connections,
{args.warmup} s warm-up, then {args.passes} passes of {args.seconds} s each (median reported), on a machine whose
1-minute load average was {os.getloadavg()[0]:.1f} at the end of the run.

- HTTP/1.1: `wrk -t2 -c{args.connections} -d{args.seconds}s --latency`, through queue-proxy's port 8012.
- h2c (HTTP/2 cleartext, prior knowledge): `h2load -t2 -c{args.connections} -m1 -D{args.seconds}` (nghttp2's;
  one stream at a time per connection, like wrk; p50/p99 from its per-request log), through
  port 8013, which Knative uses for a container port named `h2c`; queue-proxy then speaks h2c
  to the invoker (pyfunc.h2c: the h2 library's pure-Python framing, slower than httptools'
  HTTP/1.1 parser).

queue-proxy, the invoker and the load generator share the machine's cores: compare rows of one
run, not absolute numbers.

| path | req/s | p50 ms | p99 ms | errors |
|---|---|---|---|---|
{chr(10).join(lines)}
"""


def splice(document: str, section: str) -> str:
    """``document`` with its queue-proxy section replaced by ``section`` (inserted before
    "## What limits it" when absent): what ``--only queue-proxy`` writes, leaving the rest."""
    start = document.find("\n" + QUEUE_PROXY_HEADING)
    if start < 0:
        start = end = document.find("\n## What limits it")
        if start < 0:
            start = end = len(document)
    else:
        following = document.find("\n## ", start + 1)
        end = following if following >= 0 else len(document)
    return document[:start] + section + document[end:]


def report(results, build, soaked, rows, args, command, proxied=None) -> str:
    ff = results.get("ff", {})
    table = ["| configuration | req/s (passes) | ratio to ff default | p50 ms | p99 ms | errors | RSS idle / after MiB | PSS MiB | cold start ms |",
             "|---|---|---|---|---|---|---|---|---|"]
    for config in CONFIGS:
        r = results.get(config.name)
        if not r:
            continue
        ratio = f"{r['req_per_s'] / ff['req_per_s']:.1f}×" if ff.get("req_per_s") else "—"
        cold = f"{r['cold_ms']:.0f}" if r.get("cold_ms") else "—"
        table.append(f"| {config.label} | {r['req_per_s']:.0f} ({' / '.join(f'{p:.0f}' for p in r['passes'])}) | {ratio} | "
                     f"{r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['errors']:.0f} | {r['idle_rss']:.0f} / {r['rss']:.0f} | "
                     f"{r['pss']:.0f} | {cold} |")
    goals = ["| target | goal | measured | met |", "|---|---|---|---|"]
    goals += [f"| {name} | {goal} | {measured} | {'yes' if met else '**no**'} |" for name, goal, measured, met in rows]
    unmet = [name for name, _, _, met in rows if not met]
    build_rows = [f"- detect (python3 path), median of 21: {build['detect_ms']:.0f} ms"]
    if "first_build_s" in build:
        build_rows += [f"- first build of samples/with-deps through the lifecycle (venv, invoker, dependencies): "
                       f"{build['first_build_s']:.1f} s",
                       f"- cached rebuild of the same app: {build['rebuild_s']:.1f} s "
                       f"(pip skipped: {'yes' if build['rebuild_skipped_pip'] else 'no'})"]
    soak_text = ""
    if soaked:
        verdict = "met" if soaked["errors"] == 0 and soaked["growth"] < 0.10 else "**not met**"
        soak_text = f"""
## Soak (hardening issue: zero errors, resident memory growth under 10%)

pyfunc `def main(body)` under `wrk -t2 -c{soaked['connections']} -d{soaked['seconds']}s` after a 3 s warm-up; RSS sampled every second.

| requests | req/s | p99 ms | errors | RSS first 10 s | RSS last 10 s | growth | goal |
|---|---|---|---|---|---|---|---|
| {soaked['requests']} | {soaked['req_per_s']:.0f} | {soaked['p99_ms']:.2f} | {soaked['errors']} | {soaked['rss_first']:.1f} MiB | {soaked['rss_last']:.1f} MiB | {soaked['growth']:+.1%} | {verdict} |
"""
    proxied_text = proxied_section(proxied, args) if proxied else ""
    return f"""# Benchmarks

Written by `make bench` on {datetime.date.today().isoformat()}: `{command}`.
Machine: {machine()}. The load generator (wrk, Debian's package) shares the machine: compare
ratios from this one run, not absolute numbers across runs.

Versions:
{versions()}

Method: each configuration in turn on loopback; {args.warmup} s warm-up, then
`wrk -t2 -c{args.connections} -d{args.seconds}s --latency` × {args.passes}, median reported; cold start is
spawn → first 200 on `GET /`, median of {args.cold_starts}; memory summed over the server's processes.
Cases: hello per style; CloudEvent binary mode in and out; a 1 MiB POST; a sync function
sleeping 50 ms (how many requests it keeps in flight); a CPU-bound function (≈ 2 ms of pure
Python a request) in 1 and {WORKERS} worker processes, and hello's cold start in {WORKERS}.

![throughput and cold start](benchmarks.png)

## Throughput, latency, memory, cold start

{chr(10).join(table)}

## Targets (performance issue)

{chr(10).join(goals)}

{"Every target is met." if not unmet else "Not met: " + ", ".join(unmet) + ". See 'What limits it' below."}

## Buildpack

{chr(10).join(build_rows)}
{soak_text}{proxied_text}
## What limits it

Evidence from `python -X importtime -m pyfunc start` and cProfile of the request path
(in-process, 5 000 requests), 2026-11-21:

- **Cold start** (pyfunc ≈ 0.6× functions-framework, on the goal's edge): pyfunc starts as fast
  as uvicorn's own CLI serving a raw ASGI hello (same table). The floor is the interpreter
  (~15 ms), `import uvicorn` (~25 ms: it pulls click, ssl and logging.config), asyncio
  (~14 ms), uvloop and httptools (~4 ms); pyfunc's own modules take ~8 ms. Flask is imported
  only for styles that need it, and a `req` parameter gets Werkzeug's request unless the
  function imported Flask itself (-35 ms).
- **Sync functions** (main(body), handler, CloudEvent, Functions Framework) pay one thread
  hand-off per request, because a plain `def` may block and never runs on the event loop:
  a queue put and a `call_soon_threadsafe` back (pyfunc.runner, about half of what
  `run_in_executor` costs: sync hello went from 0.53× to 0.68× of raw uvicorn). The same
  functions written `async def` skip it (async main(body) ≈ 0.9× raw uvicorn).
- **CloudEvents**: binary mode is mapped into the SDK's CloudEvent in ~20 µs instead of the
  SDK's `from_http` + `to_binary` (~150 µs); with the thread hand-off of a sync function that
  is ~6× functions-framework, below the 8× goal. An `async def` CloudEvent function avoids the
  hand-off.
- **handler template JSON echo**: JSON decode and encode plus the hand-off of a sync `handle`.
- **Functions Framework style**: a real Flask dispatch per request (so `flask.abort`,
  `jsonify` and `flask.request` behave as in functions-framework), ~45 µs of Flask plus the
  hand-off: ≈ 4× functions-framework's own server.
- One process, one event loop by default (one worker process without a CPU quota): a
  CPU-bound function gains throughput only from more worker processes (`WEB_CONCURRENCY`,
  the CPU-bound rows); on this 2-core machine wrk takes part of a core.
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--passes", type=int, default=2)
    parser.add_argument("--cold-starts", type=int, default=5)
    parser.add_argument("--soak-seconds", type=int, default=60)
    parser.add_argument("--only", nargs="*", help="configuration names to run (default: all)")
    parser.add_argument("--out", default=str(ROOT / "BENCHMARKS.md"))
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("make bench needs wrk (apt-get install wrk)")
    if not shutil.which("h2load") and (not args.only or "queue-proxy" in args.only):
        sys.exit("make bench needs h2load for HTTP/2 through queue-proxy (apt-get install nghttp2-client)")
    if not list(WHEELS.glob("pyfunc-*.whl")):
        sys.exit("make bench needs the assembled buildpack: make buildpack")
    with tempfile.TemporaryDirectory(prefix="pyfunc-bench-") as tmp:
        root = Path(tmp)
        prepare(root, ("pyfunc",) if args.only == ["queue-proxy"] else tuple(ENVIRONMENTS))
        results = {}
        for config in CONFIGS:
            if args.only and config.name not in args.only:
                continue
            print(f"{config.label} ...", flush=True)
            results[config.name] = measure(config, root, args)
            r = results[config.name]
            print(f"  {r['req_per_s']:.0f} req/s, p99 {r['p99_ms']:.1f} ms, errors {r['errors']:.0f}, "
                  f"cold {r['cold_ms'] or 0:.0f} ms, RSS {r['rss']:.0f} MiB", flush=True)
        if "pyfunc-body" in results and "pyfunc-body-workers" in results:  # side by side: 1 vs N workers
            named = {c.name: c for c in CONFIGS}
            one, many = cold_starts([named["pyfunc-body"], named["pyfunc-body-workers"]], root, args.cold_starts)
            results["pyfunc-body-workers"]["cold_vs_one"] = many / one
            print(f"cold start in turn: 1 worker {one:.0f} ms, {WORKERS} workers {many:.0f} ms", flush=True)
        if args.only == ["queue-proxy"]:  # only that section changes; the rest of the file stays
            proxied = queue_proxy(root, args)
            out = Path(args.out)
            if proxied:
                out.write_text(splice(out.read_text() if out.exists() else "# Benchmarks\n",
                                      proxied_section(proxied, args)))
                print(proxied_section(proxied, args))
            return 0 if proxied else 1
        build = buildpack_times()
        print(f"buildpack: {build}", flush=True)
        soaked = soak(root, args.soak_seconds, 64) if args.soak_seconds else None
        proxied = queue_proxy(root, args) if not args.only or "queue-proxy" in args.only else None
    rows = targets(results, build)
    out = Path(args.out)
    chart(results, out.parent / "benchmarks.png")
    command = "python tools/bench.py " + " ".join(sys.argv[1:])
    out.write_text(report(results, build, soaked, rows, args, command.strip(), proxied))
    print(out.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
