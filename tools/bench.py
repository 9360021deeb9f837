"""``make bench``: measurements that do not belong in the tests, written to BENCHMARKS.md.

    python tools/bench.py [--soak-seconds 60] [--connections 64] [--out BENCHMARKS.md]

Now: the soak run (hardening issue) — a bounded wrk load on loopback against the invoker,
resident memory sampled every second, errors counted. Loopback only; every run stops by itself.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cnb_host  # noqa: E402

ROOT = cnb_host.ROOT
HELLO = "def main(body):\n    return 'Hello world!'\n"


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def wrk(url: str, seconds: int, connections: int) -> dict[str, float]:
    """Run wrk; return req/s, p50/p99 ms, requests and errors (socket errors + non-2xx)."""
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url],
                         capture_output=True, text=True, check=True, timeout=seconds + 60).stdout
    result = {"req_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
              "requests": int(re.search(r"(\d+) requests in", out).group(1)), "errors": 0}
    for label, key in (("50%", "p50_ms"), ("99%", "p99_ms")):
        value, unit = re.search(rf"{label}\s+([\d.]+)(us|ms|s)", out).groups()
        result[key] = float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    result["errors"] = sum(map(int, errors.groups())) if errors else 0
    result["errors"] += int(non2xx.group(1)) if non2xx else 0
    return result


def soak(seconds: int, connections: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as app:
        Path(app, "func.py").write_text(HELLO)
        port = cnb_host.free_port()
        env = {**os.environ, "LISTEN_ADDRESS": f"127.0.0.1:{port}"}
        server = subprocess.Popen([sys.executable, "-m", "pyfunc", "start", "-s", app], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            cnb_host.wait_for(port, server)
            url = f"http://127.0.0.1:{port}/"
            wrk(url, 3, connections)  # warm-up
            samples: list[int] = []
            done = threading.Event()

            def sample() -> None:
                while not done.wait(1.0):
                    samples.append(rss_kib(server.pid))

            sampler = threading.Thread(target=sample)
            sampler.start()
            result = wrk(url, seconds, connections)
            done.set()
            sampler.join()
        finally:
            server.terminate()
            server.wait(30)
    first, last = samples[:10], samples[-10:]
    growth = (sum(last) / len(last)) / (sum(first) / len(first)) - 1
    return {**result, "rss_first_mib": sum(first) / len(first) / 1024, "rss_last_mib": sum(last) / len(last) / 1024,
            "rss_growth": growth, "seconds": seconds, "connections": connections}


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return f"{os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}, {platform.system()} {platform.release()}"


def versions() -> str:
    from importlib.metadata import version

    return ", ".join(f"{name} {version(name)}" for name in ("pyfunc", "uvicorn", "httptools", "uvloop", "cloudevents", "flask"))


def report(soaked: dict[str, object], command: str) -> str:
    verdict = "met" if soaked["errors"] == 0 and soaked["rss_growth"] < 0.10 else "NOT met"
    return f"""# Benchmarks

Written by `make bench` ({command}) on {datetime.date.today().isoformat()}.
Machine: {machine()}. Versions: {versions()}.
Load: wrk from Debian's packages, loopback only, bounded in time.

## Soak (hardening issue: zero errors, resident memory growth under 10%)

pyfunc serving `def main(body): return 'Hello world!'` under `wrk -t2 -c{soaked['connections']} -d{soaked['seconds']}s`
after a 3 s warm-up; resident memory (VmRSS of the server process) sampled every second.

| requests | req/s | p50 ms | p99 ms | errors | RSS first 10 s | RSS last 10 s | growth | goal |
|---|---|---|---|---|---|---|---|---|
| {soaked['requests']} | {soaked['req_per_s']:.0f} | {soaked['p50_ms']:.2f} | {soaked['p99_ms']:.2f} | {soaked['errors']} | {soaked['rss_first_mib']:.1f} MiB | {soaked['rss_last_mib']:.1f} MiB | {soaked['rss_growth']:+.1%} | 0 errors, < 10%: {verdict} |
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--soak-seconds", type=int, default=60)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--out", default=str(ROOT / "BENCHMARKS.md"))
    args = parser.parse_args()
    print(f"soak: {args.soak_seconds}s, {args.connections} connections, loopback", flush=True)
    soaked = soak(args.soak_seconds, args.connections)
    command = f"python tools/bench.py --soak-seconds {args.soak_seconds} --connections {args.connections}"
    Path(args.out).write_text(report(soaked, command))
    print(Path(args.out).read_text())
    return 0 if soaked["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
