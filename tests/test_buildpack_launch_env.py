"""The launch env of a built image, through the real lifecycle and its launcher.

func.yaml values reach the process as the text written (func reads them with YAML 1.2), a
null value leaves the env out, names holding '.' arrive (exec.d, since no env file can carry
them), and BPE_* settings mean what they mean to Paketo's environment-variables buildpack.
"""

from __future__ import annotations

import requests

from conftest import write_function
from test_lifecycle_e2e import Built

FUNC_YAML = """\
specVersion: 0.36.0
name: envs
runtime: python
run:
  envs:
  - {name: ANSWER, value: yes}
  - {name: MODE, value: 0777}
  - {name: AT, value: 12:30}
  - {name: GONE, value: ~}
  - {name: my.dotted, value: "a \\"quoted\\" value\\twith tab"}
  - {name: app.mode, value: prod}
"""
SETTINGS = {
    "BPE_APPEND_PATHLIKE": "/b", "BPE_DELIM_PATHLIKE": ":", "BPE_PREPEND_PRE": "x", "BPE_APPEND_NODELIM": "z",
    "BPE_DEFAULT_DEF": "d", "BPE_OVERRIDE_OVR": "o", "BPE_PLAIN": "p",
    "BPE_DEFAULT_dotted.default": "dd", "BPE_OVERRIDE_dotted.override": "oo", "BPE_APPEND_dotted.path": "/d",
    "BPE_DELIM_dotted.path": ":",
}
NAMES = ["ANSWER", "MODE", "AT", "GONE", "my.dotted", "app.mode", "PATHLIKE", "PRE", "NODELIM", "DEF", "OVR", "PLAIN",
         "dotted.default", "dotted.override", "dotted.path", "APPEND_PATHLIKE", "PATHLIKE.append"]


def test_launch_env_as_func_and_paketo_mean_it(lifecycle, tmp_path):
    write_function(tmp_path, {
        "func.py": "import os\n\ndef main(req):\n    return {n: os.environ.get(n) for n in req.args.getlist('n')}\n",
        "func.yaml": FUNC_YAML,
    })
    built = Built(lifecycle, tmp_path, SETTINGS)
    try:
        assert built.result.returncode == 0, built.result.stdout
        assert "GONE: the value is null" in built.result.stdout
        env_files = sorted(p.name for p in (built.layers / "function-env" / "env.launch").iterdir())
        assert "PATHLIKE.append" in env_files and "PATHLIKE.delim" in env_files and "NODELIM.delim" not in env_files
        assert not [name for name in env_files if name.count(".") > 1], env_files  # the lifecycle would drop them

        url = built.launch()
        image = requests.get(url, params={"n": NAMES}).json()
        assert image == {
            "ANSWER": "yes", "MODE": "0777", "AT": "12:30", "GONE": None, "my.dotted": 'a "quoted" value\twith tab',
            "app.mode": "prod", "PATHLIKE": "/b", "PRE": "x", "NODELIM": "z", "DEF": "d", "OVR": "o", "PLAIN": "p",
            "dotted.default": "dd", "dotted.override": "oo", "dotted.path": "/d", "APPEND_PATHLIKE": None,
            "PATHLIKE.append": None,
        }

        deploy = {"PATHLIKE": "/a", "PRE": "y", "NODELIM": "w", "DEF": "deploy", "OVR": "deploy", "PLAIN": "deploy",
                  "ANSWER": "deploy", "app.mode": "deploy", "dotted.default": "deploy", "dotted.override": "deploy",
                  "dotted.path": "/c"}
        url = built.launch(deploy)
        deployed = requests.get(url, params={"n": NAMES}).json()
        assert {name: deployed[name] for name in deploy} == {
            "PATHLIKE": "/a:/b", "PRE": "xy", "NODELIM": "wz", "DEF": "deploy", "OVR": "o", "PLAIN": "p",
            "ANSWER": "deploy", "app.mode": "deploy", "dotted.default": "deploy", "dotted.override": "oo",
            "dotted.path": "/c:/d",
        }
    finally:
        built.cleanup()


def test_pre_0_35_invocation_format_serves_cloudevents(lifecycle, tmp_path):
    """A func.yaml func wrote before specVersion 0.35 (invocation.format) builds the CloudEvent variant."""
    import json
    import shutil

    from conftest import ROOT
    from test_lifecycle_e2e import KNATIVE_CURL, curl

    app = tmp_path / "app"
    shutil.copytree(ROOT / "samples" / "knative-cloudevent", app)
    (app / "func.yaml").write_text("specVersion: 0.34.0\nname: knative-echo-event\nruntime: python\n"
                                   "invocation:\n  format: cloudevent\n")
    built = Built(lifecycle, app)
    try:
        assert built.result.returncode == 0, built.result.stdout
        assert (built.layers / "function-env" / "env.launch" / "FUNC_INVOKE.default").read_text() == "cloudevent"
        head, body = curl(built.launch(), "-X", "POST", *KNATIVE_CURL)
        assert head.startswith("HTTP/1.1 200") and "application/cloudevents+json" in head
        assert json.loads(body)["data"]["echo"] == {"message": "Hello CloudEvent!"}
    finally:
        built.cleanup()


def test_specversion_0_38_top_level_scale_becomes_the_scale_label(lifecycle, tmp_path):
    import json
    import shutil

    from conftest import ROOT
    from test_lifecycle_e2e import toml

    app = tmp_path / "app"
    shutil.copytree(ROOT / "samples" / "http", app)
    (app / "func.yaml").write_text("specVersion: 0.38.0\nname: scaled\nruntime: python\nscale:\n  min: 1\n  max: 4\n")
    built = Built(lifecycle, app)
    try:
        assert built.result.returncode == 0, built.result.stdout
        labels = {label["key"]: label["value"] for label in toml.loads((built.layers / "launch.toml").read_text())["labels"]}
        assert json.loads(labels["options-scale"]) == {"min": 1, "max": 4}
    finally:
        built.cleanup()
