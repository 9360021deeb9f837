"""The packaged buildpack: the .cnb that `make package` writes with pack, read as an OCI layout."""

from __future__ import annotations

import gzip
import io
import json
import os
import tarfile
from pathlib import Path

import pytest
try:
    import tomllib as toml
except ModuleNotFoundError:  # Python 3.10
    import tomli as toml

from conftest import ROOT

VERSION = toml.loads((ROOT / "buildpack.toml").read_text())["buildpack"]["version"]
CNB = ROOT / "build" / f"pyfunc-python-function-{VERSION}.cnb"
PREFIX = f"cnb/buildpacks/pyfunc_python-function/{VERSION}/"


@pytest.fixture(scope="module")
def layout():
    if not CNB.is_file():
        if os.environ.get("CI"):
            pytest.fail(f"{CNB} is missing: make test runs make package first")
        pytest.skip(f"{CNB} is missing: run make package")
    with tarfile.open(CNB) as archive:
        files = {m.name.lstrip("./"): archive.extractfile(m).read() for m in archive.getmembers() if m.isfile()}
    return files


def blob(files: dict[str, bytes], digest: str) -> bytes:
    return files[f"blobs/{digest.replace(':', '/')}"]


def test_oci_layout_has_the_buildpackage_label(layout):
    index = json.loads(layout["index.json"])
    manifest = json.loads(blob(layout, index["manifests"][0]["digest"]))
    config = json.loads(blob(layout, manifest["config"]["digest"]))
    metadata = json.loads(config["config"]["Labels"]["io.buildpacks.buildpackage.metadata"])
    assert metadata["id"] == "pyfunc/python-function" and metadata["version"] == VERSION


def test_layer_holds_the_buildpack_with_vendored_libraries(layout):
    index = json.loads(layout["index.json"])
    manifest = json.loads(blob(layout, index["manifests"][0]["digest"]))
    members = {}
    for layer in manifest["layers"]:
        data = blob(layout, layer["digest"])
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        with tarfile.open(fileobj=io.BytesIO(data)) as archive:
            members.update({m.name.lstrip("/"): m for m in archive.getmembers()})
    for executable in ("bin/detect", "bin/build", "bin/detect-sh"):
        member = members[PREFIX + executable]
        assert member.isfile() and member.mode & 0o111, executable
    for path in ("buildpack.toml", "buildpack/__main__.py", "buildpack/build.py",
                 "buildpack/schema/func.yaml.schema.json", "buildpack/invoker.lock", "vendor/yaml/__init__.py", "vendor/jsonschema/__init__.py",
                 "vendor/tomli/__init__.py", "vendor/tomli_w/__init__.py", "vendor/packaging/requirements.py", "vendor/cyclonedx/__init__.py", f"wheels/pyfunc-{VERSION}-py3-none-any.whl"):
        assert PREFIX + path in members, path
    assert not [name for name in members if name.endswith(".so")], "vendored libraries must be pure Python"

