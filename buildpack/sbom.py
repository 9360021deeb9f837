"""CycloneDX SBOMs of package layers: ``<layers>/<layer>.sbom.cdx.json`` (Buildpack API 0.10, "Bill of Materials").

Every distribution installed in the layer is a component with name, version and purl
(``pkg:pypi/<name>@<version>``), written with cyclonedx-python-lib. buildpack.toml declares
``sbom-formats = ["application/vnd.cyclonedx+json"]``, the only format written.

Reproducible (reproducible-builds.org): the same packages give the same bytes. The
``serialNumber`` is a UUID (version 5) of the layer name and its components rather than a
random one, and ``metadata.timestamp`` is ``SOURCE_DATE_EPOCH`` (seconds since the epoch,
given as ``pack build --env SOURCE_DATE_EPOCH=...``) or, without it, left out (it is optional
in CycloneDX 1.5; the lifecycle gives every file and the image itself a fixed 1980 date too).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from importlib.metadata import distributions
from pathlib import Path

from .errors import BuildpackError

#: The namespace of the serial numbers (uuid5 of the URL naming the buildpack's SBOMs).
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "pyfunc/python-function/sbom")


def write(layers_dir: Path, layer: str, packages: Path, when: datetime | None = None) -> int:
    """Write the SBOM of ``packages`` for ``layer``; return the number of components.

    ``when`` (see ``timestamp``) is the BOM's ``metadata.timestamp``; None leaves it out.
    """
    from cyclonedx.model.bom import Bom
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.output import make_outputter
    from cyclonedx.schema import OutputFormat, SchemaVersion
    from packageurl import PackageURL

    seen: dict[tuple[str, str], str] = {}
    for dist in distributions(path=[str(packages)]):
        name, version = dist.metadata["Name"], dist.version
        if name and (name.lower(), version) not in seen:
            seen[(name.lower(), version)] = name
    purls = []
    bom = Bom()
    for (lower, version), name in sorted(seen.items()):
        purl = PackageURL(type="pypi", name=lower.replace("_", "-"), version=version)
        purls.append(str(purl))
        bom.components.add(Component(name=name, version=version, type=ComponentType.LIBRARY, purl=purl,
                                     bom_ref=str(purl)))
    bom.serial_number = uuid.uuid5(NAMESPACE, "\n".join([layer, *purls]))
    bom.metadata.timestamp = when
    text = make_outputter(bom, OutputFormat.JSON, SchemaVersion.V1_5).output_as_string(indent=2)
    (layers_dir / f"{layer}.sbom.cdx.json").write_text(text, encoding="utf-8")
    return len(seen)


def timestamp(source_date_epoch: str | None) -> datetime | None:
    """The ``SOURCE_DATE_EPOCH`` setting (whole seconds since 1970-01-01 UTC) as an aware UTC
    datetime; None when unset or empty. Raises BuildpackError when it is not such a number."""
    if not (source_date_epoch or "").strip():
        return None
    try:
        return datetime.fromtimestamp(int(source_date_epoch.strip()), timezone.utc)
    except (ValueError, OverflowError, OSError):
        raise BuildpackError(
            f"SOURCE_DATE_EPOCH={source_date_epoch!r} is not a time",
            detail="it is the build's date as whole seconds since 1970-01-01 UTC (reproducible-builds.org)",
            fix="set it to e.g. $(git log -1 --format=%ct), or leave it unset",
        ) from None
