"""Shared fixtures: the real invoker as a subprocess, the real lifecycle, scratch function dirs."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import textwrap
import time
from pathlib import Path
from typing import Any, Callable

import pytest
from hypothesis import settings as hypothesis_settings

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

import cnb_host  # noqa: E402
from engine_harness import docker_engine, engine_registry  # noqa: E402,F401  (session fixtures: the real-engine tests)

# Property tests: the same examples on every CI run (no randomness, no example database, so a
# fresh clone never depends on a local .hypothesis/); random exploration on a developer's
# machine. Every failure found is kept in the test as an explicit @example.
hypothesis_settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
hypothesis_settings.register_profile("dev", print_blob=True)
hypothesis_settings.load_profile("ci" if os.environ.get("CI") else "dev")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    """No function settings leak in from the developer's shell."""
    for name in ("BP_FUNCTION", "MODULE_NAME", "FUNCTION_NAME", "FUNCTION_TARGET", "FUNCTION_SOURCE",
                 "FUNCTION_SIGNATURE_TYPE", "LISTEN_ADDRESS", "PORT", "HOST", "DEBUG", "WEB_CONCURRENCY", "GUNICORN_WORKERS"):
        monkeypatch.delenv(name, raising=False)


def write_function(directory: Path, files: dict[str, str]) -> Path:
    """Write ``files`` (relative path → dedented source) under ``directory``."""
    for name, text in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
    return directory


def stopped_during(server: "Server", client: Callable[[], Any]) -> Any:
    """What ``client()`` returned, run in a thread while ``server`` drains: SIGTERM half a second
    after it began; the server must exit 0 within 4 s (the grace period a test sets is short)."""
    outcome: list = []
    thread = threading.Thread(target=lambda: outcome.append(client()))
    thread.start()
    time.sleep(0.5)
    started = time.monotonic()
    assert server.stop(signal.SIGTERM) == 0
    assert time.monotonic() - started < 4
    thread.join()
    return outcome[0]


def wait_for_marks(directory: Path, count: int, timeout: float = 20) -> None:
    """Wait until ``directory`` holds ``count`` files named ``in-*``: a test's function marks
    each call it entered so (``$MARKS``). AssertionError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while len(list(directory.glob("in-*"))) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(list(directory.glob("in-*"))) == count, f"{count} calls did not start within {timeout:g}s"


class Server:
    """``python -m pyfunc start -s directory *args`` on a free loopback port; ``url``, ``stop()``,
    ``output``. ``alone``: without ``-s``, run in ``directory`` (``python -m pyfunc start`` and
    ``args``), as an image's process type runs it."""

    def __init__(self, directory: Path, env: dict[str, str] | None = None, args: tuple[str, ...] = (),
                 python: str = sys.executable, alone: bool = False) -> None:
        self.port = cnb_host.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        full_env = {k: v for k, v in os.environ.items() if k not in ("PORT", "LISTEN_ADDRESS")}
        # One server process unless a test asks for workers: a CI machine's CPU quota would
        # otherwise fork one per CPU (pyfunc.workers) under tests that count calls in one process.
        full_env.update({"LISTEN_ADDRESS": f"127.0.0.1:{self.port}", "WEB_CONCURRENCY": "1", **(env or {})})
        flags = tuple(args) if alone else ("-s", str(directory), *args)
        self.process = subprocess.Popen([python, "-m", "pyfunc", "start", *flags], cwd=directory if alone else None,
                                        env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        # The log is read as it comes: a server that logs more than a pipe holds (~64 KiB)
        # would otherwise block writing it.
        self._lines: list[str] = []
        self._reader = threading.Thread(target=self._lines.extend, args=(self.process.stdout,), daemon=True)
        self._reader.start()
        cnb_host.wait_for(self.port, self.process)

    @property
    def output(self) -> str:
        """Everything the server has logged so far."""
        return "".join(self._lines)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        self._reader.join(10)
        return code


@pytest.fixture
def serve():
    """Start servers for a test; every one is stopped at teardown."""
    servers: list[Server] = []

    def start(directory: Path, env: dict[str, str] | None = None, args: tuple[str, ...] = (),
              python: str = sys.executable, alone: bool = False) -> Server:
        server = Server(directory, env, args, python, alone)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def check(directory: Path, env: dict[str, str] | None = None, *args: str) -> subprocess.CompletedProcess:
    """``python -m pyfunc check -s directory`` with ``env`` added."""
    return subprocess.run([sys.executable, "-m", "pyfunc", "check", "-s", str(directory), *args],
                          env={**os.environ, **(env or {})}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.fixture
def lifecycle():
    problem = cnb_host.missing()
    if problem and os.environ.get("CI"):
        pytest.fail(problem)  # make test installs it: in CI a missing lifecycle is a defect
    if problem:
        pytest.skip(problem)
    return cnb_host


def no_python_path(tmp_path: Path) -> str:
    """A PATH with the shell tools detect-sh needs and no python3, like a Paketo base build image."""
    bin_dir = tmp_path / "bin-nopython"
    bin_dir.mkdir()
    for tool in ("bash", "sh", "sed", "head", "cat", "dirname"):
        os.symlink(shutil.which(tool), bin_dir / tool)
    return str(bin_dir)
