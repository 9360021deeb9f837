"""Every sample built by the buildpack through the real CNB lifecycle, launched, and asked over HTTP."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import requests
try:
    import tomllib as toml
except ModuleNotFoundError:  # Python 3.10
    import tomli as toml
from cloudevents.conversion import to_binary
from cloudevents.http import CloudEvent, from_http

from conftest import ROOT, write_function

BP_LAYERS = "pyfunc_python-function"


class Built:
    """A workspace the lifecycle built, and a launched process on a free port."""

    def __init__(self, lifecycle, app: Path, settings: dict[str, str] | None = None, **workspace) -> None:
        self.lifecycle = lifecycle
        self.root = Path(tempfile.mkdtemp(prefix="pyfunc-e2e-"))
        self.workspace = lifecycle.Workspace(self.root, app, settings or {}, **workspace)
        self.result = self.workspace.detect_and_build()
        self.process = None

    @property
    def layers(self) -> Path:
        return self.workspace.layers / BP_LAYERS

    def launch(self, env: dict[str, str] | None = None, **options) -> str:
        self.stop()
        port = self.lifecycle.free_port()
        env = {name: value.replace("{port}", str(port)) for name, value in (env or {}).items()}
        self.process = self.workspace.launch({"PORT": str(port), **env}, **options)
        self.lifecycle.wait_for(port, self.process)
        return f"http://127.0.0.1:{port}"

    def stop(self) -> int | None:
        if self.process is None:
            return None
        self.process.terminate()
        code = self.process.wait(30)
        self.process = None
        return code

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="module")
def samples(request):
    """Each sample built once per module, on first use."""
    from conftest import cnb_host

    problem = cnb_host.missing()
    if problem:
        request.getfixturevalue("lifecycle")  # skips (or fails in CI) with the reason
    built: dict[str, Built] = {}

    def get(name: str) -> Built:
        if name not in built:
            built[name] = Built(cnb_host, ROOT / "samples" / name)
            assert built[name].result.returncode == 0, built[name].result.stdout
        return built[name]

    yield get
    for item in built.values():
        item.cleanup()


@pytest.fixture
def fresh(lifecycle):
    """Build an ad-hoc app; cleaned up after the test."""
    made: list[Built] = []

    def make(app: Path, settings: dict[str, str] | None = None, **workspace) -> Built:
        made.append(Built(lifecycle, app, settings, **workspace))
        return made[-1]

    yield make
    for item in made:
        item.cleanup()


@pytest.mark.parametrize("name", ["http", "cloudevent", "with-deps", "custom-module"])
def test_sample_builds_with_the_layers_and_process_of_the_seed(samples, name):
    built = samples(name)
    assert "pass: pyfunc/python-function@0.1.0" in built.result.stdout
    launch = toml.loads((built.workspace.layers / "config" / "metadata.toml").read_text())
    web = [p for p in launch["processes"] if p["type"] == "web"][0]
    assert web["command"] == ["python", "-m", "pyfunc", "start"] and web["buildpack-id"] == "pyfunc/python-function"
    types = {layer: toml.loads((built.layers / f"{layer}.toml").read_text())["types"]
             for layer in ("invoker", "function-env", "validation")}
    assert types["invoker"] == {"launch": True, "build": False, "cache": True}
    assert types["function-env"] == {"launch": True, "build": False, "cache": False}
    assert types["validation"] == {"launch": False, "build": True, "cache": False}
    assert "pyfunc check: OK" in (built.layers / "validation" / "check.txt").read_text()
    assert "Validating function" in built.result.stdout and "Assigning launch processes:" in built.result.stdout


def test_http_sample_answers(samples):
    url = samples("http").launch()
    assert requests.get(url + "/?name=Ada").json() == {"greeting": "Hello, Ada!", "method": "GET", "path": "/"}
    assert requests.post(url + "/x", json={"name": "Bo"}).json()["greeting"] == "Hello, Bo!"
    for probe in ("/healthz/live", "/healthz/ready", "/health/liveness", "/health/readiness"):
        assert requests.get(url + probe).status_code == 200
    assert samples("http").stop() == 0  # SIGTERM through the launcher: drained, exit 0


def test_cloudevent_sample_answers_the_knative_curl(samples):
    url = samples("cloudevent").launch()
    result = subprocess.run([
        "curl", "-s", "-i", "-X", "POST", url,
        "-H", "Ce-Specversion: 1.0", "-H", "Ce-Type: com.example.sampletype", "-H", "Ce-Source: example/source",
        "-H", "Ce-Id: 1234-5678-9101", "-H", "Ce-Subject: example-subject", "-H", "Content-Type: application/json",
        "-d", '{"message": "Hello CloudEvent!"}',
    ], capture_output=True, text=True, check=True)
    assert result.stdout.startswith("HTTP/1.1 200")
    assert "ce-type: dev.pyfunc.samples.wordcount" in result.stdout.lower()
    headers, body = to_binary(CloudEvent({"type": "t.in", "source": "/e2e", "id": "e2e-1"}, {"message": "a b c d"}))
    response = requests.post(url, headers=headers, data=body)
    reply = from_http(dict(response.headers), response.content)
    assert reply.data == {"words": 4, "in_reply_to": "t.in"} and reply["id"] != "e2e-1"
    assert requests.post(url, json={"not": "an event"}).status_code == 400


def test_with_deps_sample_uses_requirements(samples):
    built = samples("with-deps")
    assert toml.loads((built.layers / "dependencies.toml").read_text())["types"] == {"launch": True, "build": False, "cache": True}
    assert (built.layers / "dependencies" / "packages" / "humanize").is_dir()
    url = built.launch()
    assert requests.post(url, data=b"x" * 3000).json() == {"size": "3.0 kB", "bytes": 3000}


def test_custom_module_sample_and_deploy_time_env_override(samples):
    built = samples("custom-module")
    env_dir = built.layers / "function-env" / "env.launch"
    assert (env_dir / "MODULE_NAME.default").read_text() == "my_module"
    assert (env_dir / "GREETING.default").read_text() == "howdy"
    url = built.launch()
    assert requests.get(url, headers={"User-Agent": "e2e"}).json() == {"module": "my_module", "greeting": "howdy", "agent": "e2e"}
    url = built.launch({"GREETING": "deploy-time"})
    assert requests.get(url).json()["greeting"] == "deploy-time"


def test_rebuild_reuses_cached_layers_and_a_changed_requirements_rebuilds_only_dependencies(samples):
    built = samples("with-deps")
    again = built.workspace.build()
    assert again.returncode == 0, again.stdout
    for layer in ("invoker", "dependencies"):
        assert f"Reusing cached layer {built.layers / layer}" in again.stdout, again.stdout
    assert "Installing pyfunc" not in again.stdout and "Installing requirements.txt" not in again.stdout
    requirements = built.workspace.app / "requirements.txt"
    requirements.write_text(requirements.read_text() + "# pinned again\n")
    changed = built.workspace.build()
    assert changed.returncode == 0, changed.stdout
    assert "Installing requirements.txt" in changed.stdout and "(changed: requirements-sha256)" in changed.stdout
    assert f"Reusing cached layer {built.layers / 'invoker'}" in changed.stdout


def test_bp_function_from_the_platform_env_and_no_secret_in_the_image(fresh, tmp_path):
    write_function(tmp_path, {"handlers/__init__.py": "", "handlers/api.py": "def ping(body):\n    return 'pong'\n",
                              "func.yaml": "runtime: python\nrun:\n  envs:\n  - name: DB_PASSWORD\n"
                                           "    value: '{{ secret:db:password }}'\n  - name: FROM_BUILD\n"
                                           "    value: '{{ env:BUILD_NOTE }}'\n"})
    built = fresh(tmp_path, {"BP_FUNCTION": "handlers.api.ping", "API_TOKEN": "s3cr3t-token", "BUILD_NOTE": "noted"})
    assert built.result.returncode == 0, built.result.stdout
    assert "Named by: handlers.api.ping (from BP_FUNCTION)" in built.result.stdout
    assert "DB_PASSWORD: {{ secret:db:password }} is a deploy-time reference" in built.result.stdout
    launch_files = [p for p in built.layers.rglob("*") if p.is_file() and "env" in p.parent.name]
    contents = "".join(p.read_text(errors="replace") for p in launch_files)
    assert "s3cr3t-token" not in contents and "secret:" not in contents
    assert (built.layers / "function-env" / "env.launch" / "FROM_BUILD.default").read_text() == "noted"
    assert requests.get(built.launch()).text == "pong"


@pytest.mark.parametrize("files, settings, message", [
    pytest.param({"func.yaml": "runtime: python\n", "func.py": "def main(req)\n    pass\n"}, {},
                 ["Syntax error in module 'func'", "func.py:1"], id="syntax-error"),
    pytest.param({"func.yaml": "runtime: python\n", "func.py": "def handler(req):\n    pass\n"},
                 {"BP_FUNCTION": "func.main"}, ["has no function 'main'", "'handler'"], id="function-not-found"),
    pytest.param({"func.yaml": "runtime: python\n", "README.md": "no code\n"}, {},
                 ["No function source found"], id="missing-source"),
    pytest.param({"func.yaml": "runtime: python\nenvs:\n- name: A=B\n  value: x\n", "func.py": "def main(req): pass\n"}, {},
                 ["envs[0].name (line 3)"], id="env-name-escape"),
])
def test_bad_input_fails_the_build_with_a_message(fresh, tmp_path, files, settings, message):
    write_function(tmp_path, files)
    built = fresh(tmp_path, settings)
    assert built.result.returncode != 0
    for text in message:
        assert text in built.result.stdout, built.result.stdout
    assert "Traceback" not in built.result.stdout


def test_other_runtime_fails_detection(fresh, tmp_path):
    write_function(tmp_path, {"func.yaml": "runtime: go\n", "handle.go": "package function\n"})
    built = fresh(tmp_path)
    assert built.result.returncode == 20  # no group passed
    assert "func.yaml runtime is 'go', not python" in built.result.stdout


# -- every style through the lifecycle ------------------------------------------------------

SEEDS = ROOT / "tests" / "seed_examples"
KNATIVE_CURL = ["-H", "Ce-Specversion: 1.0", "-H", "Ce-Type: com.example.sampletype", "-H", "Ce-Source: example/source",
                "-H", "Ce-Id: 1234-5678-9101", "-H", "Ce-Subject: example-subject", "-H", "Content-Type: application/json",
                "-d", '{"message": "Hello CloudEvent!"}']


def curl(url: str, *args: str) -> tuple[str, str]:
    """``curl -s -i`` → (head, body)."""
    out = subprocess.run(["curl", "-s", "-i", *args, url], capture_output=True, text=True, check=True).stdout
    head, _, body = out.partition("\n\n")
    return head, body


def test_knative_sample(samples):
    built = samples("knative")
    assert "Installing pyproject.toml [project].dependencies" in built.result.stdout
    assert (built.layers / "function-env" / "env.launch" / "FUNC_INVOKE.default").read_text() == "http"
    url = built.launch()
    assert requests.get(url + "/health/readiness").text.strip() == "counting"  # start() ran before serving
    assert requests.post(url + "/n", data=b"abc").json() == {"count": 101, "ordinal": "101st", "received": 3, "path": "/n"}
    assert built.stop() == 0


def test_knative_cloudevent_sample_with_the_guide_curl(samples):
    """Today's template shape: the app's cloudevents 2.x (dependencies layer) shadows the invoker's 1.x."""
    built = samples("knative-cloudevent")
    assert "Installing pyproject.toml [project].dependencies" in built.result.stdout
    assert "scope['event']: cloudevents.core.v1.event.CloudEvent" in built.result.stdout
    url = built.launch()
    head, body = curl(url, "-X", "POST", *KNATIVE_CURL)
    assert head.startswith("HTTP/1.1 200") and "application/cloudevents+json" in head
    reply = json.loads(body)
    assert reply["type"] == "dev.pyfunc.samples.echo" and reply["id"] == "echo-1234-5678-9101"
    assert reply["data"] == {"echo": {"message": "Hello CloudEvent!"}, "from": "example/source", "replies": 1}
    head, body = curl(url, "-X", "POST", "-H", "x-reply-mode: binary", *KNATIVE_CURL)
    assert "ce-type: dev.pyfunc.samples.echo" in head.lower() and json.loads(body)["replies"] == 2


def test_functions_framework_sample(fresh):
    built = fresh(ROOT / "samples" / "functions-framework", {"GOOGLE_FUNCTION_TARGET": "hello"})
    assert built.result.returncode == 0, built.result.stdout
    assert "style:    functions-framework" in built.result.stdout
    url = built.launch()
    response = requests.get(url + "/?name=Cloud")
    assert response.json() == {"message": "Hello Cloud!"} and response.headers["x-style"] == "functions-framework"
    assert requests.get(url + "/?name=nobody").status_code == 404


def test_handler_sample(samples):
    built = samples("handler")
    assert "Installing function/requirements.txt" in built.result.stdout
    answer = requests.post(built.launch(), json={"name": "Ada", "visits": 3}).json()
    assert answer["message"] == "Hello, Ada! This is your 3rd visit."


@pytest.mark.parametrize("name, settings, ask", [
    pytest.param("buildpack-http", {}, lambda url: requests.get(url).text == "Handled request!", id="buildpack-http"),
    pytest.param("buildpack-cloudevent", {}, lambda url: (
        (lambda h, b: "ce-type: com.example.sampletype" in h.lower() and "Handled cloudevent!" in b)(
            *curl(url, "-X", "POST", *KNATIVE_CURL))), id="buildpack-cloudevent"),
    pytest.param("invoker-demo", {}, lambda url: (
        (lambda h, b: "ce-type: com.example.reply" in h.lower() and b == "It's a demo")(
            *curl(url, "-X", "POST", "-H", "Origin: http://example.com", *KNATIVE_CURL))), id="invoker-demo"),
    pytest.param("functions-framework-hello", {"GOOGLE_FUNCTION_TARGET": "hello"},
                 lambda url: requests.get(url).text == "Hello world!", id="functions-framework"),
    pytest.param("knative-hello", {}, lambda url: requests.get(url).text == "Hello, World!", id="knative"),
    pytest.param("handler-utils", {}, lambda url: requests.post(url, json={}).json() == {"message": "Hello, World!"},
                 id="handler-template"),
])
def test_seed_example_builds_and_answers_as_its_seed_says(fresh, name, settings, ask):
    built = fresh(SEEDS / name, settings)
    assert built.result.returncode == 0, built.result.stdout
    assert ask(built.launch())


def tree_state(*roots: Path) -> dict[str, tuple[int, int]]:
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for root in roots for p in root.rglob("*")
            if not p.is_symlink()}


def test_image_runs_read_only_as_another_user_and_writes_nothing(samples):
    import os

    built = samples("with-deps")
    app, layers = built.workspace.app, built.workspace.layers
    assert list((app / "__pycache__").glob("func.*.pyc")), "the app was not precompiled at build"
    before = tree_state(app, layers)
    modes = {p: p.stat().st_mode for p in [built.root, app, layers, *app.rglob("*"), *layers.rglob("*")]
             if not p.is_symlink()}
    for path, mode in modes.items():  # as in an image: readable by the run user, writable by nobody
        path.chmod((mode | 0o444 | (0o111 if path.is_dir() else 0)) & ~0o222)
    try:
        user = "nobody" if os.geteuid() == 0 else built.lifecycle.USER
        url = built.launch(user=user)
        assert requests.post(url, data=b"x" * 10).json()["bytes"] == 10
        assert built.stop() == 0
    finally:
        for path, mode in modes.items():
            path.chmod(mode)
    assert tree_state(app, layers) == before


# -- composition, func layouts, labels (ecosystem issue) ------------------------------------

def test_site_packages_provider_in_the_group_installs_the_requirements(fresh, lifecycle):
    """Group: cpython, site-packages provider (optional, like Paketo pip-install), pyfunc."""
    group = (lifecycle.HOST_PYTHON_BP, lifecycle.SITE_PACKAGES_BP, lifecycle.BUILDPACK)
    built = fresh(ROOT / "samples" / "with-deps", buildpacks=group, optional=(lifecycle.SITE_PACKAGES_BP,))
    assert built.result.returncode == 0, built.result.stdout
    assert "pass: test/site-packages@0.0.1" in built.result.stdout
    assert "requirements.txt installed by a provider of this group" in built.result.stdout
    assert not (built.layers / "dependencies").exists()
    assert requests.post(built.launch(), data=b"x" * 2000).json() == {"size": "2.0 kB", "bytes": 2000}


def test_poetry_venv_provider_in_the_group_installs_the_pyproject_dependencies(fresh, lifecycle, tmp_path):
    """Group: cpython, poetry-venv provider (optional, like Paketo poetry-install), pyfunc: the
    plan's poetry-venv alternative is taken and build leaves pyproject.toml to the provider."""
    app = tmp_path / "poetry-fn"
    app.mkdir()
    shutil.copy(ROOT / "samples" / "with-deps" / "func.py", app / "func.py")
    (app / "func.yaml").write_text("runtime: python\n")
    (app / "pyproject.toml").write_text('[project]\nname = "poetry-fn"\nversion = "0.1.0"\n'
                                        'dependencies = ["humanize==4.12.3"]\n\n[tool.poetry]\npackage-mode = false\n')
    group = (lifecycle.HOST_PYTHON_BP, lifecycle.POETRY_VENV_BP, lifecycle.BUILDPACK)
    built = fresh(app, buildpacks=group, optional=(lifecycle.POETRY_VENV_BP,))
    assert built.result.returncode == 0, built.result.stdout
    assert "pass: test/poetry-venv@0.0.1" in built.result.stdout
    assert "pyproject.toml installed by a provider of this group" in built.result.stdout
    assert not (built.layers / "dependencies").exists()
    assert requests.post(built.launch(), data=b"x" * 2000).json() == {"size": "2.0 kB", "bytes": 2000}


def test_without_a_site_packages_provider_the_or_plan_resolves(fresh, lifecycle):
    group = (lifecycle.HOST_PYTHON_BP, lifecycle.SITE_PACKAGES_BP, lifecycle.BUILDPACK)
    built = fresh(ROOT / "samples" / "http", buildpacks=group, optional=(lifecycle.SITE_PACKAGES_BP,))
    assert built.result.returncode == 0, built.result.stdout
    assert "skip: test/site-packages@0.0.1" in built.result.stdout  # optional, no requirements.txt: left out
    group = toml.loads((built.workspace.layers / "group.toml").read_text())["group"]
    assert [entry["id"] for entry in group] == ["test/host-python", "pyfunc/python-function"]


def test_sbom_of_invoker_and_dependencies_layers_is_valid_cyclonedx(samples):
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    built = samples("with-deps")
    sbom_dir = built.workspace.layers / "sbom" / "launch" / "pyfunc_python-function"
    for layer, expected in (("invoker", {"pyfunc", "uvicorn", "cloudevents", "flask"}), ("dependencies", {"humanize"})):
        text = (sbom_dir / layer / "sbom.cdx.json").read_text()
        assert JsonStrictValidator(SchemaVersion.V1_5).validate_str(text) is None
        components = json.loads(text)["components"]
        names = {c["name"].lower() for c in components}
        assert expected <= names, names
        assert all(c["purl"] == f"pkg:pypi/{c['name'].lower().replace('_', '-')}@{c['version']}" for c in components)


@pytest.fixture(scope="module")
def offline_buildpack(tmp_path_factory):
    """The buildpack assembled with its wheelhouse (make package OFFLINE=1 does the same)."""
    import sys

    target = tmp_path_factory.mktemp("offline") / "buildpack"
    subprocess.run([sys.executable, str(ROOT / "tools" / "assemble.py"), str(target), "--offline"], check=True,
                   capture_output=True)
    return target


def test_offline_build_installs_the_invoker_from_the_wheelhouse(fresh, lifecycle, offline_buildpack):
    wheels = {p.name.split("-")[0].lower() for p in (offline_buildpack / "wheelhouse").glob("*.whl")}
    assert {"uvicorn", "uvloop", "httptools", "flask", "cloudevents"} <= wheels
    tags = " ".join(p.name for p in (offline_buildpack / "wheelhouse").glob("uvloop-*.whl"))
    for python in ("cp310", "cp311", "cp312", "cp313"):
        assert f"{python}-{python}-manylinux" in tags and "x86_64" in tags and "aarch64" in tags
    lock = (ROOT / "buildpack" / "invoker.lock").read_text()
    for wheel in (offline_buildpack / "wheelhouse").glob("*.whl"):  # the lock's wheels, nothing else
        assert "--hash=sha256:" + hashlib.sha256(wheel.read_bytes()).hexdigest() in lock, wheel.name
    assert wheels == {name.replace("-", "_") for name in re.findall(r"^([a-z0-9._-]+)==", lock, re.M)}
    built = fresh(ROOT / "samples" / "http", {"PIP_NO_INDEX": "1", "PIP_INDEX_URL": "http://127.0.0.1:9/simple"},
                  buildpacks=(lifecycle.HOST_PYTHON_BP, offline_buildpack))
    assert built.result.returncode == 0, built.result.stdout
    assert requests.get(built.launch() + "/?name=offline").json()["greeting"] == "Hello, offline!"


def test_pip_settings_from_the_platform_env_reach_pip(fresh, tmp_path):
    """PIP_FIND_LINKS (as pack build --env sets it) finds a distribution no index has."""
    import zipfile

    write_function(tmp_path, {"func.py": "import localpkg\n\ndef main(body):\n    return localpkg.VALUE\n",
                              "func.yaml": "runtime: python\n", "requirements.txt": "localpkg==1.0\n"})
    (tmp_path / "wheels").mkdir()
    with zipfile.ZipFile(tmp_path / "wheels" / "localpkg-1.0-py3-none-any.whl", "w") as wheel:
        wheel.writestr("localpkg/__init__.py", "VALUE = 'from a local wheel'\n")
        wheel.writestr("localpkg-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: localpkg\nVersion: 1.0\n")
        wheel.writestr("localpkg-1.0.dist-info/WHEEL",
                       "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        wheel.writestr("localpkg-1.0.dist-info/RECORD", "")
    built = fresh(tmp_path, {"PIP_FIND_LINKS": "./wheels"})
    assert built.result.returncode == 0, built.result.stdout
    assert requests.get(built.launch()).text == "from a local wheel"
