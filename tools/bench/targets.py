"""The performance issue's targets: (target, goal, measured, met) rows from one run's results."""

from __future__ import annotations


from .cases import FLASK_HELLO, NO_FLASK_HELLO, WORKERS


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


