"""bin/build on bad input: a clear message, exit 1, no traceback, nothing written outside layers/.

These cases fail before pip runs, so bin/build is called directly (the lifecycle's contract:
env CNB_LAYERS_DIR, CNB_PLATFORM_DIR, CNB_BP_PLAN_PATH, working directory = app dir).
The same failures through the real lifecycle are in test_lifecycle_e2e.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import cnb_host, no_python_path

BUILDPACK = cnb_host.BUILDPACK


def snapshot(root: Path, skip: Path) -> dict[str, tuple[int, int]]:
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")
            if skip not in p.parents and p != skip and not p.is_symlink()}


def build(tmp_path: Path, files: dict[str, str | bytes], settings: dict[str, str] | None = None, prepare=None):
    app, platform, layers = tmp_path / "app", tmp_path / "platform", tmp_path / "layers"
    for directory in (app, platform / "env", layers):
        directory.mkdir(parents=True)
    for name, content in files.items():
        (app / name).parent.mkdir(parents=True, exist_ok=True)
        (app / name).write_bytes(content if isinstance(content, bytes) else content.encode())
    for name, value in (settings or {}).items():
        (platform / "env" / name).write_text(value)
    if prepare:
        prepare(app)
    (tmp_path / "plan.toml").write_text("")
    before = snapshot(tmp_path, layers)
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "CNB_LAYERS_DIR": str(layers),
           "CNB_PLATFORM_DIR": str(platform), "CNB_BP_PLAN_PATH": str(tmp_path / "plan.toml"),
           "CNB_BUILDPACK_DIR": str(BUILDPACK)}
    result = subprocess.run([str(BUILDPACK / "bin" / "build")], cwd=app, env=env, capture_output=True, text=True,
                            timeout=120)
    assert snapshot(tmp_path, layers) == before, "bin/build wrote outside the layers directory"
    return result


def failed(result) -> str:
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "Traceback" not in output and "failed unexpectedly" not in output
    assert "ERROR: " in result.stderr
    return output


@pytest.fixture(autouse=True)
def _assembled():
    if not (BUILDPACK / "vendor").is_dir():
        pytest.skip("run make buildpack")


FUNC = {"func.py": "def main(req): return 'ok'\n"}


def test_func_yaml_not_yaml(tmp_path):
    out = failed(build(tmp_path, {**FUNC, "func.yaml": "name: f\nruntime: python\nenvs: [\n  - {name: A\n"}))
    assert "func.yaml is not valid YAML at line" in out and "How to fix" in out


def test_func_yaml_not_a_mapping(tmp_path):
    out = failed(build(tmp_path, {**FUNC, "func.yaml": "- runtime: python\n"}))
    assert "must be a mapping" in out


@pytest.mark.parametrize("yaml_text, path, line", [
    pytest.param("runtime: python\nenvs: yes-please\n", "envs", 2, id="envs-not-a-list"),
    pytest.param("runtime: python\nrun:\n  envs:\n  - name: A\n    value: [1]\n", "run.envs[0].value", 5, id="value-a-list"),
    pytest.param("runtime: python\ndeploy:\n  options:\n    scale:\n      min: lots\n", "deploy.options.scale.min", 5, id="scale-min-text"),
])
def test_wrong_types_name_field_path_and_line(tmp_path, yaml_text, path, line):
    out = failed(build(tmp_path, {**FUNC, "func.yaml": yaml_text}))
    assert f"{path} (line {line})" in out


@pytest.mark.parametrize("name", ["A=B", "../../x", "", "a/b", "1ABC"])
def test_invalid_env_names(tmp_path, name):
    yaml_text = f"runtime: python\nenvs:\n- name: {name!r}\n  value: v\n"
    out = failed(build(tmp_path, {**FUNC, "func.yaml": yaml_text}))
    assert "envs[0].name (line 3)" in out
    assert not list((tmp_path / "layers").rglob("*.default"))


@pytest.mark.parametrize("value", ["x", "a..b", "../m.f", "m.f.", "m f.main"])
def test_malformed_bp_function(tmp_path, value):
    out = failed(build(tmp_path, FUNC, {"BP_FUNCTION": value}))
    assert f"BP_FUNCTION={value!r} is not a function reference" in out and "module.function" in out


def test_not_utf8(tmp_path):
    out = failed(build(tmp_path, {**FUNC, "func.yaml": b"runtime: python\nname: \xff\n"}))
    assert "not UTF-8" in out


def test_alias_bomb_is_refused(tmp_path):
    lines = ["runtime: python", "a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join(f'*a{i - 1}' for _ in range(10))}]" for i in range(1, 9)]
    out = failed(build(tmp_path, {**FUNC, "func.yaml": "\n".join(lines) + "\n"}))
    assert "too large or too deeply nested" in out


def test_no_python3_on_path_says_which_buildpack_is_missing(tmp_path):
    app = tmp_path / "app"
    app.mkdir()
    result = subprocess.run([str(BUILDPACK / "bin" / "build")], cwd=app, capture_output=True, text=True,
                            env={"PATH": no_python_path(tmp_path), "CNB_LAYERS_DIR": str(tmp_path)})
    assert result.returncode == 1 and "cpython" in result.stderr


@pytest.mark.parametrize("files, settings, message", [
    pytest.param({"func.yaml": b"\x00"}, {}, "func.yaml holds the character U+0000 at line 1", id="nul-byte-in-func-yaml"),
    pytest.param({"func.yaml": b"runtime: python\nenvs:\n- name: A\n  value: \"a\\0b\"\n"}, {},
                 "func.yaml envs[0].value (A, line 3) holds a NUL character", id="nul-in-env-value"),
    pytest.param({"func.yaml": b"runtime: python\n\x1b\n"}, {}, "U+001B at line 2", id="control-character"),
    pytest.param({"func.yaml": b"runtime: python\nenvs:\n- name: A\n  value: '{{ env:../../etc/passwd }}'\n"}, {},
                 "is not an environment variable name", id="env-reference-not-a-name"),
    pytest.param({"func.yaml": b"runtime: python\ndeploy:\n  options:\n    scale: {min: 1, target: .inf}\n"}, {},
                 "func.yaml options scale holds a number that is not finite", id="infinite-option"),
    pytest.param({}, {"BP_FUNCTION": "func.ma\x00in"}, "The build setting BP_FUNCTION holds a NUL character",
                 id="nul-in-setting"),
    pytest.param({}, {"BPE_DEFAULT_X": "a\x00b"}, "BPE_DEFAULT_X holds a NUL character", id="nul-in-bpe-setting"),
    pytest.param({}, {"PIP_INDEX_URL": "http://x\x00"}, "PIP_INDEX_URL holds a NUL character", id="nul-in-pip-setting"),
    pytest.param({"func.yaml": b"runtime: python\nenvs:\n- name: A\n  value: '{{ env:REF }}'\n"}, {"REF": "x\x00y"},
                 "REF holds a NUL character", id="nul-in-referenced-setting"),
])
def test_nul_and_control_characters_are_a_clear_error(tmp_path, files, settings, message):
    out = failed(build(tmp_path, {**FUNC, **files}, settings))
    assert message in out and "How to fix" in out
    assert "unexpectedly" not in out


def sparse(size: int):
    def make(app: Path) -> None:
        with open(app / "func.yaml", "wb") as stream:
            stream.truncate(size)
    return make


@pytest.mark.parametrize("prepare", [
    pytest.param(lambda app: (app / "func.yaml").write_bytes(b"runtime: python\n" + b"#" * (1024 * 1024)), id="1MiB-and-a-bit"),
    pytest.param(sparse(4 * 1024 ** 3), id="4GiB-sparse"),  # read whole, this would take minutes and 4 GiB of memory
])
def test_func_yaml_larger_than_1_mib_is_refused_before_it_is_read_whole(tmp_path, prepare):
    out = failed(build(tmp_path, FUNC, prepare=prepare))
    assert "func.yaml is larger than 1048576 bytes (1024 KiB)" in out and "How to fix" in out


def test_func_yaml_of_exactly_1_mib_is_read(tmp_path):
    text = b"runtime: python\nenvs:\n- name: A\n  value: x\n"
    out = failed(build(tmp_path, {**FUNC, "func.yaml": text + b"#" * (1024 * 1024 - len(text))},
                       {"BP_FUNCTION": "not-a-reference"}))  # stops right after func.yaml was read
    assert "BP_FUNCTION='not-a-reference' is not a function reference" in out


@pytest.mark.parametrize("prepare, message", [
    pytest.param(lambda app: os.mkfifo(app / "func.yaml"), "func.yaml is a FIFO (named pipe), not a regular file", id="fifo"),
    pytest.param(lambda app: (app / "func.yaml").mkdir(), "func.yaml is a directory, not a regular file", id="directory"),
    pytest.param(lambda app: (app / "func.yaml").symlink_to("/etc/passwd"),
                 "func.yaml is a symlink to a file outside the app directory", id="symlink-outside"),
    pytest.param(lambda app: (app / "func.yaml").symlink_to(app / "gone.yaml"), "func.yaml cannot be read", id="dangling"),
])
def test_func_yaml_that_is_not_a_regular_file_in_the_app(tmp_path, prepare, message):
    out = failed(build(tmp_path, FUNC, prepare=prepare))
    assert message in out and "root:" not in out


def test_source_date_epoch_that_is_not_seconds_fails_before_anything_is_installed(tmp_path):
    out = failed(build(tmp_path, {**FUNC, "requirements.txt": "humanize\n"}, {"SOURCE_DATE_EPOCH": "last tuesday"}))
    assert "SOURCE_DATE_EPOCH='last tuesday' is not a time" in out and "How to fix" in out
    assert not (tmp_path / "layers" / "invoker").exists()
