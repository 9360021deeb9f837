"""Requirement sources through the real bin/build: nothing a user wrote reaches pip as an
option, and a requirements file (or a file it includes) that is a FIFO, a device or a symlink
leaving the app dir is a clear error: never a hang, never a silent skip, and nothing of a file
outside the app dir is shown.

Refusals happen before pip runs. Accepted sources are shown by a copy of the buildpack
without its invoker wheel: the build gets past the requirement check and stops at
"no invoker wheel" (exit 1), so no example reaches pip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import cnb_host

SECRET = "SECRET-CONTENT-4f1d"
FUNC = {"func.py": "def main(req):\n    return 'ok'\n", "func.yaml": "runtime: python\n"}


@pytest.fixture(scope="module")
def buildpacks(tmp_path_factory):
    if not (cnb_host.BUILDPACK / "vendor").is_dir():
        pytest.skip("run make buildpack")
    no_wheel = tmp_path_factory.mktemp("bp") / "buildpack"
    shutil.copytree(cnb_host.BUILDPACK, no_wheel, ignore=shutil.ignore_patterns("wheels"))
    return {"real": cnb_host.BUILDPACK, "no-wheel": no_wheel}


def tree(root: Path) -> dict[str, tuple]:
    return {str(p): (p.lstat().st_mode, p.lstat().st_size, p.lstat().st_mtime_ns) for p in root.rglob("*")}


def build(root: Path, buildpack: Path, files: dict[str, str], settings: dict[str, str] | None = None,
          prepare=None) -> tuple[int, str]:
    """bin/build in ``root/app``; returns (exit code, output). Asserts nothing changed outside layers/."""
    app, platform, layers, outside = root / "app", root / "platform", root / "layers", root / "outside"
    for directory in (app, platform / "env", layers, outside):
        directory.mkdir(parents=True)
    (outside / "secret.txt").write_text(f"{SECRET}\n--target=/tmp\n")
    for name, text in {**FUNC, **files}.items():
        (app / name).parent.mkdir(parents=True, exist_ok=True)
        (app / name).write_text(text)
    if prepare:
        prepare(app, outside)
    for name, value in (settings or {}).items():
        (platform / "env" / name).write_text(value)
    (root / "plan.toml").write_text("")
    before = {k: v for k, v in tree(root).items() if not k.startswith(str(layers))}
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "CNB_LAYERS_DIR": str(layers),
           "CNB_PLATFORM_DIR": str(platform), "CNB_BP_PLAN_PATH": str(root / "plan.toml"),
           "CNB_BUILDPACK_DIR": str(buildpack)}
    result = subprocess.run([str(buildpack / "bin" / "build")], cwd=app, env=env, capture_output=True, text=True,
                            timeout=120)  # a FIFO read would hang: the timeout turns that into a failure
    after = {k: v for k, v in tree(root).items() if not k.startswith(str(layers))}
    output = result.stdout + result.stderr
    assert after == before, f"bin/build changed files outside the layers directory:\n{output}"
    assert "Traceback" not in output and "failed unexpectedly" not in output, output
    assert SECRET not in output, "content of a file outside the app dir reached the build log"
    return result.returncode, output


def refused(root, buildpacks, files, settings=None, prepare=None) -> str:
    code, output = build(root, buildpacks["real"], files, settings, prepare)
    assert code == 1 and "ERROR: " in output and "How to fix" in output, output
    assert "Installing invoker" not in output, "the check must come before anything is installed"
    return output


# -- item: pyproject.toml dependencies and settings are requirements, never pip options ------

@pytest.mark.parametrize("entry", ["--target={escape}", "--log={escape}/pip.log", "--no-index", "-r/etc/passwd",
                                   "-e .", "requests; --target=/x", "  --prefix={escape}", "requests --user"])
def test_pyproject_dependency_that_is_not_pep508_is_refused(tmp_path, buildpacks, entry):
    entry = entry.format(escape=tmp_path / "escape")
    pyproject = f'[project]\nname = "f"\nversion = "1"\ndependencies = ["humanize", {entry!r}]\n'.replace("'", '"')
    output = refused(tmp_path / "case", buildpacks, {"pyproject.toml": pyproject})
    assert "pyproject.toml [project].dependencies[1]" in output and "is not a PEP 508 requirement" in output
    assert not (tmp_path / "escape").exists()


def test_pyproject_dependency_from_a_path_outside_the_app_is_refused(tmp_path, buildpacks):
    pyproject = '[project]\nname = "f"\nversion = "1"\ndependencies = ["evil @ file:///etc"]\n'
    output = refused(tmp_path / "case", buildpacks, {"pyproject.toml": pyproject})
    assert "installs evil from a path outside the app directory" in output


def test_valid_pep508_dependencies_pass_the_check(tmp_path, buildpacks):
    pyproject = ('[project]\nname = "f"\nversion = "1"\n'
                 'dependencies = ["humanize>=4", "requests[socks] ==2.32.3; python_version >= \\"3.8\\""]\n')
    code, output = build(tmp_path / "case", buildpacks["no-wheel"], {"pyproject.toml": pyproject})
    assert code == 1 and "no invoker wheel" in output, output


@pytest.mark.parametrize("value, message", [
    ("--target=/tmp/x", "BP_PIP_REQUIREMENT names '--target=/tmp/x', which is not a path inside the app directory"),
    ("/etc/passwd", "BP_PIP_REQUIREMENT names '/etc/passwd', which is not a path inside the app directory"),
    ("missing.txt", "BP_PIP_REQUIREMENT names missing.txt, which does not exist in the app directory"),
    ("../outside/secret.txt", "../outside/secret.txt is outside the app directory"),
])
def test_bp_pip_requirement_must_name_files_in_the_app(tmp_path, buildpacks, value, message):
    output = refused(tmp_path / "case", buildpacks, {}, {"BP_PIP_REQUIREMENT": value})
    assert message in output, output


def test_bp_pip_requirement_files_are_checked_and_used(tmp_path, buildpacks):
    files = {"requirements-prod.txt": "humanize\n-r extra/more.txt\n", "extra/more.txt": "-c ../constraints.txt\n",
             "constraints.txt": "humanize<5\n", "requirements.txt": "-r /etc/passwd\n"}  # not named: not read
    code, output = build(tmp_path / "case", buildpacks["no-wheel"], files, {"BP_PIP_REQUIREMENT": "requirements-prod.txt"})
    assert code == 1 and "no invoker wheel" in output, output


# -- item: requirement files that are FIFOs, devices or symlinks leaving the app dir ---------

def fifo(name):
    return lambda app, outside: os.mkfifo(app / name)


def link_outside(name):
    return lambda app, outside: (app / name).symlink_to(outside / "secret.txt")


@pytest.mark.parametrize("files, prepare, message", [
    pytest.param({}, fifo("requirements.txt"), "requirements.txt is a FIFO (named pipe), not a regular file", id="fifo"),
    pytest.param({"function/__init__.py": ""}, fifo("function/requirements.txt"),
                 "function/requirements.txt is a FIFO", id="function-fifo"),
    pytest.param({}, link_outside("requirements.txt"), "requirements.txt is a symlink to a file outside the app directory",
                 id="symlink-outside"),
    pytest.param({}, lambda app, outside: (app / "requirements.txt").symlink_to("/dev/zero"),
                 "requirements.txt is a symlink to a file outside the app directory", id="symlink-to-device"),
    pytest.param({}, lambda app, outside: (app / "requirements.txt").symlink_to(app / "nowhere.txt"),
                 "requirements.txt cannot be read", id="dangling-symlink"),
    pytest.param({}, lambda app, outside: (app / "requirements.txt").mkdir(), "requirements.txt is a directory",
                 id="directory"),
    pytest.param({"requirements.txt": "humanize\n-r ../outside/secret.txt\n"}, None,
                 "../outside/secret.txt (included by requirements.txt line 2) is outside the app directory", id="include-outside"),
    pytest.param({"requirements.txt": "-c /etc/passwd\n"}, None, "/etc/passwd (included by requirements.txt line 1)",
                 id="constraint-absolute"),
    pytest.param({"requirements.txt": "--requirement=file:///etc/hostname\n"}, None, "/etc/hostname (included by",
                 id="include-file-url"),
    pytest.param({"requirements.txt": "--constr \\\n  ../outside/secret.txt\n"}, None, "(included by requirements.txt line 1)",
                 id="include-abbreviated-continued"),
    pytest.param({"requirements.txt": "-r sub.txt\n"}, fifo("sub.txt"), "sub.txt (included by requirements.txt line 1) is a FIFO",
                 id="include-fifo"),
    pytest.param({"requirements.txt": "-r${HOME}/x.txt\n"}, None, "a path built from an environment variable", id="include-env"),
    pytest.param({"requirements.txt": "-r ftp://example.invalid/x.txt\n"}, None, "neither a file nor an http(s) URL",
                 id="include-other-scheme"),
    pytest.param({"requirements.txt": "humanize\n-e ../outside\n"}, None,
                 "requirements.txt line 2 installs from ../outside, which is outside the app directory", id="editable-outside"),
    pytest.param({"requirements.txt": "evil @ file:///etc\n"}, None, "installs from /etc, which is outside", id="file-url-outside"),
    pytest.param({"requirements.txt": "/etc/passwd\n"}, None, "installs from /etc/passwd, which is outside", id="path-outside"),
])
def test_requirement_file_that_is_not_a_regular_file_in_the_app(tmp_path, buildpacks, files, prepare, message):
    output = refused(tmp_path / "case", buildpacks, files, prepare=prepare)
    assert message in output, output


@pytest.mark.skipif(os.geteuid() != 0, reason="making a device node needs root")
def test_requirements_txt_that_is_a_device(tmp_path, buildpacks):
    import stat

    output = refused(tmp_path / "case", buildpacks, {},
                     prepare=lambda app, outside: os.mknod(app / "requirements.txt", stat.S_IFCHR | 0o644, os.makedev(1, 5)))
    assert "requirements.txt is a character device, not a regular file" in output


def test_includes_inside_the_app_and_include_cycles_pass(tmp_path, buildpacks):
    files = {"requirements.txt": "-r base.txt  # shared pins\n--requirement sub/dev.txt\n./vendored[extra]\n-e .\n",
             "base.txt": "humanize\n-r requirements.txt\n", "sub/dev.txt": "-c ../base.txt\n"}
    code, output = build(tmp_path / "case", buildpacks["no-wheel"], files,
                         prepare=lambda app, outside: (app / "linked.txt").symlink_to(app / "base.txt"))
    assert code == 1 and "no invoker wheel" in output, output


def test_pyproject_of_toml_1_0_with_mixed_type_arrays_is_read(tmp_path, buildpacks):
    """TOML 1.0 allows arrays of mixed types; the old toml 0.10 reader refused them or dropped the 2."""
    pyproject = ('[project]\nname = "f"\nversion = "1"\ndependencies = ["humanize"]\n'
                 '[tool.example]\nmixed = [1, "two", 3.0]\nnested = {b = [{c = 1}, 2]}\n')
    code, output = build(tmp_path / "case", buildpacks["no-wheel"], {"pyproject.toml": pyproject})
    assert code == 1 and "no invoker wheel" in output, output


def test_pyproject_that_is_not_toml_names_the_line(tmp_path, buildpacks):
    output = refused(tmp_path / "case", buildpacks, {"pyproject.toml": '[project]\nname = = "x"\n'})
    assert "pyproject.toml is not valid TOML: Invalid value (at line 2, column 8)" in output


# -- through the real lifecycle: a custom BP_PIP_REQUIREMENT with and without a provider -----

APP = {"func.py": "import humanize\n\ndef main(body):\n    return humanize.naturalsize(len(body))\n",
       "func.yaml": "runtime: python\n", "req/prod.txt": "humanize==4.12.3\n"}


@pytest.mark.parametrize("with_provider", [True, False], ids=["pip-install-provider", "installed-here"])
def test_custom_bp_pip_requirement_is_installed_once(lifecycle, tmp_path, with_provider):
    import requests

    from conftest import write_function
    from test_lifecycle_e2e import Built

    write_function(tmp_path / "app", APP)
    group = (lifecycle.HOST_PYTHON_BP, lifecycle.SITE_PACKAGES_BP, lifecycle.BUILDPACK) if with_provider else \
        (lifecycle.HOST_PYTHON_BP, lifecycle.BUILDPACK)
    built = Built(lifecycle, tmp_path / "app", {"BP_PIP_REQUIREMENT": "req/prod.txt"}, buildpacks=group,
                  optional=(lifecycle.SITE_PACKAGES_BP,))
    try:
        out = built.result.stdout
        assert built.result.returncode == 0, out
        if with_provider:
            assert "pass: test/site-packages@0.0.1" in out and "Installed req/prod.txt" in out
            assert "req/prod.txt installed by a provider of this group" in out
            assert not (built.layers / "dependencies").exists()
        else:
            assert "Installing req/prod.txt" in out
            assert (built.layers / "dependencies" / "packages" / "humanize").is_dir()
        assert requests.post(built.launch(), data=b"x" * 2000).text == "2.0 kB"
    finally:
        built.cleanup()


def test_pip_variables_of_the_platform_env_never_reach_pip(lifecycle, tmp_path):
    """The lifecycle puts every build setting in bin/build's environment; pip reads PIP_* there
    as options, so only the documented PIP_* settings are passed on."""
    import tempfile

    from conftest import write_function
    from test_lifecycle_e2e import Built

    escape = Path(tempfile.mkdtemp(prefix="pyfunc-escape-"))
    escape.chmod(0o777)  # writable by the build user: pip could write here if it were told to
    (escape / "pip.conf").write_text(f"[install]\ntarget = {escape}/conf-target\n")
    (escape / "pip.conf").chmod(0o644)
    write_function(tmp_path / "app", {**APP, "requirements.txt": "humanize==4.12.3\n"})
    settings = {"PIP_LOG": f"{escape}/pip.log", "PIP_TARGET": f"{escape}/target", "PIP_SRC": f"{escape}/src",
                "PIP_CONFIG_FILE": f"{escape}/pip.conf", "PIP_PREFIX": f"{escape}/prefix"}
    built = Built(lifecycle, tmp_path / "app", settings)
    try:
        assert built.result.returncode == 0, built.result.stdout
        assert (built.layers / "dependencies" / "packages" / "humanize").is_dir()
        assert sorted(p.name for p in escape.iterdir()) == ["pip.conf"], "pip wrote outside the layers"
    finally:
        built.cleanup()
        shutil.rmtree(escape, ignore_errors=True)
