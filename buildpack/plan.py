"""The build plan detect writes: what this buildpack requires (Buildpack API 0.10, "Build Plan").

Per the seed (python-function-buildpack): CPython for build and launch, pip for build.
Provider names are Paketo's (``cpython``, ``pip``); metadata keys are the ones Paketo reads.
"""

from __future__ import annotations

from typing import Any

CPYTHON = {"name": "cpython", "metadata": {"build": True, "launch": True}}
PIP = {"name": "pip", "metadata": {"build": True}}
#: Providers of the app's packages in a Paketo group, by what marks an app as theirs:
#: pip-install provides ``site-packages`` for a root requirements.txt, poetry-install
#: ``poetry-venv`` for a Poetry pyproject.toml.
PROVIDERS = (("site-packages", "pyfunc-site-packages"), ("poetry-venv", "pyfunc-poetry-venv"))
#: The alternative where this buildpack installs the app's packages itself.
OWN_DEPENDENCIES = "pyfunc-dependencies"


def build_plan(root_requirements: bool, poetry: bool = False) -> dict[str, Any]:
    """The plan as a TOML-ready mapping.

    When a Paketo provider could install the app's packages, each alternative, in order, is
    "with site-packages", "with poetry-venv", then "on our own" (``[[or]]``): the lifecycle
    takes the first whose requirements the group meets. Each alternative also provides and
    requires a marker of its own, so build learns from its buildpack plan (which lists what
    a buildpack provides) which one was taken.
    """
    wanted = [pair for pair, used in zip(PROVIDERS, (root_requirements, poetry)) if used]
    if not wanted:
        return {"requires": [CPYTHON, PIP]}
    alternatives = [_alternative({"name": provider, "metadata": {"build": True, "launch": True}}, marker)
                    for provider, marker in wanted]
    alternatives.append(_alternative(None, OWN_DEPENDENCIES))
    first, *rest = alternatives
    return {**first, "or": rest}


def _alternative(provider: dict[str, Any] | None, marker: str) -> dict[str, Any]:
    requires = [CPYTHON, PIP, *([provider] if provider else []), {"name": marker}]
    return {"provides": [{"name": marker}], "requires": requires}
