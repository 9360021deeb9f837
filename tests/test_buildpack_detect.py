"""bin/detect: the python3 path and the shell path give the same answer on the same app."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
try:
    import tomllib as toml
except ModuleNotFoundError:  # Python 3.10
    import tomli as toml

from conftest import cnb_host, no_python_path

BUILDPACK = cnb_host.BUILDPACK

APPS = {
    "bp-function-platform": ({"x.py": "def f(): pass\n"}, {"BP_FUNCTION": "x.f"}, True),
    "google-target": ({"main.py": "def hello(request): pass\n"}, {"GOOGLE_FUNCTION_TARGET": "hello"}, True),
    "runtime-python": ({"func.yaml": "name: f\nruntime: python\n"}, {}, True),
    "with-requirements": ({"func.yaml": "runtime: python\n", "requirements.txt": "humanize\n"}, {}, True),
    "poetry-project": ({"func.yaml": "runtime: python\n", "pyproject.toml": "[tool.poetry]\nname = 'f'\n"}, {}, True),
    "requirements-and-poetry": ({"func.yaml": "runtime: python\n", "requirements.txt": "x\n",
                                 "pyproject.toml": "[project]\nname = 'f'\n\n[tool.poetry.dependencies]\n"}, {}, True),
    "runtime-quoted": ({"func.yaml": "name: f\nruntime: 'python'  # the runtime\n"}, {}, True),
    "runtime-go": ({"func.yaml": "runtime: go\n", "func.py": "def main(req): pass\n"}, {}, False),
    "runtime-node-dq": ({"func.yaml": 'runtime: "node"\n'}, {}, False),
    "no-runtime-with-source": ({"func.yaml": "name: f\n", "func.py": "def main(req): pass\n"}, {}, True),
    "no-runtime-knative-package": ({"func.yaml": "name: f\n", "function/func.py": "x = 1\n"}, {}, True),
    "no-runtime-no-source": ({"func.yaml": "name: f\n", "README.md": "hi\n"}, {}, False),
    "no-runtime-hidden-source": ({"func.yaml": "name: f\n", ".hidden.py": "x = 1\n"}, {}, False),
    "nested-runtime-only": ({"func.yaml": "build:\n  runtime: go\n", "func.py": "x = 1\n"}, {}, True),
    "malformed-yaml-python": ({"func.yaml": "runtime: python\nenvs: [unclosed\n"}, {}, True),
    "not-utf8": ({"func.yaml": b"runtime: python\nname: \xff\xfe\n"}, {}, True),
    "crlf": ({"func.yaml": b"runtime: python\r\n", "func.py": "x = 1\n"}, {}, True),
    "empty-platform-setting": ({"func.py": "x = 1\n"}, {"BP_FUNCTION": ""}, False),
    "plain-python-app": ({"app.py": "print(1)\n", "requirements.txt": "flask\n"}, {}, False),
    "empty": ({}, {}, False),
    "bp-pip-requirement": ({"func.yaml": "runtime: python\n", "req/prod.txt": "x\n"},
                           {"BP_PIP_REQUIREMENT": "req/prod.txt"}, True),
    "bp-pip-requirement-two": ({"func.yaml": "runtime: python\n", "a.txt": "x\n", "b.txt": "y\n"},
                               {"BP_PIP_REQUIREMENT": "a.txt b.txt"}, True),
    "bp-pip-requirement-one-missing": ({"func.yaml": "runtime: python\n", "a.txt": "x\n", "requirements.txt": "y\n"},
                                       {"BP_PIP_REQUIREMENT": "a.txt b.txt"}, True),
    "bp-pip-requirement-blank": ({"func.yaml": "runtime: python\n", "requirements.txt": "y\n"},
                                 {"BP_PIP_REQUIREMENT": " \n"}, True),
    "bp-pip-requirement-glob": ({"func.yaml": "runtime: python\n", "a.txt": "x\n"}, {"BP_PIP_REQUIREMENT": "*.txt"}, True),
}


def make_app(tmp_path: Path, files: dict, settings: dict) -> tuple[Path, Path]:
    app, platform = tmp_path / "app", tmp_path / "platform"
    (platform / "env").mkdir(parents=True)
    app.mkdir()
    for name, content in files.items():
        path = app / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    for name, value in settings.items():
        (platform / "env" / name).write_text(value)
    return app, platform


def run_detect(app: Path, platform: Path, plan: Path, path: str) -> subprocess.CompletedProcess:
    env = {"PATH": path, "CNB_PLATFORM_DIR": str(platform), "CNB_BUILD_PLAN_PATH": str(plan),
           "CNB_BUILDPACK_DIR": str(BUILDPACK)}
    return subprocess.run([str(BUILDPACK / "bin" / "detect")], cwd=app, env=env, capture_output=True, text=True)


@pytest.fixture(autouse=True)
def _assembled():
    if not (BUILDPACK / "vendor").is_dir():
        pytest.skip("run make buildpack")


@pytest.mark.parametrize("name", APPS)
def test_python_and_shell_paths_agree(tmp_path, name):
    files, settings, expected = APPS[name]
    app, platform = make_app(tmp_path, files, settings)
    with_python = run_detect(app, platform, tmp_path / "plan-py.toml", f"{Path(sys.executable).parent}:/usr/bin:/bin")
    without = run_detect(app, platform, tmp_path / "plan-sh.toml", no_python_path(tmp_path))
    assert "Traceback" not in with_python.stdout + with_python.stderr
    assert "shell probe" not in with_python.stderr  # the python path answered itself
    assert with_python.returncode == without.returncode == (0 if expected else 100)
    assert with_python.stdout.strip().splitlines()[-1] == without.stdout.strip().splitlines()[-1]  # same reason
    if expected:
        assert toml.loads((tmp_path / "plan-py.toml").read_text()) == toml.loads((tmp_path / "plan-sh.toml").read_text())


def test_plan_requires_cpython_for_build_and_launch_and_pip_for_build(tmp_path):
    app, platform = make_app(tmp_path, {"func.yaml": "runtime: python\n"}, {})
    assert run_detect(app, platform, tmp_path / "plan.toml", f"{Path(sys.executable).parent}:/usr/bin:/bin").returncode == 0
    plan = toml.loads((tmp_path / "plan.toml").read_text())
    assert plan["requires"] == [
        {"name": "cpython", "metadata": {"build": True, "launch": True}},
        {"name": "pip", "metadata": {"build": True}},
    ]


def test_root_requirements_add_a_site_packages_alternative(tmp_path):
    app, platform = make_app(tmp_path, {"func.yaml": "runtime: python\n", "requirements.txt": "x\n"}, {})
    assert run_detect(app, platform, tmp_path / "plan.toml", f"{Path(sys.executable).parent}:/usr/bin:/bin").returncode == 0
    plan = toml.loads((tmp_path / "plan.toml").read_text())
    assert [r["name"] for r in plan["requires"]] == ["cpython", "pip", "site-packages", "pyfunc-site-packages"]
    assert plan["provides"] == [{"name": "pyfunc-site-packages"}]
    assert [r["name"] for r in plan["or"][0]["requires"]] == ["cpython", "pip", "pyfunc-dependencies"]
    assert plan["or"][0]["provides"] == [{"name": "pyfunc-dependencies"}]


def test_failure_says_what_it_looked_for(tmp_path):
    app, platform = make_app(tmp_path, {"index.js": "1"}, {})
    result = run_detect(app, platform, tmp_path / "plan.toml", f"{Path(sys.executable).parent}:/usr/bin:/bin")
    assert result.returncode == 100
    assert "no BP_FUNCTION" in result.stdout and "no func.yaml" in result.stdout
    assert "add a func.yaml with the line runtime: python" in result.stdout  # what to do about it


def test_the_readme_s_first_example_detects_as_shown(tmp_path):
    """The README opens with a func.py and a func.yaml: together they are a function."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    blocks = re.findall(r"```(?:python|yaml)\n# (\S+)\n(.*?)```", readme, re.S)
    files = dict(blocks[:2])
    assert set(files) == {"func.py", "func.yaml"}, blocks[:2]
    app, platform = make_app(tmp_path, files, {})
    result = run_detect(app, platform, tmp_path / "plan.toml", f"{Path(sys.executable).parent}:/usr/bin:/bin")
    assert result.returncode == 0, result.stdout
    checked = subprocess.run([sys.executable, "-m", "pyfunc", "check", "-s", str(app)], capture_output=True, text=True)
    assert checked.returncode == 0 and "style:    pyfunc" in checked.stdout, checked.stdout + checked.stderr


def test_app_pythonpath_does_not_reach_the_buildpack(tmp_path):
    """A broken module named like a vendored one, on PYTHONPATH, must not be imported by detect."""
    app, platform = make_app(tmp_path, {"func.yaml": "runtime: python\n", "toml.py": "raise SystemExit(7)\n"}, {})
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "PYTHONPATH": str(app),
           "CNB_PLATFORM_DIR": str(platform), "CNB_BUILD_PLAN_PATH": str(tmp_path / "plan.toml")}
    result = subprocess.run([str(BUILDPACK / "bin" / "detect")], cwd=app, env=env, capture_output=True, text=True)
    assert result.returncode == 0 and "shell probe" not in result.stderr
    assert toml.loads((tmp_path / "plan.toml").read_text())["requires"][0]["name"] == "cpython"


@pytest.mark.parametrize("setting, files, provider", [
    ("req/prod.txt", {"req/prod.txt": "x\n"}, True),
    ("a.txt b.txt", {"a.txt": "x\n", "b.txt": "y\n"}, True),
    ("a.txt b.txt", {"a.txt": "x\n", "requirements.txt": "y\n"}, False),  # pip-install would not detect
])
def test_bp_pip_requirement_keeps_the_site_packages_alternative(tmp_path, setting, files, provider):
    """Paketo pip-install provides site-packages for BP_PIP_REQUIREMENT's files: the plan must still ask for it."""
    app, platform = make_app(tmp_path, {"func.yaml": "runtime: python\n", **files}, {"BP_PIP_REQUIREMENT": setting})
    for path in (f"{Path(sys.executable).parent}:/usr/bin:/bin", no_python_path(tmp_path)):
        assert run_detect(app, platform, tmp_path / "plan.toml", path).returncode == 0
        plan = toml.loads((tmp_path / "plan.toml").read_text())
        assert ("site-packages" in [r["name"] for r in plan["requires"]]) is provider, plan
