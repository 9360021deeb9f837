"""Session fixtures for the real-engine tests: one dockerd, registry and builder for the whole run.

``docker_engine`` installs (as root, with apt) and starts the project's engine through
tools/engine, makes the stack images and the test builder (all cached between runs), and
stops the engine at the end if it started it. ``engine_registry`` is the engine without the
stack and builder (for tests that only push to and read from the registry). Without root or apt
both skip with that reason; with ``CI`` set they fail instead, like the ``lifecycle`` fixture.
"""

from __future__ import annotations

import http.client
import os
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from engine.daemon import Engine, EngineUnavailable, unavailable
from engine.pack import build, ready

import cnb_host

#: pack builds at once (two cores: the lifecycle mostly waits on pip and the registry).
PARALLEL = int(os.environ.get("PYFUNC_E2E_PARALLEL", "2"))


@dataclass
class Container:
    """A ``docker run -d --network bridge -p 127.0.0.1:PORT:8080`` container; ``url`` answers."""

    engine: Engine
    name: str
    url: str

    def logs(self) -> str:
        return self.engine.docker("logs", self.name, check=False).stdout

    def stop(self, timeout: int = 30) -> int:
        """``docker stop`` (SIGTERM, then SIGKILL after ``timeout`` s); the container's exit code."""
        self.engine.docker("stop", "-t", str(timeout), self.name)
        return int(self.engine.docker("inspect", "--format", "{{.State.ExitCode}}", self.name).stdout.strip())


@dataclass
class Harness:
    engine: Engine
    builder: str
    containers: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    _count: int = 0

    def build(self, image: str, app: Path, env: dict[str, str] | None = None, publish: bool = False,
              extra: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
        """``pack build`` with the session's builder (``extra``: more pack flags); the image is removed
        at the end of the session."""
        if image not in self.images:
            self.images.append(image)
        started = time.monotonic()
        result = build(self.engine, self.builder, image, app, env, publish, extra)
        result.seconds = time.monotonic() - started  # type: ignore[attr-defined]
        return result

    def build_all(self, specs: dict[str, tuple]) -> dict[str, subprocess.CompletedProcess]:
        """Run ``build(*spec)`` for every name in parallel: {name: result}."""
        with ThreadPoolExecutor(PARALLEL) as pool:
            futures = {name: pool.submit(self.build, *spec) for name, spec in specs.items()}
            return {name: future.result() for name, future in futures.items()}

    def run(self, image: str, env: dict[str, str] | None = None, ready_path: str = "/healthz/ready",
            options: tuple[str, ...] = ()) -> Container:
        """``docker run`` on the bridge network with 8080 published on a free loopback port, and
        ``options`` (e.g. ``("--cpus", "2")``); waits for 200."""
        self._count += 1
        name = f"pyfunc-e2e-{os.getpid()}-{self._count}"
        port = cnb_host.free_port()
        argv = ["run", "-d", "--name", name, "--network", "bridge", "-p", f"127.0.0.1:{port}:8080"]
        for key, value in (env or {}).items():
            argv += ["-e", f"{key}={value}"]
        self.engine.docker(*argv, *options, image)
        self.containers.append(name)
        container = Container(self.engine, name, f"http://127.0.0.1:{port}")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                connection.request("GET", ready_path)
                if connection.getresponse().status == 200:
                    return container
            except OSError:
                pass
            state = self.engine.docker("inspect", "--format", "{{.State.Status}}", name, check=False).stdout.strip()
            if state == "exited":
                break
            time.sleep(0.2)
        raise AssertionError(f"{image} did not answer {ready_path} on {container.url}:\n{container.logs()}")

    def cleanup(self) -> None:
        """Containers and images of the session, each kind in one call (pack's cache volumes stay)."""
        if self.containers:
            self.engine.docker("rm", "-f", *self.containers, check=False)
        if self.images:
            self.engine.docker("rmi", "-f", *self.images, check=False)


def unavailable_engine(reason: str) -> None:
    """Fail in CI (make test installs the engine), skip elsewhere, saying why."""
    if os.environ.get("CI"):
        pytest.fail(f"no container engine in CI: {reason}")  # make test installs it: a defect here
    pytest.skip(f"no container engine: {reason}")


@pytest.fixture(scope="session")
def engine_registry():
    """The project's engine (dockerd and the loopback registry) without stack or builder."""
    reason = unavailable()
    if reason is None:
        engine = Engine()
        try:
            started = engine.up()
        except EngineUnavailable as problem:
            reason = str(problem)
    if reason:
        unavailable_engine(reason)
    yield engine
    if started:
        engine.down()


@pytest.fixture(scope="session")
def docker_engine():
    """The project's engine, registry and test builder, shared by every real-engine test."""
    reason = unavailable()
    started = False
    if reason is None:
        try:
            engine, builder, started = ready()
        except EngineUnavailable as problem:
            reason = str(problem)
    if reason:
        unavailable_engine(reason)
    harness = Harness(engine, builder)
    yield harness
    harness.cleanup()
    if started:
        engine.down()
