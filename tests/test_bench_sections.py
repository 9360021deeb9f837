"""make bench's BENCHMARKS.md writer (tools/bench/sections.py, report.py): a part rerun on its
own (``--only image``) rewrites its section and its target rows and keeps every other section;
the hand-written notes survive every rewrite. Pure text functions: nothing is measured here."""

from __future__ import annotations

import re

from bench import report, sections

IMAGE = {
    "builder": "localhost:1/pyfunc/builder:abc", "run_image": "localhost:1/pyfunc/run:def", "runs": 3,
    "pyfunc_build_s": 20.0, "pyfunc_rebuild_s": 6.0, "pyfunc_rebuild_reused": True,
    "ff_build_s": 30.0, "ff_rebuild_s": 1.0, "run_size_mb": 123.0, "pyfunc_size_mb": 173.0, "ff_size_mb": 160.0,
    "web": "python -m pyfunc start",
    "docker_run_ms": {"pyfunc-launcher": [900, 1000, 1100], "pyfunc-direct": [880, 990, 1000], "ff": [1200, 1300, 1250]},
    "in_container_ms": {"pyfunc-launcher": [140, 150, 160], "pyfunc-direct": [100, 100, 100], "ff": [300, 310, 320],
                        "launcher-true": [6, 8, 12], "true": [1, 2, 3]},
    "setup_ms": {"pyfunc": [700, 710, 720], "ff": [600, 610, 650]}, "pyfunc_layers": 11, "ff_layers": 5,
    "inside_runs": 3, "launch_env": ["PATH", "PYTHONPATH"], "load_average": 4.2,
}

DOCUMENT = """# Benchmarks

Written by `make bench` on 2026-11-20: `python tools/bench.py`.

## Throughput, latency, memory, cold start

| configuration | req/s (passes) | ratio to ff default | p50 ms | p99 ms | errors | RSS idle / after MiB | PSS MiB | cold start ms |
|---|---|---|---|---|---|---|---|---|
| functions-framework default | 2452 (2438 / 2466) | 1.0× | 20.26 | 28.56 | 0 | 61 / 64 | 47 | 155 |
| pyfunc main(req) (Flask request) | 21041 (21487 / 20595) | 8.6× | 2.23 | 6.99 | 0 | 32 / 34 | 29 | 117 |

## Targets (performance issue)

| target | goal | measured | met |
|---|---|---|---|
| pyfunc-body req/s vs functions-framework | ≥ 10× | 10.6× | yes |

Every target is met.

## Buildpack

- detect (python3 path), median of 21: 28 ms

## Behind Knative's queue-proxy

| path | req/s | p50 ms | p99 ms | errors |
|---|---|---|---|---|
| HTTP/1.1 direct | 16324 | 2.65 | 12.34 | 0 |

## What limits it

- **Cold start**: imports.

## Real engine (measured by hand on 2026-11-21; `make bench` does not rewrite this section's numbers)

| step | time |
|---|---|
| cold: `apt-get install docker.io` | 13–19 s |
"""


def headings(document: str) -> list[str]:
    return re.findall(r"^## .*$", document, re.M)


def test_only_image_adds_its_section_and_rows_and_keeps_the_rest():
    written = sections.with_image(DOCUMENT, IMAGE, "python -m bench --only image", "2026-11-22")
    names = headings(written)
    assert names[:4] == headings(DOCUMENT)[:4]
    assert names[4] == sections.IMAGE_HEADING and names[5] == "## What limits it"
    assert names[6:] == headings(sections.notes()) == ["## Hot path, interleaved measurements",
                                                       "## Real engine: the user path, measured by hand (2026-11-21)"]
    for kept in ("| functions-framework default | 2452", "| HTTP/1.1 direct | 16324", "- **Cold start**: imports.",
                 "| pyfunc-body req/s vs functions-framework | ≥ 10× | 10.6× | yes |"):
        assert kept in written
    # in-container 150 / 100 = 1.5×: not met, and the verdict line under the table says so
    row = ("| cold start through the CNB launcher vs python -m pyfunc start (spawn inside one container) | ≤ 1.1× | "
           "1.50× (fastest runs 1.40×) | **no** |")
    assert row in written
    assert "Not met: cold start through the CNB launcher vs python -m pyfunc start (spawn inside one container)." in written
    assert "Every target is met." not in written
    assert "The CNB launcher rows are from `python -m bench --only image` on 2026-11-22" in written
    image = sections.section_of(written, sections.IMAGE_HEADING)
    assert "pyfunc main(req) 117 ms, functions-framework 155 ms" in image  # host numbers read from the table
    rows = [line for line in image.splitlines() if line.startswith("| ") and "|---" not in line]
    assert rows[1].endswith("| 20.0 | 6.0 | 173 | 50 | 1000 (900–1100) | 150 (140–160) |")  # launcher: median (min–max)
    assert rows[2].endswith("| — | — | — | — | 990 (880–1000) | 100 (100–100) |")  # --entrypoint, the same image
    assert rows[3].endswith("| 30.0 | 1.0 | 160 | 37 | 1250 (1200–1300) | 310 (300–320) |")
    assert "it takes 6 ms more at the median, 5 ms between the\nfastest runs" in image  # launcher -- true vs true
    assert "pyfunc's image 710 (700–720) ms (11 layers), functions-framework's 610 (600–650) ms (5 layers)" in image
    assert "beyond the image's env:\n`PATH`, `PYTHONPATH`" in image and "load average at the end was 4.2" in image


def test_a_second_run_replaces_rows_instead_of_adding_them():
    once = sections.with_image(DOCUMENT, IMAGE, "c", "2026-11-22")
    faster = {**IMAGE, "in_container_ms": {**IMAGE["in_container_ms"], "pyfunc-launcher": [104, 105, 106]}}
    twice = sections.with_image(once, faster, "c", "2026-11-23")
    assert headings(twice) == headings(once)
    assert twice.count("(spawn inside one container) |") == 2  # the targets table and the image section
    assert "| 1.05× (fastest runs 1.04×) | yes |" in twice and "1.50×" not in twice
    assert "Every target is met." in twice
    assert twice.count("The CNB launcher rows are from") == 1 and "on 2026-11-23 (section" in twice
    assert all(twice.count(heading) == 1 for heading in headings(sections.notes()))


def test_a_skipped_image_part_keeps_the_previous_rows_and_says_why():
    once = sections.with_image(DOCUMENT, IMAGE, "c", "2026-11-22")
    skipped = sections.with_image(once, {"skipped": "no container engine: not root"}, "c", "2026-11-23")
    image = sections.section_of(skipped, sections.IMAGE_HEADING)
    assert "Not measured by the last `make bench` (2026-11-23): no container engine: not root." in image
    assert "| 20.0 | 6.0 | 173 |" in image and "Written on 2026-11-22" in image
    again = sections.with_image(skipped, {"skipped": "still not root"}, "c", "2026-11-24")
    assert again.count("Not measured by the last") == 1
    fresh = sections.with_image(DOCUMENT, {"skipped": "not root"}, "c", "2026-11-23")
    assert "Not measured by the last `make bench` (2026-11-23): not root." in fresh


def test_the_full_report_holds_the_image_section_and_ends_with_the_notes(monkeypatch):
    monkeypatch.setattr(report, "versions", lambda: "- pyfunc: pyfunc 0.1.0")

    class Args:
        warmup, connections, seconds, passes, cold_starts = 3, 50, 10, 2, 5

    image_text = sections.image_section(IMAGE, "c", "2026-11-22")
    written = report.report({}, {"detect_ms": 28.0}, None, sections.image_targets(IMAGE), Args, "c",
                            image_text=image_text)
    names = headings(written)
    assert names.index(sections.IMAGE_HEADING) == names.index("## What limits it") - 1
    assert names[-2:] == headings(sections.notes())
    assert written.endswith(sections.NOTES[-1].read_text()) and sections.NOTES[0].read_text() in written
    assert "(docker run) | ≤ 1.1× |" in written.split(sections.IMAGE_HEADING)[0]  # in the targets table too
    assert "raw uvicorn's own p99 was not measured in this run" in written


def test_what_limits_it_quotes_this_runs_p99_of_raw_uvicorn(monkeypatch):
    monkeypatch.setattr(report, "versions", lambda: "- pyfunc: pyfunc 0.1.0")

    class Args:
        warmup, connections, seconds, passes, cold_starts = 3, 50, 10, 2, 5

    uvicorn = {"req_per_s": 27106.0, "passes": [28722.0, 25490.0], "p50_ms": 1.84, "p99_ms": 4.27, "errors": 0,
               "idle_rss": 28.0, "rss": 29.0, "pss": 23.0}
    written = report.report({"uvicorn": uvicorn}, {"detect_ms": 28.0}, None, [], Args, "c")
    assert "raw uvicorn's own p99 was 4.3 ms in this run" in written.split("## What limits it")[1]
