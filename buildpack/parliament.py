"""parliament-era Knative functions need the cloudevents 1.x API in their dependencies layer.

func's Python templates before 2025 list ``parliament-functions`` in requirements.txt; its
releases (0.1.0 the last) depend on ``cloudevents`` without a version and import the 1.x API
(``cloudevents.http``), so a fresh resolution (cloudevents 2.x) breaks ``from parliament
import Context`` in the function. Later func releases pin ``cloudevents<2`` for such functions
(knative/func pkg/buildpacks legacy_parliament.go); this buildpack does the same, unless the
function's requirements already constrain cloudevents themselves.
"""

from __future__ import annotations

import re
from pathlib import Path

PIN = "cloudevents<2"
_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*(.*)$")


def pins(pip_args: list[str]) -> list[str]:
    """Requirements to add to ``pip_args`` (``-r FILE`` options and requirement strings):
    ``[PIN]`` when they name parliament-functions and leave cloudevents unconstrained, else []."""
    constrained: dict[str, bool] = {}
    for line in _lines(pip_args):
        match = _REQUIREMENT.match(line)
        if match:
            name = re.sub(r"[-_.]+", "-", match.group(1)).lower()
            specifier = match.group(3).split(";")[0].strip()
            constrained[name] = constrained.get(name, False) or bool(specifier)
    if "parliament-functions" in constrained and not constrained.get("cloudevents"):
        return [PIN]
    return []


def _lines(pip_args: list[str]) -> list[str]:
    lines: list[str] = []
    args = iter(pip_args)
    for arg in args:
        if arg == "-r":
            path = Path(next(args, ""))
            if path.is_file():
                text = path.read_text(encoding="utf-8", errors="replace")
                lines += [line.split(" #")[0] for line in text.splitlines()
                          if line.strip() and not line.lstrip().startswith(("#", "-"))]
        elif not arg.startswith("-"):
            lines.append(arg)
    return lines
