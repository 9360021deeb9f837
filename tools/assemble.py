"""Assemble the buildpack directory that lifecycle, pack and the tests use.

    python tools/assemble.py OUT_DIR [--offline]

OUT_DIR gets buildpack.toml, bin/, buildpack/ (the code), vendor/ (pure-Python libraries
from tools/vendor*.txt, installed by pip here, never at build time) and wheels/ (the
invoker wheel built from invoker/). ``--offline`` adds wheelhouse/: the invoker's
dependencies as wheels for CPython 3.10-3.13 on linux amd64 and arm64, exactly the
wheels of buildpack/invoker.lock (``make lock``), so a build with no
package index reachable (PIP_NO_INDEX=1) installs the invoker from it. Needs pip and a
package index, like any packaging step.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PIP = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]


#: CPython versions and manylinux platform tags the offline wheelhouse covers.
OFFLINE_PYTHONS = ("3.10", "3.11", "3.12", "3.13")
OFFLINE_PLATFORMS = {
    "amd64": ("manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux_2_28_x86_64"),
    "arm64": ("manylinux2014_aarch64", "manylinux_2_17_aarch64", "manylinux_2_28_aarch64"),
}


def main(out: Path, offline: bool = False) -> None:
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    shutil.copy2(ROOT / "buildpack.toml", out / "buildpack.toml")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "bin", out / "bin", ignore=ignore)
    shutil.copytree(ROOT / "buildpack", out / "buildpack", ignore=ignore)
    vendor(out / "vendor")
    run([*PIP, "wheel", "--no-deps", "--quiet", "-w", str(out / "wheels"), str(ROOT / "invoker")])
    for leftover in (ROOT / "invoker").glob("build"):
        shutil.rmtree(leftover, ignore_errors=True)
    if offline:
        wheelhouse(out / "wheelhouse", out / "wheels")
    print(f"assembled {out}")


def wheelhouse(target: Path, wheels: Path) -> None:
    """The wheels of the invoker lock (buildpack/invoker.lock, hash-checked) for every CPython and arch we serve."""
    for python in OFFLINE_PYTHONS:
        abi = "cp" + python.replace(".", "")
        for platforms in OFFLINE_PLATFORMS.values():
            run([*PIP, "download", "--quiet", "--only-binary=:all:", "--python-version", python,
                 "--implementation", "cp", "--abi", abi, "--abi", "abi3", "--abi", "none",
                 *(arg for tag in platforms for arg in ("--platform", tag)),
                 "--no-deps", "--require-hashes", "-d", str(target), "-r", str(ROOT / "buildpack" / "invoker.lock")])


def vendor(target: Path) -> None:
    """Pure-Python wheels only (platform ``any``), so one package serves every arch and CPython 3.10+."""
    run([*PIP, "install", "--quiet", "--target", str(target), "--only-binary=:all:", "--platform", "any",
         "--implementation", "py", "--python-version", "3.10", "-r", str(ROOT / "tools" / "vendor.txt")])
    with tempfile.TemporaryDirectory() as tmp:
        # PyYAML publishes no pure wheel: take the pure-Python package from its sdist.
        run([*PIP, "download", "--quiet", "--no-binary=pyyaml", "--no-deps", "-d", tmp,
             "-r", str(ROOT / "tools" / "vendor-sdist.txt")])
        sdist = next(Path(tmp).glob("*.tar.gz"))
        with tarfile.open(sdist) as archive:
            members = [m for m in archive.getmembers() if "/lib/yaml/" in m.name and m.name.endswith(".py")]
            for member in members:
                member.name = "yaml/" + member.name.split("/lib/yaml/", 1)[1]
            archive.extractall(target, members=members)
    shutil.rmtree(target / "bin", ignore_errors=True)
    for cache in target.rglob("__pycache__"):
        shutil.rmtree(cache, ignore_errors=True)


def run(command: list[str]) -> None:
    subprocess.run(command, check=True)


if __name__ == "__main__":
    arguments = [a for a in sys.argv[1:] if a != "--offline"]
    if len(arguments) != 1:
        sys.exit(__doc__)
    main(Path(arguments[0]).resolve(), offline="--offline" in sys.argv[1:])
