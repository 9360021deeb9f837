"""Load generation: wrk and h2load passes, a configuration's row, the soak and queue-proxy runs."""

from __future__ import annotations


import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from .cases import BENCH, PYFUNC_PACKAGES, ROOT, Config, pyfunc
from .server import Server, cold_starts


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


def measure_all(configs: list[Config], root: Path, args: argparse.Namespace) -> dict[str, dict[str, object]]:
    """Every configuration's row: ``args.passes`` rounds, each measuring every configuration once,
    in order, on a fresh server (``measure_pass``); each value is the median of its passes.

    Rounds, not one configuration's passes back to back: the machine's speed drifts during a
    run (a third within minutes on the shared 2-CPU machines: tools/bench/hot-path-notes.md), so
    both sides of every ratio are measured in every part of the run, not one at its start and
    the other minutes later."""
    passes: dict[str, list[dict[str, float]]] = {config.name: [] for config in configs}
    for round_ in range(1, args.passes + 1):
        for config in configs:
            print(f"{config.label} (pass {round_} of {args.passes}) ...", flush=True)
            p = measure_pass(config, root, args)
            passes[config.name].append(p)
            print(f"  {p['req_per_s']:.0f} req/s, p99 {p['p99_ms']:.1f} ms, errors {p['errors']:.0f}, "
                  f"RSS {p['rss']:.0f} MiB", flush=True)
    return {name: combined(runs) for name, runs in passes.items()}


def combined(passes: list[dict[str, float]]) -> dict[str, object]:
    """One configuration's row: the median of each value over its passes, and ``passes``, the
    req/s of each pass in the order run."""
    result: dict[str, object] = {key: statistics.median(p[key] for p in passes) for key in passes[0]}
    result.update(passes=[p["req_per_s"] for p in passes], cold_ms=None)
    return result


def measure_pass(config: Config, root: Path, args: argparse.Namespace) -> dict[str, float]:
    """One pass of ``config``: a fresh server, ``args.warmup`` s of load, then ``args.seconds`` s
    measured with wrk; with its memory (MiB) idle before the load and after it."""
    script = None
    if config.script:
        script = root / f"{config.name}.lua"
        script.write_text(config.script)
    server = Server(config, root)
    try:
        server.wait(any_status=True)
        idle_rss, _ = server.memory()
        url = f"http://127.0.0.1:{server.port}/"
        wrk(url, args.warmup, args.connections, script)
        result = wrk(url, args.seconds, args.connections, script)
        rss, pss = server.memory()
    finally:
        server.stop()
    return {**result, "idle_rss": idle_rss, "rss": rss, "pss": pss}


def cold_start_all(configs: list[Config], results: dict[str, dict], root: Path, runs: int) -> None:
    """Set ``cold_ms`` of every hello configuration measured, spawning them in turn (``cold_starts``):
    the machine's load changes during a run, and would otherwise fall on some configurations only."""
    hello = [config for config in configs if config.case == "hello" and config.name in results]
    for config, median in zip(hello, cold_starts(hello, root, runs)):
        results[config.name]["cold_ms"] = median



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


