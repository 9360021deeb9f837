"""The layers of a CNB-built image by name, and what differs between two images' layers.

The lifecycle's exporter records every layer it adds in the image label
``io.buildpacks.lifecycle.metadata`` (buildpacks/lifecycle, platform/files ``LayersMetadata``):
``app``, ``config``, ``launcher``, ``process-types``, ``sbom`` and each buildpack layer under
``buildpacks[].layers``, each with ``sha``, the layer's diffID (sha256 of the uncompressed tar,
as in the image config's ``rootfs.diff_ids``). ``files`` reads a layer's tar from ``docker
save`` (docker 20.10: ``manifest.json`` lists the ``layer.tar`` files in diff_ids order).
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

LABEL = "io.buildpacks.lifecycle.metadata"


def named_layers(engine, image: str) -> dict[str, str]:
    """{layer name: diffID} of the layers the lifecycle exported; buildpack layers are named
    ``<buildpack id>:<layer>`` (e.g. ``pyfunc/python-function:invoker``), app layers ``app[i]``."""
    label = engine.docker("image", "inspect", "--format", "{{index .Config.Labels \"" + LABEL + "\"}}", image).stdout
    metadata = json.loads(label)
    names = {f"app[{i}]": entry["sha"] for i, entry in enumerate(metadata.get("app") or [])}
    for key in ("config", "launcher", "process-types", "sbom"):
        if (metadata.get(key) or {}).get("sha"):
            names[key] = metadata[key]["sha"]
    for buildpack in metadata.get("buildpacks") or []:
        for layer, entry in (buildpack.get("layers") or {}).items():
            if entry.get("sha"):
                names[f"{buildpack['key']}:{layer}"] = entry["sha"]
    return names


def files(engine, image: str, diff_id: str, workdir: Path) -> dict[str, tuple]:
    """{path: (type, mode, uid, gid, mtime, link target, sha256 of the content)} of one layer of ``image``."""
    saved = workdir / (hashlib.sha256(image.encode()).hexdigest()[:16] + ".tar")
    if not saved.exists():
        engine.docker("save", "-o", str(saved), image)
    with tarfile.open(saved) as archive:
        manifest = json.load(archive.extractfile("manifest.json"))[0]
        config = json.load(archive.extractfile(manifest["Config"]))
        index = config["rootfs"]["diff_ids"].index(diff_id)
        data = archive.extractfile(manifest["Layers"][index]).read()
    with tarfile.open(fileobj=io.BytesIO(data)) as layer:
        return {member.name: (member.type.decode(), oct(member.mode), member.uid, member.gid, member.mtime,
                              member.linkname, hashlib.sha256(layer.extractfile(member).read()).hexdigest()
                              if member.isfile() else "") for member in layer.getmembers()}


def difference(engine, first: str, second: str, names: list[str], workdir: Path, shown: int = 15) -> str:
    """For each layer name differing between images ``first`` and ``second``: the paths whose
    entry (type, mode, owner, mtime, link, content) differs, at most ``shown`` per layer."""
    ours, theirs = named_layers(engine, first), named_layers(engine, second)
    lines = []
    for name in names:
        if name not in ours or name not in theirs:
            lines.append(f"{name}: only in {first if name in ours else second}")
            continue
        a, b = files(engine, first, ours[name], workdir), files(engine, second, theirs[name], workdir)
        changed = sorted(path for path in set(a) | set(b) if a.get(path) != b.get(path))
        lines.append(f"{name}: {ours[name][:19]} != {theirs[name][:19]}, {len(changed)} paths differ "
                     f"({len(a)} and {len(b)} entries; each as type, mode, uid, gid, mtime, link, sha256):")
        lines += [f"  {path}\n    {a.get(path)}\n    {b.get(path)}" for path in changed[:shown]]
    return "\n".join(lines)
