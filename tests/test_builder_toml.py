"""builder.toml as pack reads it and as Paketo users expect it.

pack's own reader and validator (``builderconfig``, built by ``make pack`` from pack v0.38.2's
``builder.ReadConfig``/``ValidateConfig``: unknown keys, ``[build]``/``[run]`` images) decide
whether pack accepts the file; ``pack builder create`` has no dry run and would fetch every
image. On the config as pack parsed it, the tests check what Paketo's builders do
(paketo-buildpacks/builder-jammy-base builder.toml): every buildpack pinned by id, version and
uri tag, the lifecycle by version, the build image by tag; and what this buildpack needs: last
in each group (its ``web`` stays the default process), Paketo's optional ca-certificates,
environment-variables and image-labels in each group.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

try:
    import tomllib as toml
except ModuleNotFoundError:  # Python 3.10
    import tomli as toml

from conftest import ROOT

BUILDERCONFIG = ROOT / ".tools" / "bin" / "builderconfig"
VERSION = toml.loads((ROOT / "buildpack.toml").read_text())["buildpack"]["version"]
OURS = "pyfunc/python-function"
#: Paketo buildpacks that define no process type: optional in every group, as in Paketo's python.
OPTIONAL_IN_EVERY_GROUP = ("paketo-buildpacks/ca-certificates", "paketo-buildpacks/environment-variables",
                           "paketo-buildpacks/image-labels")
#: Paketo buildpacks whose default process `web` would replace ours (README "Different on purpose").
WEB_PROCESS = ("paketo-buildpacks/python-start", "paketo-buildpacks/procfile", "paketo-buildpacks/poetry-run")


def pack_reads(path: Path) -> subprocess.CompletedProcess:
    if not BUILDERCONFIG.is_file():
        if os.environ.get("CI"):
            pytest.fail(f"{BUILDERCONFIG} is missing: make test runs make pack first")
        pytest.skip(f"{BUILDERCONFIG} is missing: run make pack")
    return subprocess.run([str(BUILDERCONFIG), str(path)], capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def config() -> dict:
    """builder.toml as pack parsed it (Go field names for pack's own structs, TOML names for dist's)."""
    result = pack_reads(ROOT / "builder.toml")
    assert result.returncode == 0, result.stderr
    parsed = json.loads(result.stdout)
    assert not parsed["warnings"], parsed["warnings"]
    return parsed["config"]


@pytest.mark.parametrize(("edit", "refusal"), [
    (lambda text: text.replace('  version = "0.1.0"\n', '  version = "0.1.0"\n  sha256 = "x"\n', 1),
     "unknown configuration element"),
    (lambda text: text.split("[build]")[0], "build.image is required"),
    (lambda text: text.replace('[[run.images]]\n    image = "paketobuildpacks/run-jammy-base:latest"',
                               '[[run.images]]\n    mirrors = ["paketobuildpacks/run-jammy-base:latest"]'),
     "run.images.image is required"),
])
def test_pack_refuses_what_it_would_refuse(tmp_path, edit, refusal):
    """The check can fail: pack's reader refuses an unknown key and a builder without images."""
    path = tmp_path / "builder.toml"
    path.write_text(edit((ROOT / "builder.toml").read_text()))
    result = pack_reads(path)
    assert result.returncode == 1 and refusal in result.stderr, result.stderr


def test_every_buildpack_is_pinned_by_id_version_and_uri_tag(config):
    buildpacks = {bp["id"]: bp for bp in config["Buildpacks"]}
    assert len(buildpacks) == len(config["Buildpacks"]), "one [[buildpacks]] entry per id"
    for bp in config["Buildpacks"]:
        assert bp["version"], bp
        uri = bp["URI"]
        if uri.startswith("docker://"):
            name, _, tag = uri.removeprefix("docker://").rpartition(":")
            assert tag == bp["version"], f"{uri}: tag must be the pinned version {bp['version']}"
            assert name == "paketobuildpacks/" + bp["id"].removeprefix("paketo-buildpacks/"), uri
        else:
            assert bp["id"] == OURS and bp["version"] == VERSION, bp
            assert uri == f"build/pyfunc-python-function-{VERSION}.cnb", "make package's file"
    for order in config["Order"]:
        for entry in order["group"]:
            assert entry["id"] in buildpacks, f"order group {entry['id']} has no [[buildpacks]] entry"
            assert entry.get("version") == buildpacks[entry["id"]]["version"], entry


def test_lifecycle_and_build_image_are_pinned(config):
    version = config["Lifecycle"]["Version"]
    assert version and all(part.isdigit() for part in version.split(".")) and version.count(".") == 2, version
    assert not config["Lifecycle"]["URI"], "a version, not a download uri"
    build_image = config["Build"]["Image"]
    assert build_image.startswith("paketobuildpacks/build-") and build_image.rpartition(":")[2][:1].isdigit()
    assert [image["Image"].rpartition(":")[0] for image in config["Run"]["Images"]] == ["paketobuildpacks/run-jammy-base"]
    assert build_image.rpartition(":")[0].removeprefix("paketobuildpacks/build-") == "jammy-base"


def test_each_group_ends_with_pyfunc_and_has_paketos_optional_buildpacks(config):
    assert config["Order"], "at least one [[order]]"
    for order in config["Order"]:
        group = order["group"]
        assert group[-1]["id"] == OURS and not group[-1].get("optional"), "pyfunc last: its web stays default"
        ids = [entry["id"] for entry in group]
        assert not set(ids) & set(WEB_PROCESS), ids
        optional = {entry["id"] for entry in group if entry.get("optional")}
        assert set(OPTIONAL_IN_EVERY_GROUP) <= optional, ids
        assert ids[0] == "paketo-buildpacks/ca-certificates", "CA certificates before anything that downloads"
        assert {"paketo-buildpacks/cpython", "paketo-buildpacks/pip"} <= set(ids) - optional, ids


def test_images_and_uris_name_no_registry_host(config):
    """Short Docker Hub names as the file always used: no registry host is written into the project."""
    names = [bp["URI"].removeprefix("docker://") for bp in config["Buildpacks"] if bp["URI"].startswith("docker://")]
    names += [config["Build"]["Image"]] + [image["Image"] for image in config["Run"]["Images"]]
    for name in names:
        first = name.split("/")[0]
        assert "." not in first and ":" not in first and first != "localhost", name
