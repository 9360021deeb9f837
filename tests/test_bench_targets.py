"""make bench's targets of the performance issue: which rows one run's results give, whether each
is met, and the score the chart draws (measured ÷ goal, 1 or more when met)."""

from __future__ import annotations

import pytest

from bench.targets import score, targets

HELLO = ("uvicorn", "pyfunc-body", "pyfunc-async", "knative", "handler", "pyfunc-req", "pyfunc-ff")


def _results(**req_per_s: float) -> dict[str, dict]:
    results = {name: {"req_per_s": 1000.0, "p99_ms": 4.0, "cold_ms": 100.0, "idle_rss": 25.0} for name in HELLO}
    results["ff"] = {"req_per_s": 50.0, "p99_ms": 30.0, "cold_ms": 200.0, "idle_rss": 61.0}
    for name, value in req_per_s.items():
        results.setdefault(name.replace("_", "-"), dict(results["pyfunc-body"]))["req_per_s"] = value
    return results


def test_rows_are_judged_against_the_issues_goals():
    rows = {name: (goal, measured, met) for name, goal, measured, met in
            targets(_results(pyfunc_body=1400.0, pyfunc_cpu=500.0, pyfunc_cpu_workers=800.0), {})}
    assert rows["pyfunc-body req/s vs raw ASGI on uvicorn"] == ("≥ 1.3×", "1.40×", True)
    assert rows["pyfunc-async req/s vs raw ASGI on uvicorn"] == ("≥ 1.2×", "1.00×", False)
    assert rows["handler req/s vs functions-framework"] == ("≥ 12×", "20.00×", True)
    assert rows["pyfunc-ff req/s vs functions-framework"][0] == "≥ 6×"
    assert rows["knative p99 latency"] == ("≤ 5 ms", "4.0 ms", True)
    assert rows["knative cold start vs functions-framework"] == ("≤ 0.5×", "0.50×", True)
    assert rows["pyfunc-req cold start vs functions-framework"][0] == "≤ 1×"
    assert rows[next(name for name in rows if name.startswith("pyfunc-cpu-workers req/s"))] == ("≥ 1.7×", "1.60×", False)
    assert rows["idle RSS per worker vs functions-framework"] == ("≤ 0.5×", "0.41× (25 vs 61 MiB)", True)
    assert not any("cloudevent" in name for name in rows)  # not measured: no row


def test_a_value_that_rounds_onto_its_goal_shows_the_digits_that_decide():
    rows = {name: (goal, measured, met) for name, goal, measured, met in
            targets(_results(pyfunc_body=1299.6, pyfunc_async=1200.0, pyfunc_cpu=1000.0, pyfunc_cpu_workers=1697.0), {})}
    assert rows["pyfunc-body req/s vs raw ASGI on uvicorn"] == ("≥ 1.3×", "1.2996×", False)
    assert rows["pyfunc-async req/s vs raw ASGI on uvicorn"] == ("≥ 1.2×", "1.20×", True)  # exactly the goal
    assert rows[next(name for name in rows if name.startswith("pyfunc-cpu-workers req/s"))] == ("≥ 1.7×", "1.697×", False)
    results = _results()
    results["knative"]["p99_ms"] = 5.04
    assert ("knative p99 latency", "≤ 5 ms", "5.04 ms", False) in targets(results, {})


@pytest.mark.parametrize("goal, measured, expected", [
    ("≥ 1.3×", "0.65×", 0.5), ("≤ 5 ms", "10.0 ms", 0.5), ("≤ 0.5×", "0.25×", 2.0),
    ("≤ 0.5×", "0.41× (25 vs 61 MiB)", 0.5 / 0.41), ("yes", "yes", None),
])
def test_the_chart_score_is_measured_over_goal_one_or_more_when_met(goal, measured, expected):
    if expected is None:
        assert score(goal, measured) is None
    else:
        assert score(goal, measured) == pytest.approx(expected)
