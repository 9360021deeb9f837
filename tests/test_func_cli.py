"""Knative ``func`` v0.49.2 itself (built by ``make func``): the projects it creates, the scaffolding
``func build`` writes, and the images it builds with pack, served by pyfunc and asked over HTTP.

What func does for a Python pack build (knative/func v0.49.2, read in its source):

- ``cmd/build.go`` runBuild: ``client.Scaffold`` writes ``.func/build/`` *before* ``client.Build``
  reaches a Docker daemon, so without a daemon ``func build`` fails after leaving its real
  scaffolding behind (``pkg/buildpacks/scaffolder.go``, ``pkg/scaffolding/scaffold.go``): a
  project ``service`` needing ``func-python==<middleware version>`` and ``function @ ./f``
  (patched for Poetry), ``service/main.py``, ``Procfile``, ``ca-certificates.crt`` and ``f -> ../..``.
- ``pkg/buildpacks/builder.go`` Build: build env ``BPE_DEFAULT_LISTEN_ADDRESS=[::]:8080``,
  ``BP_PROCFILE_DEFAULT_PROCESS=python -m service.main``, ``BP_IMAGE_LABELS=middleware-version=<v>``
  (plus ``org.opencontainers.image.revision`` in a git checkout), and an inline pre-buildpack
  ``knative.dev/func/python-scaffolding`` that moves the code into ``fn/`` and the scaffolding up.
- ``pkg/docker/runner.go``: ``func run`` starts the image with func.yaml's ``run.envs`` only.

Host tests (no engine): func's own ``.func/build/`` goes through the real CNB lifecycle, with
tests/buildpacks/func-python-scaffolding standing in for the inline pre-buildpack (pack's inline
buildpacks need pack) and func's build env as the platform env. Engine tests: the real
``func build --builder=pack`` with the project's test builder, and ``docker run`` on the bridge
network. Both launch with func's ``LISTEN_ADDRESS`` form ``[::]:PORT``.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

try:
    import tomllib as toml
except ModuleNotFoundError:  # Python < 3.11
    import tomli as toml

import pytest
import requests
import yaml
from cloudevents.conversion import to_binary, to_structured
from cloudevents.http import CloudEvent, from_http

from conftest import ROOT
from test_lifecycle_e2e import fresh  # noqa: F401  (fixture)

FUNC = ROOT / ".tools" / "bin" / "func"
SCAFFOLDING_BP = ROOT / "tests" / "buildpacks" / "func-python-scaffolding"
TEMPLATES = ("http", "cloudevents")
#: the func-python module service/main.py serves each template with
GLUE = {"http": "func_python.http", "cloudevents": "func_python.cloudevent"}
INVOKE = {"http": "http", "cloudevents": "cloudevent"}  # func.yaml's invoke


@pytest.fixture(scope="module")
def func_cli():
    if not FUNC.is_file():
        reason = f"Knative func is not built at {FUNC}: run make func"
        if os.environ.get("CI"):
            pytest.fail(reason)  # make test builds it: in CI a missing binary is a defect
        pytest.skip(reason)
    return FUNC


def run_func(*args: str, home: Path, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """``func ARGS`` with its config under ``home`` (func keeps ~/.config/func); output in .stdout."""
    full = {**os.environ, "HOME": str(home), **(env or {})}
    full.pop("FUNC_REGISTRY", None)
    return subprocess.run([str(FUNC), *args], env=full, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=timeout)


def create(template: str, parent: Path) -> Path:
    path = parent / f"fn-{template}"
    created = run_func("create", "-l", "python", "-t", template, str(path), home=parent / "home")
    assert created.returncode == 0, created.stdout
    return path


def middleware_version(home: Path) -> str:
    """func-python's version func pins in its scaffolding (``func version -v -o json``)."""
    shown = run_func("version", "-v", "-o", "json", home=home)
    assert shown.returncode == 0, shown.stdout
    return json.loads(shown.stdout[shown.stdout.index("{"):])["middlewareVersions"]["python"]["http"]


def func_build_env(version: str) -> dict[str, str]:
    """The build env func's pack builder sets for Python (pkg/buildpacks/builder.go, outside a git checkout)."""
    return {"BPE_DEFAULT_LISTEN_ADDRESS": "[::]:8080", "BP_PROCFILE_DEFAULT_PROCESS": "python -m service.main",
            "BP_IMAGE_LABELS": f"middleware-version={version}"}


@pytest.fixture(scope="module")
def scaffolded(func_cli, tmp_path_factory):
    """``func create`` then ``func build --builder=pack`` with no daemon: {template: (project, build output, version)}."""
    parent = tmp_path_factory.mktemp("func-cli")
    version = middleware_version(parent / "home")
    made = {}
    for template in TEMPLATES:
        path = create(template, parent)
        build = run_func("build", "--builder=pack", "--image", f"localhost:5000/pyfunc-func-cli/fn-{template}:latest",
                         "--path", str(path), home=parent / "home",
                         env={"DOCKER_HOST": f"unix://{parent}/no-daemon.sock"})
        made[template] = (path, build, version)
    return made


# -- what func writes ------------------------------------------------------------------------------

@pytest.mark.parametrize("template", TEMPLATES)
def test_func_build_writes_its_scaffolding_before_it_needs_a_daemon(scaffolded, template):
    path, build, version = scaffolded[template]
    spec = yaml.safe_load((path / "func.yaml").read_text())
    assert spec["runtime"] == "python" and spec.get("invoke", "http") == INVOKE[template]
    assert build.returncode != 0 and "failed to connect to the docker API" in build.stdout, build.stdout
    out = path / ".func" / "build"
    project = toml.loads((out / "pyproject.toml").read_text())
    assert project["project"]["name"] == "service"
    assert project["project"]["dependencies"] == [f"func-python=={version}", "function @ ./f"]
    assert project["tool"]["poetry"]["dependencies"]["function"] == {"path": "f", "develop": True}
    assert f"from {GLUE[template]} import serve" in (out / "service" / "main.py").read_text()
    assert (out / "Procfile").read_text() == "web: python -m service.main\n"
    assert os.readlink(out / "f") == os.path.join("..", "..")
    assert not (path / "fn").exists()  # the move into fn/ happens only inside the build


# -- func's scaffolding through the real lifecycle on the host ------------------------------------

def launch_like_func(built, port: int) -> str:
    """Start the web process as func's image would, on ``[::]:port`` instead of ``[::]:8080``; ask on ``[::1]``."""
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError as error:
        pytest.skip(f"no IPv6 loopback here ({error}): func's LISTEN_ADDRESS [::]:8080 needs one")
    built.stop()
    built.process = built.workspace.launch({"LISTEN_ADDRESS": f"[::]:{port}"})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if built.process.poll() is not None:
            raise AssertionError(f"exited {built.process.returncode}:\n{built.process.stdout.read()}")
        try:
            connection = http.client.HTTPConnection("::1", port, timeout=2)
            connection.request("GET", "/health/readiness")
            if connection.getresponse().status == 200:
                return f"http://[::1]:{port}"
        except OSError:
            pass
        time.sleep(0.1)
    built.process.kill()
    raise AssertionError(f"no answer on [::1]:{port}:\n{built.process.stdout.read()}")


@pytest.mark.parametrize("template", TEMPLATES)
def test_func_scaffolding_builds_through_the_lifecycle_and_serves(scaffolded, fresh, lifecycle, tmp_path, template):
    path, _, version = scaffolded[template]
    app = tmp_path / "app"
    shutil.copytree(path, app, symlinks=True)
    built = fresh(app, func_build_env(version),
                  buildpacks=(SCAFFOLDING_BP, lifecycle.HOST_PYTHON_BP, lifecycle.BUILDPACK))
    out = built.result.stdout
    assert built.result.returncode == 0, out
    assert "Function source: fn/ (the layout func build makes" in out
    assert "Installing fn/pyproject.toml [project].dependencies" in out
    installed = {p.name.split("-")[0].lower() for p in (built.layers / "dependencies" / "packages").glob("*.dist-info")}
    assert {"httpx", "pytest"} <= installed and "func_python" not in installed
    metadata = toml.loads((built.workspace.layers / "config" / "metadata.toml").read_text())
    web = [p for p in metadata["processes"] if p["type"] == "web"][0]
    # BP_PROCFILE_DEFAULT_PROCESS is for Paketo's procfile buildpack: pyfunc's process stays
    assert web["command"] == ["python", "-m", "pyfunc", "start"] and web["args"] == ["-s", "fn"]
    env_launch = built.layers / "function-env" / "env.launch"
    assert (env_launch / "LISTEN_ADDRESS.default").read_text() == "[::]:8080"
    port = lifecycle.free_port()
    url = launch_like_func(built, port)
    ASK[template](url)
    ask_probes(url)
    # [::] serves IPv4 too, as func-python's does: queue-proxy and kubelet probes dial 127.0.0.1
    assert requests.get(f"http://127.0.0.1:{port}/health/readiness").text == "Ready"
    assert built.stop() == 0


# -- the real engine: func build with pack, docker run ---------------------------------------------

@pytest.mark.parametrize("template", TEMPLATES)
def test_func_build_with_pack_on_the_engine_and_docker_run(docker_engine, func_cli, tmp_path, template):
    engine = docker_engine.engine
    path = create(template, tmp_path)
    image = f"{engine.registry}/pyfunc-func-cli/fn-{template}:latest"
    docker_engine.images.append(image)
    built = run_func("build", "--builder=pack", "--builder-image", docker_engine.builder, "--image", image,
                     "--path", str(path), "--verbose", home=tmp_path / "home", env=engine.env(), timeout=900)
    assert built.returncode == 0, built.stdout
    assert "knative.dev/func/python-scaffolding" in built.stdout  # func's own pre-buildpack ran
    assert "Function source: fn/ (the layout func build makes" in built.stdout
    labels = json.loads(engine.docker("inspect", "--format", "{{json .Config.Labels}}", image).stdout)
    metadata = json.loads(labels["io.buildpacks.build.metadata"])
    web = [p for p in metadata["processes"] if p["type"] == "web"][0]
    assert web["command"] == ["python", "-m", "pyfunc", "start"] and web["args"] == ["-s", "fn"]
    run_env = {e["name"]: str(e.get("value", "")) for e in
               (yaml.safe_load((path / "func.yaml").read_text()).get("run") or {}).get("envs") or []}
    container = docker_engine.run(image, env=run_env, ready_path="/health/readiness")
    ASK[template](container.url)
    ask_probes(container.url)
    assert container.stop() == 0, container.logs()


# -- asked as the templates' READMEs say -------------------------------------------------------------

def ask_http(url: str) -> None:
    for response in (requests.get(url + "/"), requests.post(url + "/any/path?x=1", data=b"hello")):
        assert response.status_code == 200 and response.text == "OK", (response.status_code, response.text)
        assert response.headers["content-type"].startswith("text/plain")


def ask_cloudevents(url: str) -> None:
    event = CloudEvent({"type": "dev.pyfunc.func-cli", "source": "/tests/func-cli", "id": "fc-1"}, {"n": 1})
    for convert in (to_binary, to_structured):
        headers, body = convert(event)
        response = requests.post(url, headers=headers, data=body)
        assert response.status_code == 200, (convert.__name__, response.status_code, response.text)
        assert response.headers["content-type"].startswith("application/cloudevents+json")  # send(event): structured
        reply = from_http(dict(response.headers), response.content)
        assert (reply["type"], reply["source"], reply["id"]) == ("function.response", "function", "response-fc-1")
        assert reply.data == {"message": "OK"}
    assert requests.post(url, json={"not": "an event"}).status_code == 400


def ask_probes(url: str) -> None:
    for probe, message in (("/health/liveness", "Alive"), ("/health/readiness", "Ready")):
        response = requests.get(url + probe)
        assert (response.status_code, response.text) == (200, message), probe
        assert response.headers["content-type"].startswith("text/plain")


ASK = {"http": ask_http, "cloudevents": ask_cloudevents}
