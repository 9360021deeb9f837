"""Assemble the buildpack directory that lifecycle, pack and the tests use.

    python tools/assemble.py OUT_DIR

OUT_DIR gets buildpack.toml, bin/, buildpack/ (the code), vendor/ (pure-Python libraries
from tools/vendor*.txt, installed by pip here, never at build time) and wheels/ (the
invoker wheel built from invoker/). Needs pip and a package index, like any packaging step.
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


def main(out: Path) -> None:
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
    print(f"assembled {out}")


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
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(Path(sys.argv[1]).resolve())
