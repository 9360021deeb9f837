"""Differential testing against the real functions-framework 3.10.2 (issue 13).

``Pair`` starts one function directory twice: under ``functions-framework --target ...
--source ...`` from its own virtualenv (``.tools/ff-venv``, made by ``make ff-venv``) and
under ``python -m pyfunc start`` with the same arguments and environment. ``Pair.same``
sends both the same request and asserts the same status, body and relevant headers.

A case may name known differences by id; each id must be a row of the README's "Coming
from Functions Framework" table (``DIFFERENCES``), and the two answers must then really
differ (a listed difference that no longer shows is stale and fails too). Any other
difference fails.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent
FF_VENV = ROOT / ".tools" / "ff-venv"
FF_BIN = FF_VENV / "bin" / "functions-framework"
README = ROOT / "README.md"
CORPUS = ROOT / "tests" / "fixtures" / "ff-parity"

#: Headers compared on every answer (with any ``x-*`` header but pyfunc's request id).
COMPARED = ("content-type", "x-google-status", "allow", "location")
IGNORED = ("x-request-id",)


def differences() -> dict[str, str]:
    """The README's "Coming from Functions Framework" table: ``{id: difference}``."""
    text = README.read_text()
    section = text.split("### Coming from Functions Framework", 1)[1].split("\n#", 1)[0]
    rows = re.findall(r"^\| `([a-z0-9-]+)` \| (.+?) \|", section, re.M)
    return dict(rows)


DIFFERENCES = differences()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Process:
    """A server process on a loopback port, stopped by ``stop()``; ``output`` after that."""

    def __init__(self, argv: list[str], cwd: Path, env: dict[str, str], port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        # Output goes to a file, not a pipe: a pipe nobody reads fills up (64 KiB, ~16 tracebacks)
        # and then blocks the server's next log write.
        self.log = tempfile.TemporaryFile("w+")
        self.process = subprocess.Popen(argv, cwd=cwd, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                        text=True, start_new_session=True)
        self.output = ""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{argv[0]} exited {self.process.returncode}:\n{self._read()}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{argv} did not listen on {port} within 60 s:\n{self.output}")

    def stop(self) -> str:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)  # gunicorn's workers too
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        if not self.output:
            self.output = self._read()
        return self.output

    def _read(self) -> str:
        self.log.seek(0)
        return self.log.read()


def _env(extra: dict[str, str] | None) -> dict[str, str]:
    drop = ("BP_FUNCTION", "MODULE_NAME", "FUNCTION_NAME", "FUNCTION_TARGET", "FUNCTION_SOURCE",
            "FUNCTION_SIGNATURE_TYPE", "LISTEN_ADDRESS", "PORT", "HOST", "DEBUG", "FUNCTION_USE_ASGI",
            "LOG_EXECUTION_ID", "ENTRY_POINT", "PYTHONPATH")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(extra or {})
    return env


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def relevant(self, also: tuple[str, ...] = ()) -> tuple:
        names = {n for n in self.headers if n.startswith("x-") and n not in IGNORED} | set(COMPARED) | set(also)
        shown = {n: self.headers.get(n) for n in sorted(names)}
        if shown["allow"]:  # Flask and Starlette list the methods in set order
            shown["allow"] = ", ".join(sorted(m.strip() for m in shown["allow"].split(",")))
        return self.status, shown, self.body


class Pair:
    """The same function served by functions-framework (``ff``) and by pyfunc (``pyfunc``)."""

    def __init__(self, directory: Path, args: tuple[str, ...] = (), env: dict[str, str] | None = None,
                 pyfunc_env: dict[str, str] | None = None) -> None:
        ff_port, pyfunc_port = free_port(), free_port()
        self.ff = Process([str(FF_BIN), *args, "--host", "127.0.0.1", "--port", str(ff_port)], directory,
                          _env(env), ff_port)
        try:
            self.pyfunc = Process([sys.executable, "-m", "pyfunc", "start", *args, "--host", "127.0.0.1",
                                   "--port", str(pyfunc_port)], directory, _env({**(env or {}), **(pyfunc_env or {})}),
                                  pyfunc_port)
        except BaseException:
            self.ff.stop()
            raise

    def both(self, method: str = "GET", path: str = "/", **kwargs) -> tuple[Answer, Answer]:
        """Send the request to both servers: ``(ff answer, pyfunc answer)``."""
        answers = []
        for server in (self.ff, self.pyfunc):
            response = requests.request(method, server.url + path, timeout=30, allow_redirects=False, **kwargs)
            answers.append(Answer(response.status_code, {k.lower(): v for k, v in response.headers.items()},
                                  response.content))
        return answers[0], answers[1]

    def same(self, method: str = "GET", path: str = "/", *, known: str | None = None,
             headers_also: tuple[str, ...] = (), **kwargs) -> tuple[Answer, Answer]:
        """Assert both answer alike, or — with ``known`` — that they differ in that listed way."""
        ff, pyfunc = self.both(method, path, **kwargs)
        theirs, ours = ff.relevant(headers_also), pyfunc.relevant(headers_also)
        if known is None:
            assert ours == theirs, f"{method} {path}: pyfunc answered\n  {ours}\nfunctions-framework answered\n  {theirs}"
        else:
            assert known in DIFFERENCES, f"difference {known!r} is not in README's 'Coming from Functions Framework' table"
            assert ours != theirs, f"{method} {path}: listed difference {known!r} no longer shows: both answered {ours}"
        return ff, pyfunc

    def stop(self) -> tuple[str, str]:
        return self.ff.stop(), self.pyfunc.stop()


def json_lines(output: str, marker: str) -> list[dict]:
    """The JSON objects of ``output``'s lines that contain ``marker``."""
    found = []
    for line in output.splitlines():
        if marker in line and line.lstrip().startswith("{"):
            try:
                found.append(json.loads(line))
            except ValueError:
                pass
    return found


def binary_headers(event_id: str, kind: str = "dev.test.kind", source: str = "/tests", **extra) -> dict:
    """Headers of a binary-mode CloudEvent (with a fixed ``ce-time``, so both servers see the same event)."""
    return {"ce-specversion": "1.0", "ce-id": event_id, "ce-type": kind, "ce-source": source,
            "ce-time": "2026-01-02T03:04:05Z", "Content-Type": "application/json", **extra}


@pytest.fixture(scope="session")
def ff_venv():
    """functions-framework 3.10.2 in .tools/ff-venv (``make ff-venv``; made here when missing)."""
    if not FF_BIN.exists():
        made = subprocess.run(["make", "ff-venv"], cwd=ROOT, capture_output=True, text=True)
        if made.returncode != 0:
            pytest.fail(f"make ff-venv failed:\n{made.stdout}\n{made.stderr}")
    return FF_BIN


@pytest.fixture(scope="module")
def pair_of(ff_venv):
    """``pair_of(corpus_dir, *args, env=...)`` starts a Pair on tests/fixtures/ff-parity/<dir>;
    all are stopped at the end of the module."""
    pairs = []

    def start(name: str, *args: str, env: dict | None = None) -> Pair:
        pair = Pair(CORPUS / name, args, env)
        pairs.append(pair)
        return pair

    yield start
    for pair in pairs:
        pair.stop()
