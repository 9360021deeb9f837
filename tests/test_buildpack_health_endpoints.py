"""func.yaml ``deploy.healthEndpoints`` (top-level ``healthEndpoints`` before specVersion 0.34)
become the launch defaults PYFUNC_LIVENESS_PATH / PYFUNC_READINESS_PATH; the built app answers
them as probes (README "Health endpoints"). Through the real CNB lifecycle."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from conftest import write_function
from test_lifecycle_e2e import Built

FUNC = "def main(body):\n    return 'the function'\n"


@pytest.fixture
def fresh(lifecycle):
    made: list[Built] = []

    def make(app: Path, settings: dict[str, str] | None = None) -> Built:
        made.append(Built(lifecycle, app, settings))
        return made[-1]

    yield make
    for item in made:
        item.cleanup()


@pytest.mark.parametrize("func_yaml", [
    "specVersion: 0.36.0\nruntime: python\ndeploy:\n  healthEndpoints:\n    liveness: /probe/alive\n    readiness: /probe/ready\n",
    "specVersion: 0.33.0\nruntime: python\nhealthEndpoints:\n  liveness: /probe/alive\n  readiness: /probe/ready\n",
], ids=["deploy", "top-level-before-0.34"])
def test_the_built_app_answers_its_custom_probe_paths(fresh, tmp_path, func_yaml):
    built = fresh(write_function(tmp_path, {"func.yaml": func_yaml, "func.py": FUNC}))
    assert built.result.returncode == 0, built.result.stdout
    env = built.layers / "function-env" / "env.launch"
    assert (env / "PYFUNC_LIVENESS_PATH.default").read_text() == "/probe/alive"
    assert (env / "PYFUNC_READINESS_PATH.default").read_text() == "/probe/ready"
    url = built.launch()
    for path in ("/probe/alive", "/probe/ready"):
        answer = requests.get(url + path)
        assert answer.status_code == 200 and answer.text != "the function", path
    assert requests.get(url + "/probe/other").text == "the function"
    url = built.launch({"PYFUNC_READINESS_PATH": "/deploy/ready"})  # a default: the deploy env wins
    assert requests.get(url + "/deploy/ready").text != "the function"
    assert requests.get(url + "/probe/ready").text == "the function"


def test_a_probe_path_that_is_not_a_url_path_fails_the_build(fresh, tmp_path):
    func_yaml = "specVersion: 0.36.0\nruntime: python\ndeploy:\n  healthEndpoints:\n    liveness: probe?x=1\n"
    built = fresh(write_function(tmp_path, {"func.yaml": func_yaml, "func.py": FUNC}))
    assert built.result.returncode != 0
    assert "deploy.healthEndpoints.liveness" in built.result.stdout and "Traceback" not in built.result.stdout
