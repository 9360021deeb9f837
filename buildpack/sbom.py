"""CycloneDX SBOMs of package layers: ``<layers>/<layer>.sbom.cdx.json`` (Buildpack API 0.10, "Bill of Materials").

Every distribution installed in the layer is a component with name, version and purl
(``pkg:pypi/<name>@<version>``), written with cyclonedx-python-lib. buildpack.toml declares
``sbom-formats = ["application/vnd.cyclonedx+json"]``, the only format written.
"""

from __future__ import annotations

from importlib.metadata import distributions
from pathlib import Path



def write(layers_dir: Path, layer: str, packages: Path) -> int:
    """Write the SBOM of ``packages`` for ``layer``; return the number of components."""
    from cyclonedx.model.bom import Bom
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.output import make_outputter
    from cyclonedx.schema import OutputFormat, SchemaVersion
    from packageurl import PackageURL

    bom = Bom()
    seen = set()
    for dist in sorted(distributions(path=[str(packages)]), key=lambda d: (d.metadata["Name"] or "").lower()):
        name, version = dist.metadata["Name"], dist.version
        if not name or (name.lower(), version) in seen:
            continue
        seen.add((name.lower(), version))
        purl = PackageURL(type="pypi", name=name.lower().replace("_", "-"), version=version)
        bom.components.add(Component(name=name, version=version, type=ComponentType.LIBRARY, purl=purl,
                                     bom_ref=str(purl)))
    text = make_outputter(bom, OutputFormat.JSON, SchemaVersion.V1_5).output_as_string(indent=2)
    (layers_dir / f"{layer}.sbom.cdx.json").write_text(text, encoding="utf-8")
    return len(seen)
