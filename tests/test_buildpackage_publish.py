"""The multi-arch buildpackage that ``make publish`` pushes, read back through the registry's HTTP API.

``pack buildpack package REF --config package.toml --publish --target linux/amd64 --target
linux/arm64`` (tools/engine/pack.py ``publish``) against the project's loopback registry; the
pushed tag must be an image index (OCI image-spec, image-index.md) naming one image per
platform, and both images must carry the same buildpack layer (the buildpack is Python and
shell: its content does not depend on the architecture).
"""

from __future__ import annotations

import gzip
import io
import json
import os
import tarfile

import pytest
import requests

try:
    import tomllib as toml
except ModuleNotFoundError:  # Python 3.10
    import tomli as toml

from conftest import ROOT
from engine.pack import PLATFORMS, publish, version

INDEX_TYPES = ("application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json")
MANIFEST_TYPES = ("application/vnd.oci.image.manifest.v1+json", "application/vnd.docker.distribution.manifest.v2+json")
REPOSITORY = "pyfunc-test/python-function"


def test_published_platforms_are_the_targets_of_buildpack_toml():
    targets = toml.loads((ROOT / "buildpack.toml").read_text())["targets"]
    assert sorted(PLATFORMS) == sorted(f"{t['os']}/{t['arch']}" for t in targets)


class Registry:
    """GETs against the registry's /v2/ API on 127.0.0.1 (distribution spec, pull endpoints)."""

    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}/v2/{REPOSITORY}"

    def manifest(self, reference: str, accept: tuple[str, ...]) -> dict:
        response = requests.get(f"{self.base}/manifests/{reference}", headers={"Accept": ", ".join(accept)},
                                timeout=30)
        assert response.status_code == 200, (reference, response.status_code, response.text)
        return response.json()

    def blob(self, digest: str) -> bytes:
        response = requests.get(f"{self.base}/blobs/{digest}", timeout=60)
        assert response.status_code == 200, (digest, response.status_code)
        return response.content


@pytest.fixture(scope="module")
def published(engine_registry):
    if not (ROOT / "build" / "buildpack" / "buildpack.toml").is_file():
        if os.environ.get("CI"):
            pytest.fail("build/buildpack is missing: make test runs make package first")
        pytest.skip("build/buildpack is missing: run make buildpack")
    tag = f"{version()}-test{os.getpid()}"
    result = publish(engine_registry, f"{engine_registry.registry}/{REPOSITORY}:{tag}")
    assert result.returncode == 0, result.stdout
    registry = Registry(engine_registry.registry_port)
    index = registry.manifest(tag, INDEX_TYPES)
    images = {}
    for entry in index["manifests"]:
        manifest = registry.manifest(entry["digest"], MANIFEST_TYPES)
        config = json.loads(registry.blob(manifest["config"]["digest"]))
        images[f"{entry['platform']['os']}/{entry['platform']['architecture']}"] = (manifest, config)
    return registry, index, images


def test_tag_is_an_image_index_of_both_platforms(published):
    _, index, images = published
    assert index["mediaType"] in INDEX_TYPES
    assert len(index["manifests"]) == len(PLATFORMS)
    assert sorted(images) == sorted(PLATFORMS)
    for platform, (_, config) in images.items():
        assert f"{config['os']}/{config['architecture']}" == platform


def test_both_platforms_carry_the_same_buildpack_layer(published):
    registry, _, images = published
    (first, first_config), *others = images.values()
    for manifest, config in others:
        assert config["rootfs"]["diff_ids"] == first_config["rootfs"]["diff_ids"]
        assert [layer["digest"] for layer in manifest["layers"]] == [layer["digest"] for layer in first["layers"]]
        assert (config["config"]["Labels"]["io.buildpacks.buildpackage.metadata"]
                == first_config["config"]["Labels"]["io.buildpacks.buildpackage.metadata"])
    metadata = json.loads(first_config["config"]["Labels"]["io.buildpacks.buildpackage.metadata"])
    assert (metadata["id"], metadata["version"]) == ("pyfunc/python-function", version())
    names = set()
    for layer in first["layers"]:
        data = registry.blob(layer["digest"])
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        with tarfile.open(fileobj=io.BytesIO(data)) as archive:
            names.update(m.name.lstrip("/") for m in archive.getmembers())
    prefix = f"cnb/buildpacks/pyfunc_python-function/{version()}/"
    assert {prefix + "bin/detect", prefix + "bin/build", prefix + "buildpack.toml"} <= names
