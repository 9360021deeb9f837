"""Sections of BENCHMARKS.md that parts rewrite on their own: the image section (bench.image),
its rows of the targets table, and the hand-written notes the report ends with.

All pure functions of their arguments (tests/test_bench_sections.py).
"""

from __future__ import annotations

import re
import statistics
from pathlib import Path

IMAGE_HEADING = "## Images: pack build and docker run on the engine"
TARGETS_HEADING = "## Targets (performance issue)"
#: The hand-written notes that end the report, in order; each file is one ``## `` section.
NOTES = (Path(__file__).with_name("hot-path-notes.md"), Path(__file__).with_name("real-engine-notes.md"))
#: Where the notes begin in a written report (an older BENCHMARKS.md had "## Real engine" inline).
NOTES_HEADINGS = ("## Hot path", "## Real engine")
#: Labels of the throughput table whose cold start (on the host, no container) the image section quotes.
HOST_LABELS = {"pyfunc": "pyfunc main(req) (Flask request)", "ff": "functions-framework default"}
LAUNCHER_GOAL = 1.1


def notes() -> str:
    """The hand-written notes (``NOTES``, those that exist), each after a blank line."""
    return "".join("\n" + path.read_text() for path in NOTES if path.is_file())


def with_notes(document: str) -> str:
    """``document`` with its tail from the first notes heading (or its end) replaced by ``notes()``."""
    starts = [index for heading in NOTES_HEADINGS if (index := document.find("\n" + heading)) >= 0]
    return document[:min(starts)] + notes() if starts else document.rstrip("\n") + "\n" + notes()


def _ms(values: list[float]) -> str:
    return f"{statistics.median(values):.0f} ({min(values):.0f}–{max(values):.0f})"


def image_targets(image: dict) -> list[tuple[str, str, str, bool]]:
    """(target, goal, measured, met): the launcher against ``python -m pyfunc start`` (issue #14)."""
    rows = []
    for key, where in (("in_container_ms", "spawn inside one container"), ("docker_run_ms", "docker run")):
        times = image.get(key) or {}
        if times.get("pyfunc-launcher") and times.get("pyfunc-direct"):
            ratio = statistics.median(times["pyfunc-launcher"]) / statistics.median(times["pyfunc-direct"])
            fastest = min(times["pyfunc-launcher"]) / min(times["pyfunc-direct"])
            rows.append((f"cold start through the CNB launcher vs python -m pyfunc start ({where})",
                         f"≤ {LAUNCHER_GOAL}×", f"{ratio:.2f}× (fastest runs {fastest:.2f}×)", ratio <= LAUNCHER_GOAL))
    return rows


def image_section(image: dict, command: str, date: str, host: dict[str, float] | None = None,
                  previous: str | None = None) -> str:
    """The image section (a leading newline, no trailing one). ``image`` is bench.image's result;
    with ``{"skipped": reason}`` the ``previous`` section is kept under a line saying why it was not
    rerun (or only the reason is written). ``host`` maps HOST_LABELS keys to host cold starts in ms."""
    if "skipped" in image:
        why = f"Not measured by the last `make bench` ({date}): {image['skipped']}."
        if previous:
            heading, _, rest = previous.strip("\n").partition("\n")
            rest = "\n".join(line for line in rest.split("\n") if not line.startswith("Not measured by the last"))
            return f"\n{heading}\n\n{why} The rows below are from the run they name.\n{rest}\n"
        return f"\n{IMAGE_HEADING}\n\n{why}\n"
    docker, inside = image["docker_run_ms"], image["in_container_ms"]
    run = image["run_size_mb"]
    rows = [
        f"| pyfunc, samples/http | `pack build`, test builder | {image['pyfunc_build_s']:.1f} | "
        f"{image['pyfunc_rebuild_s']:.1f} | {image['pyfunc_size_mb']:.0f} | {image['pyfunc_size_mb'] - run:.0f} | "
        f"{_ms(docker['pyfunc-launcher'])} | {_ms(inside['pyfunc-launcher'])} |",
        f"| the same image, `--entrypoint` {image['web']} | (the same) | — | — | — | — | "
        f"{_ms(docker['pyfunc-direct'])} | {_ms(inside['pyfunc-direct'])} |",
        f"| functions-framework 3.10.2, the same function | `docker build` FROM the run image | "
        f"{image['ff_build_s']:.1f} | {image['ff_rebuild_s']:.1f} | {image['ff_size_mb']:.0f} | "
        f"{image['ff_size_mb'] - run:.0f} | {_ms(docker['ff'])} | {_ms(inside['ff'])} |",
    ]
    goals = [f"| {name} | {goal} | {measured} | {'yes' if met else '**no**'} |"
             for name, goal, measured, met in image_targets(image)]
    inside_runs = image.get("inside_runs", image["runs"])
    added = ", ".join(f"`{name}`" for name in image.get("launch_env", ())) or "—"
    load = f"{image['load_average']:.1f}" if "load_average" in image else "not recorded"
    limits = ""
    if inside.get("launcher-true") and inside.get("true") and inside.get("pyfunc-direct"):
        own = statistics.median(inside["launcher-true"]) - statistics.median(inside["true"])
        fastest = min(inside["launcher-true"]) - min(inside["true"])
        limits = f"""
What the launcher costs: it is a Go program that reads the image's metadata and every layer's
env directories, sets the launch env and then `exec`s the process (it does not stay: under
`docker run` the server is PID 1 either way). Alone (`launcher -- /bin/true` against `/bin/true`
in the same container) it takes {own:.0f} ms more at the median, {fastest:.0f} ms between the
fastest runs, against {statistics.median(inside['pyfunc-direct']):.0f} ms for `python -m pyfunc
start` to its first 200 there: a fixed cost of Go's start-up and a few file reads, which a loaded
machine stretches like everything else. pyfunc cannot shorten it short of leaving the launcher
(`--entrypoint`), which loses the launch env the buildpacks contribute.
"""
    setup = image.get("setup_ms") or {}
    setup_text = ""
    if setup.get("pyfunc") and setup.get("ff"):
        setup_text = (f"\nContainer setup alone (`docker run --rm`, the same network options, `--entrypoint /bin/true`): "
                      f"pyfunc's image {_ms(setup['pyfunc'])} ms ({image.get('pyfunc_layers', '?')} layers), "
                      f"functions-framework's {_ms(setup['ff'])} ms ({image.get('ff_layers', '?')} layers); "
                      "with its removal, which the *docker run* cells do not count; they hold that setup and the "
                      "server's own start.\n")
    host_text = ""
    if host and all(host.get(k) for k in HOST_LABELS):
        host_text = (f"\nOn the host, without a container (throughput table above, its own run): "
                     f"pyfunc main(req) {host['pyfunc']:.0f} ms, functions-framework {host['ff']:.0f} ms.\n")
    return f"""
{IMAGE_HEADING}

Written on {date} by `{command}`.

- pyfunc: samples/http built with pack 0.38.2 and the test builder
  (`{image['builder'].rsplit('/', 1)[-1]}`: Debian bookworm python3 as test/host-python, then this
  buildpack) on the project's dockerd: first from a clean cache (previous image removed,
  `--clear-cache`; pip downloads the invoker's wheels), then the unchanged app again (invoker
  layer reused: {'yes' if image['pyfunc_rebuild_reused'] else '**no**'}).
- functions-framework: the same function in its signature (`hello(request)`), built with
  `docker build` (the legacy builder; first `--no-cache`, then again with its layer cache) from a
  Dockerfile `FROM` the same run image (`{image['run_image'].rsplit('/', 1)[-1]}`): as root
  `python3 -m venv /opt/ff` and `pip install functions-framework==3.10.2`, the function copied to
  /workspace, served as the run image's user 1001 by `functions-framework --target hello --port
  8080` (gunicorn, its default server). The test builder cannot build it: its group is
  test/host-python then pyfunc, with no functions-framework process type (pyfunc would serve that
  function itself).

Size: `docker image inspect` Size, MB of 10^6 bytes; the run image alone is {run:.0f} MB. Cold start:
spawn → first 200 on `GET /`, median (min–max) after one uncounted round, the variants in turn:
*docker run* ({image['runs']} runs) from starting `docker run -d -p 127.0.0.1:PORT:8080` to the
first 200 on that port (container setup included); *in container* ({inside_runs} runs) from a
process spawned by `docker exec`'s python3 inside one running container of the image, polled on
its loopback (no container setup). The direct rows use the web process's own command with the
env the launcher computes (what `launcher -- env` prints beyond the image's env:
{added}).
The machine's 1-minute load average at the end was {load}: other work shared the 2 cores, so
single runs stray far (see min–max) and the medians carry that noise.
{host_text}{setup_text}
| image | built with | first build s | rebuild s | size MB | above run image MB | cold start docker run ms | cold start in container ms |
|---|---|---|---|---|---|---|---|
{chr(10).join(rows)}

| target | goal | measured | met |
|---|---|---|---|
{chr(10).join(goals)}
{limits}"""


def with_image(document: str, image: dict, command: str, date: str) -> str:
    """``document`` as ``--only image`` leaves it: the image section replaced (or inserted before
    "What limits it"), the image's rows of the targets table, the hand-written notes at the end
    (replacing an inline "Real engine" section); every other section as it was."""
    section = image_section(image, command, date, host_cold_starts(document), section_of(document, IMAGE_HEADING))
    note = (f"The CNB launcher rows are from `{command}` on {date} (section \"Images\" below); the other rows "
            "from the run named at the top.")
    document = put_target_rows(splice(document, section, IMAGE_HEADING), image_targets(image), note)
    return with_notes(document)


def splice(document: str, section: str, heading: str, before: str = "## What limits it") -> str:
    """``document`` with the section whose heading starts with ``heading`` replaced by ``section``
    (inserted before the ``before`` section, or at the end, when absent)."""
    start = document.find("\n" + heading)
    if start < 0:
        start = end = document.find("\n" + before)
        if start < 0:
            start = end = len(document)
    else:
        following = document.find("\n## ", start + 1)
        end = following if following >= 0 else len(document)
    return document[:start] + section + document[end:]


def section_of(document: str, heading: str) -> str | None:
    """The section of ``document`` whose heading line starts with ``heading`` (leading newline
    included, up to the next ``## `` heading), or None."""
    start = document.find("\n" + heading)
    if start < 0:
        return None
    end = document.find("\n## ", start + 1)
    return document[start:end if end >= 0 else len(document)]


def host_cold_starts(document: str) -> dict[str, float]:
    """HOST_LABELS keys → cold start ms read from the throughput table of ``document`` (its last column)."""
    found = {}
    for key, label in HOST_LABELS.items():
        match = re.search(rf"^\| {re.escape(label)} \|.*\| (\d+(?:\.\d+)?) \|$", document, re.M)
        if match:
            found[key] = float(match.group(1))
    return found


def put_target_rows(document: str, rows: list[tuple[str, str, str, bool]], note: str = "") -> str:
    """``document`` with ``rows`` in its targets table (replacing rows of the same target, else
    appended), the line after the table ("Every target is met." / "Not met: ...") recomputed, and
    ``note`` (which run the rows are from) after it."""
    section = section_of(document, TARGETS_HEADING)
    if section is None or not rows:
        return document
    lines = section.split("\n")
    names = {row[0] for row in rows}
    table = [line for line in lines if line.startswith("|") and line.split(" | ")[0][2:] not in names]
    table += [f"| {name} | {goal} | {measured} | {'yes' if met else '**no**'} |" for name, goal, measured, met in rows]
    unmet = [line.split(" | ")[0][2:] for line in table[2:] if line.rstrip().endswith("| **no** |")]
    verdict = ("Every target is met." if not unmet
               else "Not met: " + ", ".join(unmet) + ". See 'What limits it' below.")
    rebuilt = f"\n{TARGETS_HEADING}\n\n" + "\n".join(table) + f"\n\n{verdict}\n" + (f"\n{note}\n" if note else "")
    return document.replace(section, rebuilt, 1)
