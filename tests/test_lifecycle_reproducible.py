"""Reproducible builds through the real CNB lifecycle on the host (issue #10).

Two fresh builds of one source (samples/with-deps: the invoker and a dependency installed by
pip, bytecode compiled, SBOMs written) in the same workspace path, one after the other with no
cache between them, give byte-identical trees: every file of the buildpack's layers
(``layers/pyfunc_python-function``, the ``.pyc`` files of the app) with the same type, mode,
link target and content. The file mtimes are the lifecycle's to normalise when it exports (it
sets them to 1980); on the host they are the build's, so they are not compared. The engine
test (test_engine_e2e) compares the exported layers' digests themselves.
"""

from __future__ import annotations

import hashlib
import shutil
import stat
import tempfile
from pathlib import Path

from conftest import ROOT

#: What one build leaves that is ours: the buildpack's layers dir and the app (with its bytecode).
TREES = ("layers/pyfunc_python-function", "app")


def entries(root: Path) -> dict[str, tuple]:
    """{relative path: (kind, permission bits, link target or sha256 of the content)} under each of TREES."""
    found = {}
    for tree in TREES:
        for path in sorted((root / tree).rglob("*")):
            info = path.lstat()
            if stat.S_ISLNK(info.st_mode):
                what = ("link", str(path.readlink()))
            elif stat.S_ISDIR(info.st_mode):
                what = ("dir", "")
            else:
                what = ("file", hashlib.sha256(path.read_bytes()).hexdigest())
            found[str(path.relative_to(root))] = (what[0], oct(stat.S_IMODE(info.st_mode)), what[1])
    return found


def test_two_fresh_builds_give_byte_identical_layers(lifecycle):
    parent = Path(tempfile.mkdtemp(prefix="pyfunc-repro-"))
    parent.chmod(0o755)  # the lifecycle runs as the unprivileged user when we are root
    root = parent / "workspace"
    try:
        trees = []
        for build in ("first", "second"):  # one path both times: layers hold absolute paths (PYTHONPATH, shebangs)
            workspace = lifecycle.Workspace(root, ROOT / "samples" / "with-deps")
            result = workspace.detect_and_build()
            assert result.returncode == 0, result.stdout
            assert result.stdout.count("(no cached layer)") == 2, result.stdout  # pip installed both layers
            trees.append(entries(root))
            root.rename(parent / build)
        a, b = trees
        assert any("/invoker/packages/" in path and path.endswith(".pyc") for path in a), sorted(a)[:20]
        differing = sorted(path for path in set(a) | set(b) if a.get(path) != b.get(path))
        assert not differing, "\n".join(f"{path}\n  {a.get(path)}\n  {b.get(path)}" for path in differing[:20])
    finally:
        shutil.rmtree(parent, ignore_errors=True)
