"""Interleaved A/B throughput of invoker builds on the hello cases (BENCHMARKS.md, "Hot path").

    python tools/hotpath.py --variant old=PYTHON:INVOKER_DIR --variant new=PYTHON:INVOKER_DIR
                            [--case body --case async ...] [--rounds 5] [--seconds 5] [--warmup 2]

A *variant* is an interpreter and a directory put first on ``PYTHONPATH`` (one holding the
``pyfunc`` package: e.g. ``git archive <commit> invoker`` unpacked under /tmp), so two builds
of the invoker run with the same dependencies. Every server (case × variant, plus the
anchors named with ``--anchor NAME=PYTHON``: raw ASGI on uvicorn, functions-framework) is
started once and kept running; then each round runs one ``wrk -t2 -c50 -dS --latency`` pass
per server, cases in turn and the variants of a case back to back (A B A B ..., the order
reversed every other round), so drift in the machine's load hits every variant alike. Printed:
per server the median req/s, p99 and server CPU time per request (user + system of the server
process over the pass, from /proc: far less sensitive to other load than req/s), every pass,
and each variant's ratios to the first variant (per round, then the median). Loopback only;
single worker process (``WEB_CONCURRENCY=1``), as ``make bench`` runs pyfunc. Not part of
``make bench``: a tool for before/after comparisons of invoker changes.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.error
import urllib.request
from pathlib import Path

from bench.cases import CLOUDEVENT_LUA, HELLO_ASGI, JSON_LUA  # make bench's (tools/ is sys.path[0])



#: Case → (files of the function directory, extra ``pyfunc start`` arguments, wrk script). The
#: same functions as make bench's hello cases.
CASES = {
    "body": ({"func.py": "def main(body):\n    return 'Hello world!'\n"}, [], None),
    "async": ({"func.py": "async def main(body):\n    return 'Hello world!'\n"}, [], None),
    "knative": ({"function/__init__.py": "class Hello:\n" + textwrap.indent(HELLO_ASGI.replace(
        "async def app(scope", "async def handle(self, scope"), "    ") + "\nnew = Hello\n"}, [], None),
    "handler": ({"function/__init__.py": "", "function/handler.py": "def handle(logger, request):\n    return request\n"},
                [], JSON_LUA),
    "req": ({"func.py": "def main(req):\n    return 'Hello world!'\n"}, [], None),
    "ff": ({"main.py": "def hello(request):\n    return 'Hello world!'\n"}, ["--target", "hello"], None),
    "cloudevent": ({"func.py": "def main(data, attributes):\n"
                    "    return {'type': 'dev.bench.reply', 'source': '/bench'}, data\n"}, [], CLOUDEVENT_LUA),
}

#: Anchor → (files, command after the interpreter with {port}, wrk script).
ANCHORS = {
    "uvicorn": ({"app.py": HELLO_ASGI}, ["-m", "uvicorn", "app:app", "--port", "{port}", "--loop", "uvloop", "--http",
                                         "httptools", "--no-access-log", "--log-level", "warning"], None),
    "granian": ({"app.py": HELLO_ASGI}, ["-m", "granian", "--interface", "asgi", "--port", "{port}", "--workers", "1",
                                         "--log-level", "warning", "app:app"], None),
    "granian-wsgi": ({"wsgi.py": "def app(environ, start_response):\n"
                                 "    start_response('200 OK', [('content-type', 'text/plain')])\n"
                                 "    return [b'Hello world!']\n"},
                     ["-m", "granian", "--interface", "wsgi", "--port", "{port}", "--workers", "1", "--log-level",
                      "warning", "wsgi:app"], None),
    "ff-default": ({"main.py": "def hello(request):\n    return 'Hello world!'\n"},
                   ["-m", "functions_framework", "--target", "hello", "--port", "{port}", "--host", "127.0.0.1"], None),
    "ff-cloudevent": ({"main.py": "def hello(cloud_event):\n    return None\n"},
                      ["-m", "functions_framework", "--target", "hello", "--signature-type", "cloudevent", "--port",
                       "{port}", "--host", "127.0.0.1"], CLOUDEVENT_LUA),
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    def __init__(self, name: str, command: list[str], cwd: Path, env: dict[str, str], script: str | None) -> None:
        self.name, self.script = name, script
        self.port = free_port()
        command = [part.replace("{port}", str(self.port)) for part in command]
        env = {key: value.replace("{port}", str(self.port)) for key, value in env.items()}
        self.process = subprocess.Popen(command, cwd=cwd, env={**os.environ, **env}, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz/ready"
                                            if "pyfunc" in command else f"http://127.0.0.1:{self.port}/", timeout=1):
                    break
            except urllib.error.HTTPError:  # an answer (a CloudEvent server refuses a plain GET)
                break
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise SystemExit(f"{name} did not start: {' '.join(command)}")
                time.sleep(0.05)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (/proc/PID/stat fields 14 and 15)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wrk(server: Server, seconds: float, connections: int, scripts: Path) -> tuple[float, float, int, float]:
    """One pass: req/s, p99 ms, errors (non-2xx and socket errors), server CPU µs per request."""
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds:g}s", "--latency"]
    if server.script:
        path = scripts / f"{abs(hash(server.script))}.lua"
        path.write_text(server.script)
        command += ["-s", str(path)]
    cpu = cpu_seconds(server.process.pid)
    out = subprocess.run(command + [f"http://127.0.0.1:{server.port}/"], capture_output=True, text=True,
                         check=True).stdout
    cpu = cpu_seconds(server.process.pid) - cpu
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    p99_ms = float(p99.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    errors = sum(int(n) for n in re.findall(r"(?:Non-2xx or 3xx responses|connect|read|write|timeout)\s+(\d+)", out))
    return rate, p99_ms, errors, cpu / max(requests, 1) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", action="append", required=True, help="NAME=PYTHON:INVOKER_DIR")
    parser.add_argument("--case", action="append", choices=sorted(CASES), help="default: body async knative handler")
    parser.add_argument("--anchor", action="append", default=[], help="NAME=PYTHON, NAME one of " + ", ".join(ANCHORS))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--json", type=Path, help="also write every pass here")
    args = parser.parse_args()
    variants = []
    for spec in args.variant:
        name, _, rest = spec.partition("=")
        python, _, path = rest.partition(":")
        variants.append((name, python, path))
    cases = args.case or ["body", "async", "knative", "handler"]
    root = Path(tempfile.mkdtemp(prefix="hotpath-"))
    servers: dict[str, list[Server]] = {}  # group (case or anchor) → servers in variant order
    try:
        for case in cases:
            files, extra, script = CASES[case]
            _write(root / case, files)
            servers[case] = [Server(f"{case}/{name}", [python, "-m", "pyfunc", "start", *extra], root / case,
                                    {"PYTHONPATH": path, "LISTEN_ADDRESS": "127.0.0.1:{port}", "WEB_CONCURRENCY": "1"},
                                    script) for name, python, path in variants]
        for spec in args.anchor:
            name, _, python = spec.partition("=")
            files, command, script = ANCHORS[name]
            _write(root / name, files)
            servers[name] = [Server(name, [python, *command], root / name, {}, script)]
        for group in servers.values():
            for server in group:
                wrk(server, args.warmup, args.connections, root)
        passes: dict[str, list[tuple[float, float, int]]] = {s.name: [] for g in servers.values() for s in g}
        for round_ in range(args.rounds):
            for group in servers.values():
                for server in (group if round_ % 2 == 0 else group[::-1]):
                    passes[server.name].append(wrk(server, args.seconds, args.connections, root))
            print(f"round {round_ + 1}/{args.rounds}: " + "  ".join(
                f"{name} {p[-1][0]:.0f}" for name, p in passes.items()), flush=True)
    finally:
        for group in servers.values():
            for server in group:
                server.stop()
    load = os.getloadavg()[0]
    print(f"\n{args.rounds} interleaved rounds of wrk -t2 -c{args.connections} -d{args.seconds:g}s "
          f"(warm-up {args.warmup:g}s); load average at the end {load:.1f}")
    print(f"{'server':20} {'median req/s':>12} {'p99 ms':>7} {'CPU µs/req':>10} {'errors':>6}  req/s of each pass")
    for name, results in passes.items():
        print(f"{name:20} {statistics.median(r[0] for r in results):12.0f} "
              f"{statistics.median(r[1] for r in results):7.2f} {statistics.median(r[3] for r in results):10.1f} "
              f"{sum(r[2] for r in results):6d}  " + " ".join(f"{r[0]:.0f}" for r in results))
    for case in cases:
        base = passes[f"{case}/{variants[0][0]}"]
        for name, _, _ in variants[1:]:
            ratios = [r[0] / b[0] for r, b in zip(passes[f"{case}/{name}"], base)]
            cpu = [r[3] / b[3] for r, b in zip(passes[f"{case}/{name}"], base)]
            print(f"{case}: {name} / {variants[0][0]} req/s {statistics.median(ratios):.3f} "
                  f"(rounds: {' '.join(f'{x:.2f}' for x in ratios)}); CPU per request "
                  f"{statistics.median(cpu):.3f} (rounds: {' '.join(f'{x:.2f}' for x in cpu)})")
    for anchor in ("uvicorn", "granian-wsgi", "ff-default", "ff-cloudevent"):
        if anchor not in passes:
            continue
        for case in cases if anchor != "ff-cloudevent" else [c for c in cases if c == "cloudevent"]:
            for name, _, _ in variants:
                ratios = [r[0] / a[0] for r, a in zip(passes[f"{case}/{name}"], passes[anchor])]
                print(f"{case}/{name} / {anchor} req/s {statistics.median(ratios):.2f} "
                      f"(rounds: {' '.join(f'{x:.2f}' for x in ratios)})")
    if args.json:
        args.json.write_text(json.dumps(passes, indent=1))


def _write(directory: Path, files: dict[str, str]) -> None:
    for relative, source in files.items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)


if __name__ == "__main__":
    sys.exit(main())
