"""One dependency resolution of the invoker and the app, under the invoker lock (issues 10, 11),
through the real CNB lifecycle: conflicts fail the build naming both requirements, compatible pins
give one importable version, the invoker's modules are never shadowed, the invoker set is the lock."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import pytest
import requests

from conftest import ROOT, write_function
from test_lifecycle_e2e import fresh  # noqa: F401  (fresh is a fixture)

LOCK = ROOT / "buildpack" / "invoker.lock"
VERSIONS = """
import importlib.metadata

import flask
import werkzeug


def main(body):
    return {"flask": flask.__version__ if hasattr(flask, "__version__") else importlib.metadata.version("flask"),
            "flask-dist": importlib.metadata.version("flask"), "flask-file": flask.__file__,
            "werkzeug": importlib.metadata.version("werkzeug"), "werkzeug-file": werkzeug.__file__}
"""


def locked() -> dict[str, str]:
    return dict(re.findall(r"^([a-z0-9._-]+)==(\S+)", LOCK.read_text(), re.M))


def dists(packages: Path) -> dict[str, str]:
    found = {}
    for info in packages.glob("*.dist-info"):
        name, _, version = info.name[: -len(".dist-info")].partition("-")
        found[name.lower().replace("_", "-")] = version
    return found


@pytest.mark.parametrize("pin, app_named, invoker_named", [
    ("uvicorn==0.20.0", "uvicorn==0.20.0", "uvicorn<1,>=0.30"),
    ("h2<4", "h2<4", "h2<5,>=4.1"),
    ("werkzeug==2.0.3", "werkzeug==2.0.3", "flask<4,>=2.2"),
])
def test_an_app_pin_the_invoker_cannot_use_fails_the_build_naming_both(fresh, tmp_path, pin, app_named, invoker_named):
    write_function(tmp_path, {"func.yaml": "runtime: python\n", "func.py": "def main(body):\n    return 'ok'\n", "requirements.txt": pin + "\n"})
    built = fresh(tmp_path)
    out = built.result.stdout
    assert built.result.returncode != 0, out
    assert "The app's requirements conflict with the invoker's" in out
    assert f"The app requires: {app_named}" in out
    assert "The invoker (pyfunc 0.1.0) requires: " in out and invoker_named in out.split("The invoker (pyfunc")[1]
    assert "How to fix: change " + app_named in out
    assert "Traceback" not in out


def test_a_compatible_pin_of_an_invoker_package_gives_one_version(fresh, tmp_path):
    """flask==3.0.3 moves flask off the lock (the invoker accepts flask>=2.2,<4); Werkzeug stays locked."""
    assert locked()["flask"] != "3.0.3"
    write_function(tmp_path, {"func.yaml": "runtime: python\n", "func.py": VERSIONS, "requirements.txt": "flask==3.0.3\n"})
    built = fresh(tmp_path)
    out = built.result.stdout
    assert built.result.returncode == 0, out
    assert "move flask off the invoker lock" in out and "The app's version: flask 3.0.3" in out
    dependencies, invoker = built.layers / "dependencies" / "packages", built.layers / "invoker" / "packages"
    assert dists(dependencies) == {"flask": "3.0.3"}  # werkzeug, jinja2... are the lock's: not installed twice
    assert dists(invoker) == {**locked(), "pyfunc": "0.1.0"}
    answer = requests.post(built.launch(), json={}).json()
    assert answer["flask"] == answer["flask-dist"] == "3.0.3"
    assert answer["flask-file"].startswith(str(dependencies))
    assert answer["werkzeug"] == locked()["werkzeug"] and answer["werkzeug-file"].startswith(str(invoker))
    again = built.workspace.detect_and_build()  # cached: no pip, the same answer
    assert again.returncode == 0 and "Reusing cached layer" in again.stdout and "resolving again" not in again.stdout


def test_an_app_without_pins_gets_the_locked_invoker_set_exactly(fresh, tmp_path):
    write_function(tmp_path, {"func.yaml": "runtime: python\n", "func.py": VERSIONS, "requirements.txt": "humanize\n"})
    built = fresh(tmp_path)
    assert built.result.returncode == 0, built.result.stdout
    assert dists(built.layers / "invoker" / "packages") == {**locked(), "pyfunc": "0.1.0"}
    assert set(dists(built.layers / "dependencies" / "packages")) == {"humanize"}
    assert "off the invoker lock" not in built.result.stdout
    assert requests.post(built.launch(), json={}).json()["flask"] == locked()["flask"]


def test_an_app_package_that_ships_an_invoker_module_is_refused(fresh, tmp_path):
    """A distribution of the app with its own ``uvicorn`` package would break the invoker at import."""
    write_function(tmp_path, {"func.yaml": "runtime: python\n", "func.py": "def main(body):\n    return 'ok'\n",
                              "requirements.txt": "./shadow-1.0-py3-none-any.whl\n"})
    with zipfile.ZipFile(tmp_path / "shadow-1.0-py3-none-any.whl", "w") as wheel:
        wheel.writestr("uvicorn/__init__.py", "raise ImportError('not the real uvicorn')\n")
        wheel.writestr("shadow-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: shadow\nVersion: 1.0\n")
        wheel.writestr("shadow-1.0.dist-info/WHEEL",
                       "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        wheel.writestr("shadow-1.0.dist-info/RECORD", "")
    built = fresh(tmp_path)
    out = built.result.stdout
    assert built.result.returncode != 0, out
    assert "The app's dependency shadow installs the module 'uvicorn', which would hide the invoker's (uvicorn)" in out
    assert "How to fix: remove shadow" in out


def test_the_lock_covers_every_python_and_arch_with_hashes():
    """make lock's output: every entry exact and hashed; the compiled ones have wheels for 4 CPythons x 2 arches."""
    text = LOCK.read_text()
    entries = re.findall(r"^([a-z0-9._-]+)==(\S+)[^\n]*\\\n((?:\s+--hash=sha256:[0-9a-f]{64}(?: \\)?\n)+)", text, re.M)
    assert len(entries) == len(locked()) >= 10
    hashes = {name: len(block.split("--hash")) - 1 for name, _, block in entries}
    assert hashes["uvloop"] >= 8 and hashes["httptools"] >= 8 and hashes["flask"] == 1
    assert {"uvicorn", "h2", "flask", "cloudevents", "uvloop", "httptools"} <= set(hashes)
    assert locked()["cloudevents"].startswith("1.")  # INVOKER_PINS


def _site(root: Path, distributions: dict[str, list[str]]) -> Path:
    """A site-packages dir holding ``{"name-1.0": [files in its RECORD]}``."""
    for dist, files in distributions.items():
        info = root / f"{dist}.dist-info"
        info.mkdir(parents=True)
        (info / "RECORD").write_text("".join(f"{f},,\n" for f in [*files, f"{dist}.dist-info/RECORD"]))
        for name in files:
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text("")
    return root


def test_bytecode_caches_and_pth_files_of_single_file_modules_are_no_shadowing(tmp_path):
    """Single-file modules (typing_extensions.py, py.py) share the top-level __pycache__ in
    both layers (today's func template pulls pytest in): that is not a module hiding another."""
    import sys

    sys.path.insert(0, str(ROOT))
    from buildpack.errors import BuildpackError
    from buildpack.resolution import check_shadowing

    invoker = _site(tmp_path / "invoker", {"typing_extensions-4.15.0": [
        "typing_extensions.py", "__pycache__/typing_extensions.cpython-311.pyc", "distutils-precedence.pth"]})
    app = _site(tmp_path / "deps", {"pytest-8.4.0": [
        "py.py", "__pycache__/py.cpython-311.pyc", "pytest/__init__.py", "distutils-precedence.pth"]})
    check_shadowing(app, invoker)  # passes
    clash = _site(tmp_path / "clash", {"evil-1.0": ["typing_extensions.py"]})
    with pytest.raises(BuildpackError, match="typing_extensions"):
        check_shadowing(clash, invoker)
