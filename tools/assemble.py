"""Assemble the buildpack directory that lifecycle, pack and the tests use.

    python tools/assemble.py OUT_DIR [--offline]

OUT_DIR gets buildpack.toml, bin/, buildpack/ (the code), vendor/ (pure-Python libraries
from tools/vendor*.txt, installed by pip here, never at build time) and wheels/ (the
invoker wheel built from invoker/). ``--offline`` adds wheelhouse/: the invoker's
dependencies as wheels for CPython 3.10-3.13 on linux amd64 and arm64, exactly the
wheels of buildpack/invoker.lock (``make lock``), so a build with no
package index reachable (PIP_NO_INDEX=1) installs the invoker from it. Needs pip and a
package index, like any packaging step.

Cached by its inputs: when OUT_DIR.inputs (a file next to OUT_DIR) holds the digest of all
of the above (and of this script and the flag), nothing is redone and OUT_DIR is left
untouched, so ``make package`` repackages only after a change.
"""

from __future__ import annotations

import hashlib
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


#: What the assembled directory is made from (relative to the checkout).
INPUTS = ("buildpack.toml", "bin", "buildpack", "invoker", "tools/vendor.txt", "tools/vendor-sdist.txt",
          "tools/assemble.py")
IGNORED = {"__pycache__", "build", ".pytest_cache"}


def inputs_digest(offline: bool) -> str:
    """sha256 over the names and bytes of INPUTS (caches, build/ and *.egg-info left out) and the flag."""
    sha = hashlib.sha256(b"offline" if offline else b"online")
    for name in INPUTS:
        top = ROOT / name
        for path in sorted([top, *top.rglob("*")] if top.is_dir() else [top]):
            parts = path.relative_to(ROOT).parts
            if path.is_file() and IGNORED.isdisjoint(parts) and not any(p.endswith(".egg-info") for p in parts) \
                    and path.suffix != ".pyc":
                sha.update(path.relative_to(ROOT).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return sha.hexdigest()


def main(out: Path, offline: bool = False) -> None:
    digest = inputs_digest(offline)
    stamp = out.parent / f"{out.name}.inputs"
    if stamp.is_file() and stamp.read_text().strip() == digest:
        print(f"{out} is up to date")
        return
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
    stamp.write_text(digest + "\n")
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
