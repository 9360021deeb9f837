"""BENCHMARKS.md: the whole report, its chart, machine and versions lines."""

from __future__ import annotations


import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import textwrap
from pathlib import Path

from .cases import BENCH, CONFIGS, ENVIRONMENTS, PYFUNC_PACKAGES, WORKERS
from . import sections
from .targets import score


def chart(results: dict[str, dict], rows: list[tuple[str, str, str, bool]], path: Path) -> None:
    """Three panels: req/s per configuration, cold starts, and each target's measured ÷ goal."""
    scored = [(name, value) for name, goal, measured, _ in rows if (value := score(goal, measured)) is not None]
    data = {"labels": [c.label for c in CONFIGS if c.name in results],
            "rps": [results[c.name]["req_per_s"] for c in CONFIGS if c.name in results],
            "cold": [(c.label, results[c.name]["cold_ms"]) for c in CONFIGS if results.get(c.name, {}).get("cold_ms")],
            "scores": scored}
    code = textwrap.dedent("""
        import json, sys
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        data = json.loads(sys.argv[1])
        fig, (a, b, c) = plt.subplots(1, 3, figsize=(24, 8), gridspec_kw={"width_ratios": [3, 2, 3]})
        a.barh(data["labels"], data["rps"], color="#3b7dd8"); a.invert_yaxis(); a.set_xlabel("requests/s (median of passes)")
        a.set_title("Throughput, one run, same machine")
        names = [c[0] for c in data["cold"]]; values = [c[1] for c in data["cold"]]
        b.barh(names, values, color="#d8843b"); b.invert_yaxis(); b.set_xlabel("ms, spawn to first 200 (median of 5)")
        b.set_title("Cold start")
        names = [s[0] for s in data["scores"]]; values = [s[1] for s in data["scores"]]
        c.barh(names, values, color=["#3ba55d" if v >= 1 else "#d83b3b" for v in values]); c.invert_yaxis()
        c.axvline(1.0, color="black", linewidth=1); c.set_xlabel("measured ÷ goal (1 or more: met)")
        c.set_title("Targets of the performance issue")
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
    command = " ".join(["PYTHONPATH=tools python -m bench", *sys.argv[1:]])
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
    return sections.splice(document, section, QUEUE_PROXY_HEADING)


def report(results, build, soaked, rows, args, command, proxied=None, image_text="") -> str:
    """The whole of BENCHMARKS.md; ``image_text`` is sections.image_section's, and the
    hand-written notes (sections.notes) end it."""
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
{soak_text}{proxied_text}{image_text}
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
  functions written `async def` skip it (async main(body) ≈ 0.9× raw uvicorn). The hand-off is
  ~7.5 µs against raw uvicorn's ~34 µs of CPU a request: no sync style on uvicorn can pass
  ~1.2× its throughput (section "Hot path" below).
- **Writes**: each answer's head and body leave in one `send` (pyfunc.exchange); uvicorn alone
  writes them with two, ~40% of the server's samples before.
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
""" + sections.notes()


