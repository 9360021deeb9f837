"""The build plan detect writes: what this buildpack requires (Buildpack API 0.10, "Build Plan").

Per the seed (python-function-buildpack): CPython for build and launch, pip for build.
Provider names are Paketo's (``cpython``, ``pip``); metadata keys are the ones Paketo reads.
"""

from __future__ import annotations

from typing import Any

CPYTHON = {"name": "cpython", "metadata": {"build": True, "launch": True}}
PIP = {"name": "pip", "metadata": {"build": True}}
#: The app's packages from Paketo pip-install (it provides this for a root requirements.txt).
SITE_PACKAGES = {"name": "site-packages", "metadata": {"build": True, "launch": True}}
#: Provided and required by this buildpack in the alternative without a site-packages provider:
#: build finds it in its buildpack plan (which lists what a buildpack provides) and installs
#: requirements.txt itself.
OWN_DEPENDENCIES = "pyfunc-dependencies"


def build_plan(root_requirements: bool) -> dict[str, Any]:
    """The plan as a TOML-ready mapping.

    With a root requirements.txt, the first alternative also requires ``site-packages``, so
    a group holding Paketo pip-install resolves with it (and build skips the dependencies
    layer); the ``[[or]]`` alternative, without it, resolves in groups without one.
    """
    if not root_requirements:
        return {"requires": [CPYTHON, PIP]}
    own = {"name": OWN_DEPENDENCIES}
    return {"requires": [CPYTHON, PIP, SITE_PACKAGES], "or": [{"provides": [own], "requires": [CPYTHON, PIP, own]}]}
