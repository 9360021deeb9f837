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
        b.barh(names, values, color="#d8843b"); b.invert_yaxis(); b.set_xlabel("ms, spawn to first 200 (median)")
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
    raw = results.get("uvicorn", {})
    raw_p99 = f"{raw['p99_ms']:.1f} ms" if raw.get("p99_ms") is not None else "not measured"
    return f"""# Benchmarks

Written by `make bench` on {datetime.date.today().isoformat()}: `{command}`.
Machine: {machine()}. The load generator (wrk, Debian's package) shares the machine: compare
ratios from this one run, not absolute numbers across runs.

Versions:
{versions()}

Method: on loopback, in {args.passes} rounds, each running every configuration in turn on a fresh
server ({args.warmup} s warm-up, then `wrk -t2 -c{args.connections} -d{args.seconds}s --latency`); the median of
a configuration's passes is reported (the machine's speed drifts within a run, and in rounds it
falls on both sides of every ratio); cold start is
spawn → first 200 on `GET /`, median of {args.cold_starts}, every hello configuration spawned in turn after
the load runs (one uncounted round first); memory summed over the server's processes.
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

Evidence (2026-11-22): cProfile call counts of the request path on the event loop's thread,
`python -X importtime -m pyfunc start`, py-spy under wrk, and interleaved CPU-per-request
rounds of two builds side by side (section "Hot path" below). Single runs of this table stray:
on this shared VM raw uvicorn's own p99 moved from 3.2 to 5.6 ms between two runs, and its CPU
per request from 33 to 45 µs between two rounds of the same hour.

- **Sync and async hello vs raw ASGI on uvicorn** (goals 1.3× and 1.2×): pyfunc serves
  HTTP/1.1 itself (`pyfunc.http1` on httptools and uvloop; uvicorn is not imported on CPython),
  hands `def` calls to its threads in batches, and calls a buffered style's `def` function
  straight from the parsed request, without ASGI, a Task or a future (`pyfunc.direct`): 65
  Python calls a sync hello request on the loop (85 through ASGI), against uvicorn's 59 for the
  raw hello, which does none of pyfunc's work (probes, the concurrency cap, the body budget,
  error answers with a request id, the Date header). In interleaved rounds the direct path
  costs 0.82–0.93× the CPU of the ASGI path a request, and a sync hello 1.07–1.23× the raw
  hello's before the cycle fixes below (0.87× after, section "Hot path"). A buffered answer's
  head and body then went out in one `write`, its headers (checked once, by `pyfunc.framing`)
  not checked again: 0.86× the CPU a sync hello request, 1.35× raw uvicorn's req/s in
  interleaved `wrk -t1` rounds and 1.24× with `wrk -t2` as here (the sync hello's loop and
  worker threads then share the two CPUs with wrk's two). The thread hand-off is not what is left: the same build calling the function on
  the event loop instead (an experiment, unsafe for a function that blocks) cost more, 1.34×,
  because answering inside the parse callback loses the batching of a loop turn. An `async def`
  function keeps the ASGI path: it needs a Task (`asyncio.current_task`, `asyncio.timeout`),
  and a direct path around that Task measured no faster (0.96–1.22× the ASGI path's CPU).
- **Ratios to functions-framework** (goals 20×, handler 12×, Functions Framework style 6×,
  CloudEvents 10×): the same costs; a Knative `handle` keeps the ASGI path (a Task, its
  messages, the guard that frames them), but its answer in one body message goes out in one
  call, as a buffered answer does (60.7 → 56.3 µs CPU a request, interleaved); the handler adds JSON decode and encode (114 calls on the
  loop, most in the standard library's `json`), the Functions Framework style a real Flask
  dispatch in the worker thread (so `flask.abort`, `jsonify` and `flask.request` behave as
  there: ~300 Python calls a hello). Its requests take the direct path too (a generator response
  is sent by a task of the call): 0.85× the CPU a request of the ASGI path, 1.16× the req/s
  (interleaved, 5 rounds). Its ceiling: Flask's context, dispatch and teardown of a hello take
  67 µs in one process (`timeit`), pyfunc's whole `dispatch` 89 µs, the server's own path 30 µs,
  so one GIL serves at most ~8400 req/s: 6× functions-framework is out of reach whenever it
  serves more than ~1400 req/s (hot-path notes, 2026-11-23). CloudEvents: every attribute
  checked against CloudEvents 1.0 (a
  malformed event gets a 400 saying why), the reply's fresh id and time: in-process ~7 µs to
  read an event for `main(data, attributes)` (no SDK event object is made for it; ~10 µs with
  one), ~12 µs to reply; 0.87× the CPU a request of the build that made the SDK's object for
  every event (interleaved, 3 rounds). The reply's headers were checked twice and written with
  `writelines`: in one `write`, 81 → 63 µs CPU a request; then not checked again, as
  `pyfunc.cloudevent` makes them valid, 65 → 61 µs (two interleaved runs). For a `def`
  function the reading and the reply now run in the call's worker thread, with the call,
  instead of the loop and the worker taking turns at the GIL around it: 146 → 120,
  158 → 122 and 182 → 153 µs CPU a request (three interleaved runs of 6 rounds; the handler's
  JSON echo 76 → 68, 63 → 55 and 98 → 75 µs). Then the reply's headers became cheaper to make
  (one character class finds what to percent-encode, the core attributes' header names are made
  once): 122.7 → 109.9 and 111.4 → 97.5 µs (two interleaved runs). What is left is what the
  request asks for: the function in a thread, the event read and checked, the reply's id, time
  and headers.
- **p99 ≤ 5 ms**: with 50 connections on one event loop, latency ≈ 50 ÷ req/s (Little's law),
  so p99 follows the CPU a request costs; raw uvicorn's own p99 was {raw_p99} in this run. The
  `def` styles had a longer tail, and it was the cycle collector, not the thread hand-off: a
  direct call left a reference cycle (13 objects a request), a failed one 24 more, and each
  collection of the oldest generation walked everything imported (10–25 ms with Flask). A
  request now leaves no cycle and what was loaded before serving is frozen (`gc.freeze`, in one
  process too): in interleaved `wrk --latency` rounds `def main(body)` went from 9.4 to 3.9 ms,
  the handler from 12.4 to 6.8, `main(req)` from 16.5 to 6.1, with 14–29% more req/s. What is
  left is CPU a request: the JSON and Flask styles cost more, and the Functions Framework
  style's router (Werkzeug's matcher) still makes a cycle a request, collected young.
- **Cold start** (goal 0.5× functions-framework): pyfunc starts as fast as uvicorn's CLI serving
  a raw hello or faster (table above); the floor is the interpreter, `asyncio` (which imports
  `ssl`), `logging`, uvloop and httptools. Three of pyfunc's own start-up costs were not needed
  to serve: argparse for `start` given alone, `importlib.abc` (with `tempfile` and `shutil`) for
  the Functions Framework import hook, tokenizing the function's source for its line number:
  169 → 146 ms for `def main(body)` (interleaved, 60 rounds; tools/bench/hot-path-notes.md). The Functions Framework style imports Flask
  (~100 ms with Werkzeug and Jinja2) as functions-framework does, so it starts about as fast.
- **The CNB launcher** adds 10 ms at the median in a container (section "Images"): within 1.1×
  through `docker run`, at the edge in a running container.
- One process, one event loop by default (one worker process without a CPU quota): a
  CPU-bound function gains throughput only from more worker processes (`WEB_CONCURRENCY`, or
  a CPU limit: `docker run --cpus 2` gives 2, tested on the engine). Each worker listens on a
  socket of its own (`SO_REUSEPORT`). On the one socket they shared before, the worker that woke
  first accepted every pending connection: wrk's 50 connections, opened together, often all
  went to one worker for the whole pass (801 against 1494 req/s in the two passes of a run,
  2 of 6 passes all on one worker in a test).
""" + sections.notes()


