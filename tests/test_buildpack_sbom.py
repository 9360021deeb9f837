"""The CycloneDX SBOM of a package layer is reproducible: the same packages give the same bytes.

(reproducible-builds.org: no random serial number, no build time unless SOURCE_DATE_EPOCH
gives one.) The SBOMs of a real build are checked against the CycloneDX schema in
test_lifecycle_e2e.py, and two real builds' layers compared in test_lifecycle_reproducible.py.
"""

from __future__ import annotations

import json
import sys
import uuid

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT))
from buildpack import sbom  # noqa: E402
from buildpack.errors import BuildpackError  # noqa: E402


def packages(tmp_path, *dists: tuple[str, str]):
    """A ``--target`` dir holding the dist-info METADATA pip writes, in the order given."""
    target = tmp_path / "packages"
    for name, version in dists:
        info = target / f"{name.replace('-', '_')}-{version}.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    return target


def written(tmp_path, layer: str, target, when=None) -> str:
    sbom.write(tmp_path, layer, target, when)
    return (tmp_path / f"{layer}.sbom.cdx.json").read_text()


def test_same_packages_give_the_same_bytes_whatever_order_they_were_installed_in(tmp_path):
    first = written(tmp_path / "a", "deps", packages(tmp_path / "a", ("humanize", "4.9.0"), ("Flask", "3.1.3")))
    second = written(tmp_path / "b", "deps", packages(tmp_path / "b", ("Flask", "3.1.3"), ("humanize", "4.9.0")))
    assert first == second
    document = json.loads(first)
    assert "timestamp" not in document.get("metadata", {})
    serial = uuid.UUID(document["serialNumber"].removeprefix("urn:uuid:"))
    assert serial.version == 5
    assert [c["purl"] for c in document["components"]] == ["pkg:pypi/flask@3.1.3", "pkg:pypi/humanize@4.9.0"]


def test_serial_number_names_the_layer_and_its_packages(tmp_path):
    target = packages(tmp_path, ("humanize", "4.9.0"))
    serials = {json.loads(written(tmp_path, layer, target))["serialNumber"] for layer in ("invoker", "dependencies")}
    other = packages(tmp_path / "other", ("humanize", "4.9.1"))
    serials.add(json.loads(written(tmp_path, "invoker", other))["serialNumber"])
    assert len(serials) == 3


def test_source_date_epoch_is_the_timestamp(tmp_path):
    when = sbom.timestamp(" 1700000000\n")
    document = json.loads(written(tmp_path, "deps", packages(tmp_path, ("humanize", "4.9.0")), when))
    assert document["metadata"]["timestamp"] == "2023-11-14T22:13:20+00:00"
    assert sbom.timestamp(None) is None and sbom.timestamp("") is None


@pytest.mark.parametrize("value", ["yesterday", "1.5", "99999999999999999999"])
def test_a_source_date_epoch_that_is_not_seconds_is_a_clear_error(value):
    with pytest.raises(BuildpackError) as error:
        sbom.timestamp(value)
    assert f"SOURCE_DATE_EPOCH={value!r} is not a time" in str(error.value) and error.value.fix
