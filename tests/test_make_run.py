"""``make run`` (pack build + docker run on the engine) and ``make run-host``, as a user runs them."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import requests

from conftest import ROOT, cnb_host


@pytest.fixture
def tmpdir_for_make():
    """A TMPDIR of the test's own (the system one is shared with other processes), traversable by the
    unprivileged user the host lifecycle runs as; what ``make run`` leaves in it is the test's to check."""
    directory = Path(tempfile.mkdtemp(prefix="pyfunc-make-run-tmp-"))
    directory.chmod(0o755)
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def make_run():
    """``make_run(target, app, ...)`` starts a ``MakeRun``; whatever a test leaves running, the teardown stops.

    A failed assertion before a test's own ``stop()`` would otherwise leave ``make run`` and its
    server behind, holding a port and the engine's container for the tests after it. The teardown
    stops it as ``kill`` does, so ``make run`` still removes its container on the way out.
    """
    runs: list[MakeRun] = []

    def start(*args, **kwargs) -> MakeRun:
        runs.append(MakeRun(*args, **kwargs))
        return runs[-1]

    yield start
    for run in runs:
        if run.process.poll() is None:
            run.stop(signal.SIGTERM)


def leftovers(directory: Path) -> set[str]:
    """Per-run copies (``pyfunc-stage-*``, ``pyfunc-run-stage-*``); ``pyfunc-run`` is the per-app cache."""
    return {p.name for p in directory.iterdir() if p.name != "pyfunc-run"}


class MakeRun:
    """``make TARGET APP=... PORT=...`` in its own session; ``stop(sig)`` signals make alone, as ``kill`` does."""

    def __init__(self, target: str, app: Path, settings: dict[str, str] | None = None,
                 tmpdir: Path | None = None) -> None:
        self.port = cnb_host.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        args = [f"{k}={v}" for k, v in (settings or {}).items()]
        self.log = tempfile.TemporaryFile(mode="w+")
        self.started = time.monotonic()
        self.process = subprocess.Popen(["make", "--no-print-directory", target, f"APP={app}", f"PORT={self.port}", *args],
                                        cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
                                        env={**os.environ, **({"TMPDIR": str(tmpdir)} if tmpdir else {})})

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read()

    def wait_serving(self, timeout: float = 900) -> float:
        """Seconds from ``make`` to the first 200 on /healthz/ready."""
        while time.monotonic() - self.started < timeout:
            assert self.process.poll() is None, self.output()
            try:
                if requests.get(self.url + "/healthz/ready", timeout=2).status_code == 200:
                    return time.monotonic() - self.started
            except requests.ConnectionError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"make run did not serve within {timeout}s:\n{self.output()}")

    def stop(self, sig: int, group: bool = False) -> int:
        """Signal make alone (``kill``), or its whole process group (Ctrl-C at a terminal)."""
        if group:
            os.killpg(self.process.pid, sig)
        else:
            self.process.send_signal(sig)
        try:
            return self.process.wait(90)
        finally:
            if self.process.poll() is None:
                os.killpg(self.process.pid, signal.SIGKILL)


def assert_stopped(url: str) -> None:
    with pytest.raises(requests.ConnectionError):
        requests.get(url, timeout=5)


def test_make_run_builds_an_image_serves_it_and_kill_stops_it(docker_engine, tmpdir_for_make, make_run):
    first = make_run("run", ROOT / "samples" / "http", tmpdir=tmpdir_for_make)
    first.wait_serving()
    assert "pack build pyfunc-run/http-" in first.output() or "is up to date" in first.output()
    assert requests.get(first.url + "/?name=Ada").json()["greeting"] == "Hello, Ada!"
    first.stop(signal.SIGTERM)  # a plain `kill` of make
    assert_stopped(first.url)
    second = make_run("run", ROOT / "samples" / "http", tmpdir=tmpdir_for_make)
    seconds = second.wait_serving()
    assert "is up to date with" in second.output(), second.output()  # unchanged app: no pack build at all
    print(f"second make run served after {seconds:.1f}s")
    second.stop(signal.SIGINT, group=True)  # Ctrl-C reaches make and run.py (the terminal's process group)
    assert_stopped(second.url)
    names = docker_engine.engine.docker("ps", "-a", "--format", "{{.Names}}").stdout.split()
    assert not [name for name in names if name.startswith("pyfunc-run-http-")], names
    assert not leftovers(tmpdir_for_make), leftovers(tmpdir_for_make)


def test_make_run_passes_project_toml_and_command_line_settings(docker_engine, tmp_path, make_run):
    ff = make_run("run", ROOT / "samples" / "functions-framework")  # GOOGLE_FUNCTION_TARGET from project.toml
    ff.wait_serving()
    assert requests.get(ff.url + "/?name=Cloud").json() == {"message": "Hello Cloud!"}
    ff.stop(signal.SIGTERM)
    app = tmp_path / "http"  # same basename as samples/http: its own image and caches (keyed by full path)
    app.mkdir()
    (app / "handlers.py").write_text("def ping(body):\n    return 'pong'\n")
    (app / "func.yaml").write_text("runtime: python\n")
    custom = make_run("run", app, {"BP_FUNCTION": "handlers.ping"})
    custom.wait_serving()
    assert requests.get(custom.url).text == "pong"
    custom.stop(signal.SIGTERM)
    assert_stopped(custom.url)


def test_make_run_host_honours_project_toml_and_leaves_nothing_in_tmp(lifecycle, tmpdir_for_make, make_run):
    run = make_run("run-host", ROOT / "samples" / "functions-framework", tmpdir=tmpdir_for_make)
    run.wait_serving(timeout=600)
    assert requests.get(run.url + "/?name=Host").json() == {"message": "Hello Host!"}
    run.stop(signal.SIGTERM)
    assert_stopped(run.url)
    for debug_line in ("Timer: ", "Parsing inputs...", "Ensuring privileges..."):
        assert debug_line not in run.output(), run.output()  # the lifecycle at info level, as pack shows it
    assert (tmpdir_for_make / "pyfunc-run").is_dir()  # it did use this TMPDIR
    assert not leftovers(tmpdir_for_make), leftovers(tmpdir_for_make)


def test_assemble_is_skipped_while_its_inputs_are_unchanged():
    import sys

    command = [sys.executable, str(ROOT / "tools" / "assemble.py"), str(ROOT / "build" / "buildpack")]
    subprocess.run(command, check=True, capture_output=True)
    before = (ROOT / "build" / "buildpack" / "wheels").stat().st_mtime_ns
    again = subprocess.run(command, check=True, capture_output=True, text=True)
    assert "is up to date" in again.stdout  # no pip: `make run` and `make package` cost nothing when unchanged
    assert (ROOT / "build" / "buildpack" / "wheels").stat().st_mtime_ns == before
