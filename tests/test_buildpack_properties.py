"""Property tests: whatever func.yaml, settings and the app tree hold (symlinks out of the app,
FIFOs, huge files, directories where files belong, NULs, hostile requirements), detect and
build never crash, exit only 0/100 (detect) or 0/1 (build) with a message, show nothing of a
file outside the app, and write nothing outside layers/.

A copy of the buildpack without its invoker wheel stops a valid build right after the
configuration is read (exit 1, "no invoker wheel"), so no example reaches pip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from conftest import cnb_host

HOSTILE = ["/", "..", "../../etc/x", "A=B", "a\x00b", "a\nb", "", ".", "x" * 300, "é", "$(id)", "${HOME}", "a b"]
text = st.one_of(st.sampled_from(HOSTILE), st.text(max_size=40))
scalar = st.one_of(text, st.integers(), st.booleans(), st.none(), st.floats(allow_nan=False))
env_entry = st.fixed_dictionaries({}, optional={"name": text, "value": st.one_of(scalar, st.lists(scalar, max_size=2))})
document = st.fixed_dictionaries({}, optional={
    "runtime": st.one_of(st.just("python"), text),
    "envs": st.one_of(st.lists(env_entry, max_size=4), scalar),
    "run": st.one_of(st.fixed_dictionaries({}, optional={"envs": st.lists(env_entry, max_size=4)}), scalar),
    "deploy": st.fixed_dictionaries({}, optional={"options": st.dictionaries(
        st.one_of(st.sampled_from(["scale", "resources"]), text),
        st.one_of(scalar, st.dictionaries(st.one_of(text, st.integers(), st.none()),
                                          st.one_of(scalar, st.floats(), st.dictionaries(text, st.floats(), max_size=2)),
                                          max_size=3)), max_size=3)}),
    "invoke": st.one_of(st.sampled_from(["http", "cloudevent"]), text),
})
raw_yaml = st.one_of(
    document.map(lambda d: yaml.safe_dump(d, allow_unicode=True, sort_keys=False).encode("utf-8")),
    st.binary(max_size=300),
    st.sampled_from([
        b"a: &a [1, 2]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\nc: [*b, *b, *b, *b, *b, *b, *b, *b]\nruntime: python\n",
        b"runtime: python\n" + b"x:\n" + b"".join(b"  " * i + b"- \n" for i in range(200)),
        b"runtime: python\nenvs: " + b"[" * 500 + b"]" * 500 + b"\n",
        b"runtime: python\n" + b"# pad\n" * 200_000,
    ]),
)
setting_value = st.one_of(text.map(lambda t: t.encode("utf-8", "surrogatepass")), st.binary(max_size=50))
platform_env = st.dictionaries(
    st.sampled_from(["BP_FUNCTION", "GOOGLE_FUNCTION_TARGET", "GOOGLE_FUNCTION_SOURCE", "GOOGLE_FUNCTION_SIGNATURE_TYPE",
                     "BP_LOG_LEVEL", "PIP_INDEX_URL", "BP_PIP_REQUIREMENT", "BPE_DEFAULT_A.B", "BPE_APPEND_PATH",
                     "BPE_DELIM_PATH", "BPE_X", "BPE_OVERRIDE_", "BPE_PREPEND_A=B"]), setting_value, max_size=3)
SECRET = b"SECRET-CONTENT-9c2e"
requirement_line = st.one_of(st.sampled_from([
    "humanize", "-r ../outside/secret.yaml", "-c /etc/passwd", "--target=/x", "-r sub.txt", "-r requirements.txt",
    "--requirement=file:///etc/hostname", "-r ${HOME}/x", "-r", "--constr ../outside/secret.yaml", "-e .", "é==1",
    "--log=/tmp/pyfunc-escape.log", "x \\", "-r fifo.txt", "-e ../outside", "x @ file:///etc", "/etc/passwd",
    "./pkg"]), st.text(max_size=30))
requirements = st.lists(requirement_line, max_size=4).map(lambda lines: "\n".join(lines).encode("utf-8", "surrogatepass"))
dependency = st.one_of(st.sampled_from(["humanize>=4", "--target=/x", "--no-index", "-r/etc/passwd", "x @ file:///etc",
                                        "requests[socks]==2.0; python_version>'3'", ""]), st.text(max_size=20))
pyproject = st.one_of(
    st.lists(dependency, max_size=3).map(lambda deps: ('[project]\nname = "f"\nversion = "1"\ndependencies = '
                                                       + "[" + ", ".join(f'"{d.encode("unicode_escape").decode()}"'
                                                                         for d in deps) + "]\n").encode()),
    st.binary(max_size=100))


#: Things that can sit where the buildpack expects a file: (kind, content strategy).
def entry(content):
    return st.one_of(st.none(), content.map(lambda c: ("bytes", c)),
                     st.sampled_from(["link-outside", "link-dangling", "link-device", "fifo", "directory", "huge"])
                     .map(lambda kind: (kind, b"")))


app_tree = st.fixed_dictionaries({
    "func.yaml": entry(raw_yaml),
    "requirements.txt": entry(requirements),
    "pyproject.toml": entry(pyproject),
    "sub.txt": entry(requirements),
    "fifo.txt": st.one_of(st.none(), st.just(("fifo", b""))),
})


@pytest.fixture(scope="module")
def no_wheel_buildpack(tmp_path_factory):
    if not (cnb_host.BUILDPACK / "vendor").is_dir():
        pytest.skip("run make buildpack")
    target = tmp_path_factory.mktemp("bp") / "buildpack"
    shutil.copytree(cnb_host.BUILDPACK, target, ignore=shutil.ignore_patterns("wheels"))
    return target


def snapshot(root: Path, skip: Path) -> dict[str, tuple[int, int, int]]:
    return {str(p): (p.lstat().st_mode, p.lstat().st_size, p.lstat().st_mtime_ns) for p in root.rglob("*")
            if skip not in p.parents and p != skip}


def make(path: Path, kind: str, content: bytes, outside: Path) -> None:
    if kind == "bytes":
        path.write_bytes(content)
    elif kind == "link-outside":
        path.symlink_to(outside / "secret.yaml")
    elif kind == "link-dangling":
        path.symlink_to(path.parent / "nowhere")
    elif kind == "link-device":
        path.symlink_to("/dev/zero")
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "directory":
        path.mkdir()
    elif kind == "huge":  # sparse: larger than any limit, instant to make, slow to read whole
        with open(path, "wb") as stream:
            stream.truncate(3 * 1024 ** 3)


def run_phases(root: Path, buildpack: Path, tree: dict, env_files: dict[str, bytes]):
    shutil.rmtree(root, ignore_errors=True)
    app, platform, layers, outside = root / "app", root / "platform", root / "layers", root / "outside"
    for directory in (app, platform / "env", layers, outside):
        directory.mkdir(parents=True)
    (app / "func.py").write_text("def main(req):\n    return 'ok'\n")
    (outside / "secret.yaml").write_bytes(b"runtime: python\nenvs:\n- name: A\n  value: " + SECRET + b"\n" + SECRET + b"\n")
    for name, item in tree.items():
        if item is not None:
            make(app / name, *item, outside)
    for name, value in env_files.items():
        (platform / "env" / name).write_bytes(value)
    before = snapshot(root, layers)
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "CNB_PLATFORM_DIR": str(platform),
           "CNB_BUILD_PLAN_PATH": str(root / "plan.toml"), "CNB_LAYERS_DIR": str(layers),
           "CNB_BP_PLAN_PATH": str(root / "plan.toml"), "CNB_BUILDPACK_DIR": str(buildpack)}
    detect = subprocess.run([str(buildpack / "bin" / "detect")], cwd=app, env=env, capture_output=True, timeout=60)
    build = subprocess.run([str(buildpack / "bin" / "build")], cwd=app, env=env, capture_output=True, timeout=60)
    after = snapshot(root, layers)
    after.pop(str(root / "plan.toml"), None)  # detect's own output file
    before.pop(str(root / "plan.toml"), None)
    return detect, build, before, after


def assert_well_behaved(detect, build, before, after) -> None:
    detect_out = (detect.stdout + detect.stderr).decode("utf-8", "replace")
    build_out = (build.stdout + build.stderr).decode("utf-8", "replace")
    assert detect.returncode in (0, 100), detect_out
    assert "Traceback" not in detect_out and "shell probe" not in detect_out
    assert build.returncode in (0, 1), build_out
    assert "Traceback" not in build_out and "failed unexpectedly" not in build_out
    if build.returncode == 1:
        assert "ERROR: " in build_out and len(build_out.strip()) > 20
    assert SECRET not in detect.stdout + detect.stderr + build.stdout + build.stderr, "a file outside the app was shown"
    assert after == before, "a phase wrote outside the layers directory"
    assert not Path("/tmp/pyfunc-escape.log").exists()


TREE = dict.fromkeys(["func.yaml", "requirements.txt", "pyproject.toml", "sub.txt", "fifo.txt"])


def func_yaml(content: bytes | None) -> dict:
    return {**TREE, "func.yaml": None if content is None else ("bytes", content)}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tree=app_tree, env_files=platform_env)
# Every failure Hypothesis ever found, kept so a fresh clone checks them without a local database:
@example(tree=func_yaml(b"\x00"), env_files={})  # yaml.reader.ReaderError escaped (issue 9)
@example(tree=func_yaml(b'runtime: python\nenvs:\n- name: A\n  value: "a\\0b"\n'), env_files={})  # ValueError: embedded null byte
@example(tree=func_yaml(b"runtime: !!int x\n"), env_files={})  # ValueError from PyYAML's int constructor
@example(tree=func_yaml(b"runtime: !!bool x\n"), env_files={})  # KeyError from PyYAML's bool constructor
@example(tree=func_yaml(None), env_files={"BP_FUNCTION": b"func.main\x00"})  # NUL in a setting
@example(tree={**TREE, "requirements.txt": ("fifo", b"")}, env_files={})  # a FIFO was skipped silently
@example(tree={**TREE, "requirements.txt": ("bytes", b"-r ../outside/secret.yaml\n")}, env_files={})  # shown by pip
@example(tree={**TREE, "pyproject.toml": ("bytes", b'[project]\ndependencies = ["--target=/x"]\n')}, env_files={})  # a pip option
@example(tree={**TREE, "func.yaml": ("huge", b"")}, env_files={})  # read whole before the size check
@example(tree=func_yaml(b"runtime: python\ndeploy:\n  options:\n    scale: {1: 2, a: 3}\n"), env_files={})  # TypeError in labels
@example(tree=func_yaml(b"options:\n  resources:\n    limits: {memory: .inf}\n"), env_files={})  # Infinity is no JSON
@example(tree=func_yaml(b"runtime: python\n"), env_files={"BP_PIP_REQUIREMENT": b"x" * 300})  # ENAMETOOLONG in detect
@example(tree={**TREE, "func.yaml": ("bytes", b"runtime: python\n"), "pyproject.toml": ("huge", b"")},
         env_files={})  # detect read a 3 GiB pyproject.toml whole looking for [tool.poetry]
def test_any_app_tree_func_yaml_and_settings(tmp_path, no_wheel_buildpack, tree, env_files):
    assert_well_behaved(*run_phases(tmp_path / "case", no_wheel_buildpack, tree, env_files))


@pytest.mark.parametrize("name", ["func.yaml", "requirements.txt", "pyproject.toml"])
def test_symlinks_pointing_outside_the_app(tmp_path, no_wheel_buildpack, name):
    detect, build, before, after = run_phases(tmp_path / "case", no_wheel_buildpack, {**TREE, name: ("link-outside", b"")}, {})
    assert_well_behaved(detect, build, before, after)
    assert f"{name} is a symlink to a file outside the app directory".encode() in build.stderr
