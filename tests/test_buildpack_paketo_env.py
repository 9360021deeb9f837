"""BPE_* settings with Paketo's environment-variables buildpack earlier in the group (builder.toml).

That buildpack (paketo-buildpacks/environment-variables, env/build.go) writes every ``BPE_*``
setting into its layer ``environment-variables`` whenever one is set; this buildpack then leaves
them to it, else each ``BPE_APPEND_``/``BPE_PREPEND_`` value would reach the process twice
(``/a:/b:/b``). Names holding '.' stay with this buildpack's exec.d (no env file carries them).

The real buildpack is a Go program the Go module proxy does not serve; with
``PYFUNC_PAKETO_ENV_BP`` naming a built one (its source's ``go build ./cmd/main`` as ``bin/main``,
``bin/build`` and ``bin/detect`` linking to it, ``{{.version}}`` of buildpack.toml filled in) the
last test builds through the real lifecycle with it in the group.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest
import requests

from conftest import ROOT, write_function

sys.path.insert(0, str(ROOT))
from buildpack.context import Context  # noqa: E402
from buildpack.launchenv import PAKETO_ENV_LAYERS, LaunchEnv  # noqa: E402

SETTINGS = {"BPE_APPEND_PATHLIKE": "/b", "BPE_DELIM_PATHLIKE": ":", "BPE_PREPEND_PRE": "x", "BPE_DEFAULT_DEF": "d",
            "BPE_PLAIN": "p", "BPE_OVERRIDE_dotted.o": "oo"}
DEPLOY = {"PATHLIKE": "/a", "PRE": "y"}
EXPECTED = {"PATHLIKE": "/a:/b", "PRE": "xy", "DEF": "d", "PLAIN": "p", "dotted.o": "oo"}


def _context(tmp_path: Path, paketo_ran: bool) -> Context:
    layers = tmp_path / "layers"
    (layers / "pyfunc_python-function").mkdir(parents=True)
    if paketo_ran:
        (layers / PAKETO_ENV_LAYERS / "environment-variables").mkdir(parents=True)
    (tmp_path / "platform" / "env").mkdir(parents=True)
    for name, value in SETTINGS.items():
        (tmp_path / "platform" / "env" / name).write_text(value)
    return Context(tmp_path, tmp_path, tmp_path / "platform", None, layers / "pyfunc_python-function", {})


@pytest.mark.parametrize("paketo_ran", [True, False])
def test_bpe_settings_are_applied_once(tmp_path, paketo_ran):
    env = _context(tmp_path, paketo_ran)
    plan = LaunchEnv.plan(env, {"FUNC_DEFAULT": "f"})
    written = {name for name, _, _ in plan.entries}
    if paketo_ran:
        assert written == {"FUNC_DEFAULT", "dotted.o"}, "only what the Paketo layer cannot carry"
    else:
        assert written == {"FUNC_DEFAULT", "PATHLIKE", "PRE", "DEF", "PLAIN", "dotted.o"}
    # The validation step's env: the earlier layer's entries, then ours, each once.
    assert plan.apply(DEPLOY) == {**EXPECTED, "FUNC_DEFAULT": "f"}


PAKETO_ENV_BP = os.environ.get("PYFUNC_PAKETO_ENV_BP")


@pytest.mark.skipif(not PAKETO_ENV_BP, reason="PYFUNC_PAKETO_ENV_BP unset: no built paketo-buildpacks/environment-variables"
                    " (the Go module proxy does not serve it)")
def test_with_the_real_environment_variables_buildpack(lifecycle, tmp_path):
    app = write_function(tmp_path / "app", {
        "func.py": "import os\n\ndef main(req):\n    return {n: os.environ.get(n) for n in req.args.getlist('n')}\n",
        "func.yaml": "specVersion: 0.36.0\nname: envs\nruntime: python\n",
    })
    paketo = Path(PAKETO_ENV_BP)
    root = Path(tempfile.mkdtemp(prefix="pyfunc-paketo-env-"))  # the lifecycle's user must reach it
    workspace = lifecycle.Workspace(root, app, SETTINGS,
                                    buildpacks=(lifecycle.HOST_PYTHON_BP, paketo, lifecycle.BUILDPACK), optional=(paketo,))
    try:
        result = workspace.detect_and_build()
        assert result.returncode == 0, result.stdout
        assert "BPE_* settings left to paketo-buildpacks/environment-variables" in result.stdout
        ours = workspace.layers / "pyfunc_python-function" / "function-env" / "env.launch"
        assert not (set(EXPECTED) & {p.name.split(".")[0] for p in ours.glob("*")}), "written by Paketo's layer only"
        port = lifecycle.free_port()
        process = workspace.launch({"PORT": str(port), **DEPLOY})
        try:
            lifecycle.wait_for(port, process)
            answer = requests.get(f"http://127.0.0.1:{port}/", params={"n": list(EXPECTED)}, timeout=30).json()
        finally:
            process.terminate()
            process.wait(30)
        assert answer == EXPECTED
    finally:
        shutil.rmtree(root, ignore_errors=True)
