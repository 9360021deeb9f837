"""The buildpack's own times on the host: detect, and a lifecycle build and cached rebuild."""

from __future__ import annotations


import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import cnb_host

from .cases import ROOT


def buildpack_times(runs: int = 21) -> dict[str, object]:
    """Detect wall time on samples/http (python3 path), first build and cached rebuild of samples/with-deps."""
    detect = cnb_host.BUILDPACK / "bin" / "detect"
    if not Path("/usr/bin/python3").is_file():
        return {"detect_ms": float("nan"), "build": "no /usr/bin/python3"}
    # The build image's python3 (Debian's here), not a version-manager shim that starts a shell.
    env = {"PATH": "/usr/bin:/bin", "CNB_PLATFORM_DIR": "/nonexistent"}
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([str(detect)], cwd=ROOT / "samples" / "http", env=env, capture_output=True, check=True)
        times.append((time.perf_counter() - start) * 1000)
    result: dict[str, object] = {"detect_ms": statistics.median(times)}
    if cnb_host.missing():
        return {**result, "build": cnb_host.missing()}
    workspace_root = Path(tempfile.mkdtemp(prefix="pyfunc-bench-build-"))
    try:
        workspace = cnb_host.Workspace(workspace_root, ROOT / "samples" / "with-deps")
        start = time.perf_counter()
        first = workspace.detect_and_build()
        result["first_build_s"] = time.perf_counter() - start
        start = time.perf_counter()
        again = workspace.detect_and_build()
        result["rebuild_s"] = time.perf_counter() - start
        result["rebuild_skipped_pip"] = first.returncode == 0 and again.returncode == 0 and all(
            f"Reusing cached layer {workspace.layers / 'pyfunc_python-function' / layer}" in again.stdout
            for layer in ("invoker", "dependencies"))
    finally:
        shutil.rmtree(workspace_root, ignore_errors=True)
    return result


