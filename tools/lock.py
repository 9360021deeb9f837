"""Write buildpack/invoker.lock: the invoker's dependencies, exact versions and sha256 of every wheel.

    python tools/lock.py [OUT]          (make lock)

For each CPython of ``assemble.OFFLINE_PYTHONS`` and each arch of ``assemble.OFFLINE_PLATFORMS``,
pip resolves the invoker wheel (built from invoker/) with ``buildpack.build.INVOKER_PINS`` as it
would install it there (``pip install --dry-run --report``, binary wheels only) and reports the
wheel it chose for every package. The lock holds one ``name==version`` line per package and
version with every such wheel's ``--hash``; a package or version needed on some Pythons or
arches only carries a marker saying where. pip reads the file as a requirements file (hash-checking
mode) and, hashes dropped, as constraints (buildpack.resolution). Needs pip and a package index.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tools")]

from assemble import OFFLINE_PLATFORMS, OFFLINE_PYTHONS, PIP  # noqa: E402
from buildpack.build import INVOKER_PINS  # noqa: E402

#: platform_machine of each arch, for markers of packages only one arch needs.
MACHINES = {"amd64": "x86_64", "arm64": "aarch64"}
HEADER = "# The invoker's dependencies, exact and hash-checked: written by `make lock` (tools/lock.py). Do not edit.\n"


def resolve(wheel: Path, python: str, platforms: tuple[str, ...]) -> dict[str, tuple[str, str]]:
    """``{name: (version, sha256)}`` of the wheels pip picks for ``python`` on ``platforms``."""
    abi = "cp" + python.replace(".", "")
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        subprocess.run([*PIP, "install", "--quiet", "--dry-run", "--ignore-installed", "--target", str(Path(tmp) / "t"),
                        "--report", str(report), "--only-binary=:all:", "--python-version", python,
                        "--implementation", "cp", "--abi", abi, "--abi", "abi3", "--abi", "none",
                        *(arg for tag in platforms for arg in ("--platform", tag)),
                        str(wheel), *INVOKER_PINS], check=True)
        items = json.loads(report.read_text())["install"]
    chosen = {}
    for item in items:
        name = item["metadata"]["name"].lower().replace("_", "-")
        if name == "pyfunc":
            continue
        archive = item["download_info"].get("archive_info", {})
        digest = archive.get("hashes", {}).get("sha256") or archive.get("hash", "").partition("sha256=")[2]
        if not digest:
            sys.exit(f"pip reported no sha256 for {name}: {item['download_info']}")
        chosen[name] = (item["metadata"]["version"], digest)
    return chosen


def marker(where: set[tuple[str, str]]) -> str:
    """The PEP 508 marker true on exactly the (python, arch) pairs of ``where`` (empty: everywhere)."""
    every = {(p, a) for p in OFFLINE_PYTHONS for a in OFFLINE_PLATFORMS}
    if where == every:
        return ""
    pythons = sorted({p for p, _ in where})
    arches = sorted({a for _, a in where})
    if {(p, a) for p in pythons for a in arches} != where:
        return " or ".join(f'(python_version == "{p}" and platform_machine == "{MACHINES[a]}")' for p, a in sorted(where))
    parts = []
    if len(pythons) < len(OFFLINE_PYTHONS):
        parts.append(" or ".join(f'python_version == "{p}"' for p in pythons))
    if len(arches) < len(OFFLINE_PLATFORMS):
        parts.append(" or ".join(f'platform_machine == "{MACHINES[a]}"' for a in arches))
    return " and ".join(f"({p})" if len(parts) > 1 else p for p in parts)


def main(out: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([*PIP, "wheel", "--no-deps", "--quiet", "-w", tmp, str(ROOT / "invoker")], check=True)
        wheel = next(Path(tmp).glob("pyfunc-*.whl"))
        where: dict[tuple[str, str], set[tuple[str, str]]] = defaultdict(set)
        hashes: dict[tuple[str, str], set[str]] = defaultdict(set)
        for python in OFFLINE_PYTHONS:
            for arch, platforms in OFFLINE_PLATFORMS.items():
                for name, (version, digest) in resolve(wheel, python, platforms).items():
                    where[(name, version)].add((python, arch))
                    hashes[(name, version)].add(digest)
    lines = [HEADER]
    for (name, version) in sorted(where):
        condition = marker(where[(name, version)])
        lines.append(f"{name}=={version}" + (f" ; {condition}" if condition else "") + " \\\n")
        lines.append(" \\\n".join(f"    --hash=sha256:{digest}" for digest in sorted(hashes[(name, version)])) + "\n")
    out.write_text("".join(lines), encoding="utf-8")
    print(f"wrote {out}: {len(where)} packages")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "buildpack" / "invoker.lock")
