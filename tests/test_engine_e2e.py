"""The whole user path on a real engine: pack build (daemon and --publish), docker run, HTTP.

Every sample and seed example is built by ``pack build`` with the test builder (Debian python3
provider, then this buildpack's .cnb) into the project's own dockerd, and also with ``--publish``
into its loopback registry; each image is run with ``docker run`` on the bridge network and
asked over a port published on 127.0.0.1. Slow (minutes); see engine_harness for the engine.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from pathlib import Path

import pytest
import requests
from cloudevents.conversion import to_binary, to_structured
from cloudevents.http import CloudEvent, from_http

import image_layers
from conftest import ROOT, write_function

SEEDS = ROOT / "tests" / "seed_examples"
CE_HEADERS = {"Ce-Specversion": "1.0", "Ce-Type": "com.example.sampletype", "Ce-Source": "example/source",
              "Ce-Id": "1234-5678-9101", "Ce-Subject": "example-subject", "Content-Type": "application/json"}
CE_BODY = '{"message": "Hello CloudEvent!"}'


def _json(response: requests.Response):
    assert response.status_code == 200, (response.status_code, response.text)
    return response.json()


#: app name → (directory, build env, what it answers: a check taking the base URL).
APPS = {
    "http": (ROOT / "samples" / "http", {}, lambda url: _json(requests.get(url + "/?name=Ada")) ==
             {"greeting": "Hello, Ada!", "method": "GET", "path": "/"}),
    "cloudevent": (ROOT / "samples" / "cloudevent", {}, lambda url: from_http(
        *(lambda r: (dict(r.headers), r.content))(requests.post(url, headers=CE_HEADERS, data=CE_BODY))).data ==
        {"words": 2, "in_reply_to": "com.example.sampletype"}),
    "with-deps": (ROOT / "samples" / "with-deps", {}, lambda url: _json(requests.post(url, data=b"x" * 3000)) ==
                  {"size": "3.0 kB", "bytes": 3000}),
    "custom-module": (ROOT / "samples" / "custom-module", {}, lambda url: _json(
        requests.get(url, headers={"User-Agent": "e2e"})) == {"module": "my_module", "greeting": "howdy", "agent": "e2e"}),
    "functions-framework": (ROOT / "samples" / "functions-framework", {}, lambda url: _json(
        requests.get(url + "/?name=Cloud")) == {"message": "Hello Cloud!"}),  # GOOGLE_FUNCTION_TARGET: project.toml
    "handler": (ROOT / "samples" / "handler", {}, lambda url: _json(requests.post(url, json={"name": "Ada", "visits": 3}))
                ["message"] == "Hello, Ada! This is your 3rd visit."),
    "knative": (ROOT / "samples" / "knative", {}, lambda url: _json(requests.post(url + "/n", data=b"abc")) ==
                {"count": 101, "ordinal": "101st", "received": 3, "path": "/n"}),
    "knative-cloudevent": (ROOT / "samples" / "knative-cloudevent", {}, lambda url: from_http(
        *(lambda r: (dict(r.headers), r.content))(requests.post(url, headers=CE_HEADERS, data=CE_BODY))).data ==
        {"echo": {"message": "Hello CloudEvent!"}, "from": "example/source", "replies": 1}),
    "seed-buildpack-http": (SEEDS / "buildpack-http", {}, lambda url: requests.get(url).text == "Handled request!"),
    "seed-buildpack-cloudevent": (SEEDS / "buildpack-cloudevent", {}, lambda url: (lambda r: r.status_code == 200 and
        r.headers["ce-type"] == "com.example.sampletype" and "Handled cloudevent!" in r.text)(
        requests.post(url, headers=CE_HEADERS, data=CE_BODY))),
    "seed-invoker-demo": (SEEDS / "invoker-demo", {}, lambda url: (lambda r: r.headers["ce-type"] == "com.example.reply"
        and r.text == "It's a demo")(requests.post(url, headers={**CE_HEADERS, "Origin": "http://example.com"},
                                                   data=CE_BODY))),
    "seed-functions-framework": (SEEDS / "functions-framework-hello", {"GOOGLE_FUNCTION_TARGET": "hello"},
                                 lambda url: requests.get(url).text == "Hello world!"),
    "seed-knative": (SEEDS / "knative-hello", {}, lambda url: requests.get(url).text == "Hello, World!"),
    "seed-handler-template": (SEEDS / "handler-utils", {}, lambda url: _json(requests.post(url, json={})) ==
                              {"message": "Hello, World!"}),
}
#: Every app is built in daemon mode and with --publish to the registry (issue #10).
CASES = [(name, "daemon") for name in APPS] + [(name, "publish") for name in APPS]
#: Apps whose two builds start from an empty cache (pack --clear-cache; each image name has its own
#: cache volume): two clean builds of one source, compared layer by layer (reproducible builds).
CLEAN = ("with-deps",)
SLOW = {  # answers after 3 s: docker stop must drain it; func.yaml deploy.options become image labels
    "func.yaml": "specVersion: 0.36.0\nname: slow\nruntime: python\ndeploy:\n  options:\n    scale:\n      min: 1\n"
                 "      max: 3\n    resources:\n      limits:\n        memory: 256Mi\n",
    "func.py": "import time\n\ndef main(req):\n    time.sleep(3)\n    return 'drained'\n",
}


def image_name(harness, name: str, mode: str) -> str:
    return f"{harness.engine.registry}/pyfunc-e2e/{name}" if mode == "publish" else f"pyfunc-e2e/{name}"


@pytest.fixture(scope="session")
def images(docker_engine, tmp_path_factory):
    """Every case of CASES and the slow app, built once for the session, in parallel."""
    slow = write_function(tmp_path_factory.mktemp("slow"), SLOW)
    specs = {(name, mode): (image_name(docker_engine, name, mode), APPS[name][0], APPS[name][1], mode == "publish",
                            ("--clear-cache",) if name in CLEAN else ()) for name, mode in CASES}
    specs[("slow", "daemon")] = (image_name(docker_engine, "slow", "daemon"), slow, {}, False)
    started = time.monotonic()
    results = docker_engine.build_all(specs)
    print(f"\n{len(specs)} pack builds in {time.monotonic() - started:.0f}s: "
          + ", ".join(f"{name}/{mode} {result.seconds:.0f}s" for (name, mode), result in results.items()))
    return results


def built(harness, images, name: str, mode: str = "daemon") -> str:
    result = images[(name, mode)]
    assert result.returncode == 0, result.stdout
    return image_name(harness, name, mode)


@pytest.mark.parametrize("name, mode", CASES)
def test_app_image_answers_on_the_bridge_network(docker_engine, images, name, mode):
    image = built(docker_engine, images, name, mode)
    if mode == "publish":  # in the registry, not the daemon: docker run pulls it from there
        assert docker_engine.engine.docker("image", "inspect", image, check=False).returncode != 0
    container = docker_engine.run(image, ready_path="/_/ready" if "handler" in name else "/healthz/ready")
    assert APPS[name][2](container.url), container.logs()
    assert container.stop() == 0, container.logs()


def test_http_probes_and_cloudevents_binary_and_structured(docker_engine, images):
    container = docker_engine.run(built(docker_engine, images, "cloudevent"))
    for probe in ("/healthz/live", "/healthz/ready", "/health/liveness", "/health/readiness", "/_/ready"):
        assert requests.get(container.url + probe).status_code == 200, probe
    event = CloudEvent({"type": "t.in", "source": "/e2e", "id": "e2e-1"}, {"message": "a b c d"})
    for encode in (to_binary, to_structured):
        headers, body = encode(event)
        response = requests.post(container.url, headers=headers, data=body)
        assert response.status_code == 200, response.text
        reply = from_http(dict(response.headers), response.content)
        assert reply.data == {"words": 4, "in_reply_to": "t.in"} and reply["id"] != "e2e-1"
        assert reply["type"] == "dev.pyfunc.samples.wordcount"
    assert requests.post(container.url, json={"not": "an event"}).status_code == 400
    http = docker_engine.run(built(docker_engine, images, "http"))
    assert _json(requests.post(http.url + "/x", json={"name": "Bo"}))["greeting"] == "Hello, Bo!"


def test_docker_stop_drains_an_in_flight_request_and_exits_0(docker_engine, images):
    container = docker_engine.run(built(docker_engine, images, "slow"))
    answers: list[requests.Response] = []
    request = threading.Thread(target=lambda: answers.append(requests.get(container.url, timeout=60)))
    request.start()
    time.sleep(1)  # the request is in the function's 3 s sleep
    assert container.stop(timeout=30) == 0, container.logs()
    request.join(60)
    assert answers and answers[0].status_code == 200 and answers[0].text == "drained", container.logs()


@pytest.mark.parametrize("cpus, processes", [("2", 2), ("1.5", 1)])
def test_worker_processes_follow_the_containers_cpu_quota(docker_engine, images, cpus, processes):
    """``docker run --cpus`` sets the container's CFS quota, as a Kubernetes CPU limit does; the
    default number of worker processes is its whole CPUs (the host's CPU count plays no part)."""
    if (os.cpu_count() or 1) < float(cpus):
        pytest.skip(f"docker run --cpus {cpus} needs as many CPUs on the host; it has {os.cpu_count()}")
    container = docker_engine.run(built(docker_engine, images, "http"), options=("--cpus", cpus))
    logs = container.logs()
    forked = logs.count(" forked (pid ")
    assert forked == (processes if processes > 1 else 0), logs
    assert (f"in {processes} worker processes" in logs) == (processes > 1), logs


def test_deploy_options_of_func_yaml_are_image_labels(docker_engine, images):
    image = built(docker_engine, images, "slow")
    labels = json.loads(docker_engine.engine.docker("inspect", "--format", "{{json .Config.Labels}}", image).stdout)
    assert json.loads(labels["options-scale"]) == {"min": 1, "max": 3}
    assert json.loads(labels["options-resources-limits"]) == {"memory": "256Mi"}


def test_pack_inspect_shows_web_as_the_default_process(docker_engine, images):
    image = built(docker_engine, images, "http")
    result = subprocess.run([str(ROOT / ".tools" / "bin" / "pack"), "inspect", image], env=docker_engine.engine.env(),
                            capture_output=True, text=True, check=True)
    processes = [line.split() for line in result.stdout.split("Processes:", 1)[1].splitlines()[2:] if line.strip()]
    assert processes == [["web", "(default)", "python", "-m", "pyfunc", "start", "/workspace"]], result.stdout


def test_sbom_download_holds_the_invoker_and_dependencies_cyclonedx(docker_engine, images, tmp_path):
    image = built(docker_engine, images, "with-deps")
    subprocess.run([str(ROOT / ".tools" / "bin" / "pack"), "sbom", "download", image, "--output-dir", str(tmp_path)],
                   env=docker_engine.engine.env(), capture_output=True, text=True, check=True)
    sbom = tmp_path / "layers" / "sbom" / "launch" / "pyfunc_python-function"
    for layer, expected in (("invoker", {"pyfunc", "uvicorn", "cloudevents", "flask"}), ("dependencies", {"humanize"})):
        document = json.loads((sbom / layer / "sbom.cdx.json").read_text())
        assert document["bomFormat"] == "CycloneDX"
        assert expected <= {c["name"].lower() for c in document["components"]}, layer


def test_two_clean_builds_of_the_same_source_give_identical_layers(docker_engine, images, tmp_path):
    """Reproducible builds (issue #10): with-deps built twice from an empty cache (CLEAN), into the
    daemon and pushed to the registry, has the same diffID for every layer, named by the lifecycle's
    label (app, config, launcher, process-types, sbom, each buildpack layer). The image's created
    date is pack's (--creation-time), so image ids are not compared."""
    first, second = built(docker_engine, images, "with-deps"), built(docker_engine, images, "with-deps", "publish")
    for mode in ("daemon", "publish"):  # pip ran in both: nothing came from a cache
        log = images[("with-deps", mode)].stdout
        assert log.count("(no cached layer)") == 2 and "Reusing cached layer" not in log, log
    docker_engine.engine.docker("pull", second)
    ours, theirs = image_layers.named_layers(docker_engine.engine, first), \
        image_layers.named_layers(docker_engine.engine, second)
    assert {"app[0]", "config", "sbom", "pyfunc/python-function:invoker", "pyfunc/python-function:dependencies",
            "pyfunc/python-function:function-env"} <= set(ours), ours
    differing = sorted(name for name in set(ours) | set(theirs) if ours.get(name) != theirs.get(name))
    assert not differing, image_layers.difference(docker_engine.engine, first, second, differing, tmp_path)
    rootfs = [json.loads(docker_engine.engine.docker("image", "inspect", "--format", "{{json .RootFS.Layers}}",
                                                     image).stdout) for image in (first, second)]
    assert rootfs[0] == rootfs[1]  # the run image's and the CPython provider's layers too


def test_second_pack_build_reuses_the_invoker_and_dependencies_layers(docker_engine, images):
    built(docker_engine, images, "with-deps")
    again = docker_engine.build(image_name(docker_engine, "with-deps", "daemon"), ROOT / "samples" / "with-deps")
    assert again.returncode == 0, again.stdout
    for layer in ("invoker", "dependencies"):
        assert f"Reusing cached layer /layers/pyfunc_python-function/{layer} (metadata unchanged)" in again.stdout, \
            again.stdout
        assert f"Reusing layer 'pyfunc/python-function:{layer}'" in again.stdout, again.stdout
    for pip_output in ("Installing pyfunc-", "Installing requirements.txt", "Collecting", "Downloading"):
        assert pip_output not in again.stdout, again.stdout
