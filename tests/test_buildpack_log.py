"""Build output laid out as packit's scribe: title at 0, steps at 2 spaces, details at 4,
sub-details (and ``Completed in``) at 6, one blank line between sections; the function is
named with its resolved style. Checked on a real lifecycle build and on Log itself."""

from __future__ import annotations

import io
import re

import pytest

from conftest import ROOT
from test_lifecycle_e2e import Built

STEPS = ["Resolving function", "Installing invoker", "Installing dependencies", "Configuring launch environment",
         "Validating function", "Assigning launch processes:"]


def block(stdout: str) -> list[str]:
    """The buildpack's own lines of the builder's output."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("pyfunc Python Function Buildpack "))
    end = next(i for i in range(start, len(lines)) if lines[i] == "Processing layers")
    return lines[start:end]


def indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def test_the_build_output_of_the_knative_sample_has_packits_shape(lifecycle):
    built = Built(lifecycle, ROOT / "samples" / "knative")
    result = built.result
    built.cleanup()
    assert result.returncode == 0, result.stdout
    lines = block(result.stdout)
    assert re.fullmatch(r"pyfunc Python Function Buildpack \d+\.\d+\.\d+", lines[0])
    assert [line.strip() for line in lines if indent(line) == 2 and line.strip()] == STEPS
    for number, line in enumerate(lines[1:], 1):
        if not line:
            assert indent(lines[number + 1]) == 2 and lines[number + 1].strip(), "a blank line only before a step"
            continue
        assert indent(line) in (2, 4, 6) and not line.startswith(" " * indent(line) + " "), line
        if indent(line) == 2 and number > 1:
            assert lines[number - 1] == "", f"no blank line before the step {line!r}"
        if "Completed in" in line:
            assert re.fullmatch(r" {6}Completed in \d+\.\d{3}s", line)
            assert number + 1 == len(lines) or lines[number + 1] == "", "Completed in closes its step"
    validating = lines.index("  Validating function")
    assert lines[validating + 1] == "    Function: function.new (Knative)"
    assert lines[validating + 2].startswith("      module:   function (")
    assert not any("by default" in line for line in lines)


@pytest.mark.parametrize("debug", [False, True])
def test_log_levels_and_sections(debug):
    from buildpack.log import Log

    out = io.StringIO()
    log = Log("DEBUG" if debug else None, out)
    log.title("Name", "1.0")
    log.step("First")
    log.detail("a detail\nof two lines")
    with log.timed("Second"):
        log.subdetail("sub")
        log.debug("pip output")
    lines = out.getvalue().splitlines()
    completed = lines.pop(-1)
    assert re.fullmatch(r" {6}Completed in \d+\.\d{3}s", completed)
    assert lines == ["Name 1.0", "  First", "    a detail", "    of two lines", "", "  Second", "      sub",
                     *(["      pip output"] if debug else [])]
