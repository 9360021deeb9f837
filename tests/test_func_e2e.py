"""Knative ``func`` (v0.49.2, built by ``make func``) on the real engine with the test builder.

``func create -l python`` (http and cloudevents templates), ``func build --builder=pack
--builder-image <the session's builder>``, then ``docker run`` of the image with func's run env
(func.yaml ``run.envs``; func's own runner adds nothing else) on the bridge network, asked as
the template's README says. func sets ``BPE_DEFAULT_LISTEN_ADDRESS=[::]:8080`` and moves the
code into ``fn/`` with a scaffolding pre-buildpack: this is the path a func user takes.
"""

from __future__ import annotations

import os
import subprocess

import pytest
import requests
import yaml
from cloudevents.conversion import to_binary
from cloudevents.http import CloudEvent, from_http

from conftest import ROOT

FUNC = ROOT / ".tools" / "bin" / "func"


@pytest.fixture(scope="module")
def func_cli():
    if not FUNC.is_file():
        reason = f"{FUNC} is missing: run make func"
        if os.environ.get("CI"):
            pytest.fail(reason)  # make test builds it
        pytest.skip(reason)
    return FUNC


def ask_http(url: str) -> None:
    response = requests.get(url)
    assert response.status_code == 200 and response.text == "OK", (response.status_code, response.text)


def ask_cloudevents(url: str) -> None:
    headers, body = to_binary(CloudEvent({"type": "dev.pyfunc.func", "source": "/e2e", "id": "f-1"}, {"x": 1}))
    response = requests.post(url, headers=headers, data=body)
    assert response.status_code == 200, (response.status_code, response.text)
    reply = from_http(dict(response.headers), response.content)
    assert reply.data == {"message": "OK"} and reply["id"] == "response-f-1"


@pytest.mark.parametrize("template, ask", [("http", ask_http), ("cloudevents", ask_cloudevents)])
def test_func_create_build_with_the_builder_and_docker_run(docker_engine, func_cli, tmp_path, template, ask):
    engine = docker_engine.engine
    path = tmp_path / f"fn-{template}"
    env = engine.env({"HOME": str(tmp_path / "home"), "FUNC_VERBOSE": "true"})
    created = subprocess.run([str(func_cli), "create", "-l", "python", "-t", template, str(path)], env=env,
                             capture_output=True, text=True)
    assert created.returncode == 0, created.stdout + created.stderr
    image = f"{engine.registry}/pyfunc-func/fn-{template}:latest"
    docker_engine.images.append(image)
    built = subprocess.run([str(func_cli), "build", "--builder=pack", "--builder-image", docker_engine.builder,
                            "--image", image, "--path", str(path)], env=env, capture_output=True, text=True,
                           timeout=900)
    assert built.returncode == 0, built.stdout + built.stderr
    run_env = {e["name"]: str(e.get("value", "")) for e in
               (yaml.safe_load((path / "func.yaml").read_text()).get("run") or {}).get("envs") or []}
    container = docker_engine.run(image, env=run_env, ready_path="/health/readiness")
    ask(container.url)
    assert container.stop() == 0, container.logs()
