"""The performance issue's targets (issue 14, round 2): (target, goal, measured, met) rows from
one run's results, and each row's score for the chart (measured ÷ goal, ≥ 1 when met)."""

from __future__ import annotations

import re

from .cases import FLASK_HELLO, NO_FLASK_HELLO, WORKERS

#: req/s ratios: (case, base case, base's label, at least).
THROUGHPUT = (
    ("pyfunc-body", "uvicorn", "raw ASGI on uvicorn", 1.3),
    ("pyfunc-async", "uvicorn", "raw ASGI on uvicorn", 1.2),
    ("knative", "uvicorn", "raw ASGI on uvicorn", 1.2),
    *((name, "ff", "functions-framework", 12.0 if name == "handler" else 20.0) for name in NO_FLASK_HELLO),
    ("pyfunc-ff", "ff", "functions-framework", 6.0),
    ("pyfunc-cloudevent", "ff-cloudevent", "functions-framework cloudevent", 10.0),
    ("pyfunc-cpu-workers", "pyfunc-cpu", f"1 worker process ({WORKERS} vs 1, CPU-bound)", 1.7),
)
P99_MS = 5.0  # every hello case
#: cold start ratios to functions-framework's: at most.
COLD = {**{name: 0.5 for name in NO_FLASK_HELLO}, **{name: 1.0 for name in FLASK_HELLO}}
IDLE_RSS = 0.5  # idle RSS per worker process, ratio to functions-framework's, at most
WORKERS_COLD = 1.15  # cold start with WORKERS processes vs one, at most


def shown(value: float, limit: float, digits: int = 2, unit: str = "×") -> str:
    """``value`` with ``digits`` decimals, or as many more (up to 6) as it takes not to round it
    onto ``limit`` while it is not: 1.697 against a goal of 1.7 reads 1.697×, not a missed 1.70×."""
    for places in range(digits, 7):
        text = f"{value:.{places}f}"
        if float(text) != limit or value == limit:
            break
    return text + unit


def targets(results: dict[str, dict], build: dict[str, object]) -> list[tuple[str, str, str, bool]]:
    """(target, goal, measured, met) rows; a case missing from ``results`` has no row."""
    rows = []

    def ratio(name: str, base: str, key: str = "req_per_s") -> float | None:
        measured, reference = results.get(name, {}).get(key), results.get(base, {}).get(key)
        return measured / reference if measured and reference else None

    for name, base, label, least in THROUGHPUT:
        value = ratio(name, base)
        if value is not None:
            rows.append((f"{name} req/s vs {label}", f"≥ {least:g}×", shown(value, least), value >= least))
    for name in (*NO_FLASK_HELLO, *FLASK_HELLO):
        if name in results:
            p99 = results[name]["p99_ms"]
            rows.append((f"{name} p99 latency", f"≤ {P99_MS:g} ms", shown(p99, P99_MS, 1, " ms"), p99 <= P99_MS))
    for name, most in COLD.items():
        value = ratio(name, "ff", "cold_ms")
        if value is not None:
            rows.append((f"{name} cold start vs functions-framework", f"≤ {most:g}×", shown(value, most), value <= most))
    cold_workers = results.get("pyfunc-body-workers", {}).get("cold_vs_one")
    if cold_workers is not None:
        rows.append((f"cold start, {WORKERS} worker processes vs 1 (fork after import; spawned in turn)",
                     f"≤ {WORKERS_COLD:g}×", shown(cold_workers, WORKERS_COLD), cold_workers <= WORKERS_COLD))
    value = ratio("pyfunc-body", "ff", "idle_rss")
    if value is not None:
        rows.append(("idle RSS per worker vs functions-framework", f"≤ {IDLE_RSS:g}×",
                     f"{shown(value, IDLE_RSS)} ({results['pyfunc-body']['idle_rss']:.0f} vs {results['ff']['idle_rss']:.0f} MiB)",
                     value <= IDLE_RSS))
    if "detect_ms" in build:
        rows.append(("detect median wall (samples/http, func.yaml)", "≤ 60 ms", f"{build['detect_ms']:.0f} ms",
                     build["detect_ms"] <= 60))
    if "rebuild_skipped_pip" in build:
        rows.append(("cached rebuild skips pip", "yes", "yes" if build["rebuild_skipped_pip"] else "no",
                     bool(build["rebuild_skipped_pip"])))
    return rows


_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def score(goal: str, measured: str) -> float | None:
    """How far a row is from its goal: measured ÷ goal for "≥" goals, goal ÷ measured for "≤"
    ones, so 1 or more is met; None for rows without numbers (yes/no)."""
    wanted, got = _NUMBER.search(goal), _NUMBER.search(measured)
    if not wanted or not got or float(got.group()) == 0:
        return None
    if goal.startswith("≥"):
        return float(got.group()) / float(wanted.group())
    return float(wanted.group()) / float(got.group())
