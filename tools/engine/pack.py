"""``pack build`` with the test builder on the project's engine, and the one-call setup for it.

    engine, builder = ready()                      # engine up, stack and builder made (cached)
    result = build(engine, builder, "fn", app)     # daemon mode; publish=True pushes to the registry
    result = publish(engine)                       # the multi-arch buildpackage into the registry
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from .daemon import ROOT, Engine
from .stack import TOOLS_BIN, Stack

PACK = TOOLS_BIN / "pack"
#: Platforms of the published buildpackage: buildpack.toml's [[targets]] (the content is the same for both).
PLATFORMS = ("linux/amd64", "linux/arm64")


def version() -> str:
    """The buildpack's version, from buildpack.toml."""
    for line in (ROOT / "buildpack.toml").read_text().splitlines():
        key, _, value = line.strip().partition("=")
        if key.strip() == "version":
            return value.strip().strip(chr(34))
    raise RuntimeError("buildpack.toml has no version")


def cnb_file() -> Path:
    """build/pyfunc-python-function-<version>.cnb, as ``make package`` names it."""
    return ROOT / "build" / f"pyfunc-python-function-{version()}.cnb"


def buildpackage_reference(engine: Engine) -> str:
    """Where ``make publish`` pushes the buildpackage: ``localhost:PORT/pyfunc/python-function:<version>``."""
    return f"{engine.registry}/pyfunc/python-function:{version()}"


def publish(engine: Engine, reference: str | None = None, platforms: tuple[str, ...] = PLATFORMS,
            timeout: float = 600) -> subprocess.CompletedProcess:
    """``pack buildpack package REFERENCE --config package.toml --publish --target P...`` (pack >= 0.34).

    pack pushes one image per platform, then an OCI image index naming them under REFERENCE
    (default :func:`buildpackage_reference`). Needs the assembled build/buildpack (``make
    buildpack``) and a registry, no daemon. stdout+stderr in ``.stdout``.
    """
    argv = [str(PACK), "buildpack", "package", reference or buildpackage_reference(engine),
            "--config", str(ROOT / "package.toml"), "--publish"]
    for platform in platforms:
        argv += ["--target", platform]
    return subprocess.run(argv, env=engine.env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=timeout, cwd=ROOT)


def ready(engine: Engine | None = None) -> tuple[Engine, str, bool]:
    """Install and start the engine if needed, make stack and builder: (engine, builder, started here)."""
    engine = engine or Engine()
    started = engine.up()
    return engine, Stack(engine).builder(cnb_file()), started


def build(engine: Engine, builder: str, image: str, app: Path, env: dict[str, str] | None = None,
          publish: bool = False, extra: tuple[str, ...] = (), timeout: float = 900) -> subprocess.CompletedProcess:
    """``pack build IMAGE --path APP`` (stdout+stderr in ``.stdout``); pack reads APP's project.toml itself.

    ``--network host`` only for the build containers (pip reaches the package index as the host
    does); the images it makes run on the bridge network.
    """
    argv = [str(PACK), "build", image, "--builder", builder, "--trust-builder", "--pull-policy", "if-not-present",
            "--docker-host", "inherit", "--network", "host", "--path", str(app), *extra]
    for name, value in (env or {}).items():
        argv += ["--env", f"{name}={value}"]
    if publish:
        argv.append("--publish")
    return subprocess.run(argv, env=engine.env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=timeout)


def build_settings(environ: os._Environ | dict[str, str] = os.environ) -> dict[str, str]:
    """Build settings of the caller's env that ``make run NAME=...`` passes to pack as ``--env``."""
    prefixes = ("BP_", "BPE_", "GOOGLE_FUNCTION_", "GOOGLE_RUNTIME")
    return {k: v for k, v in environ.items() if k.startswith(prefixes)}
