"""The build plan detect writes: what this buildpack requires (Buildpack API 0.10, "Build Plan").

Per the seed (python-function-buildpack): CPython for build and launch, pip for build.
Provider names are Paketo's (``cpython``, ``pip``); metadata keys are the ones Paketo reads.
"""

from __future__ import annotations

from typing import Any

CPYTHON = {"name": "cpython", "metadata": {"build": True, "launch": True}}
PIP = {"name": "pip", "metadata": {"build": True}}


def build_plan() -> dict[str, Any]:
    """The plan as a TOML-ready mapping (``[[requires]]`` entries)."""
    return {"requires": [CPYTHON, PIP]}
