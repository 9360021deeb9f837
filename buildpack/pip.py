"""Install distributions into a layer with the pip the build plan provided (``python3 -m pip``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Mapping, Sequence

from .errors import BuildpackError
from .log import Log

#: pip settings a user may give as platform env (pack build --env) for private or offline indexes.
SETTINGS = ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "PIP_NO_INDEX", "PIP_TRUSTED_HOST", "PIP_CERT")


def environment(process_env: Mapping[str, str], setting) -> dict[str, str]:
    """The environment pip runs with: the process env without any ``PIP_*`` variable (pip reads
    each as an option: PIP_TARGET, PIP_LOG, PIP_SRC, PIP_CONFIG_FILE... would write outside the
    layer), plus only the ``SETTINGS`` the user gave. ``setting`` reads a user setting."""
    env = {name: value for name, value in process_env.items() if not name.upper().startswith("PIP_")}
    env.update({name: value for name in SETTINGS if (value := setting(name))})
    return env


def run(target: Path, args: Sequence[str], log: Log, cwd: Path, env: Mapping[str, str],
        quiet: bool = False) -> subprocess.CompletedProcess:
    """``python3 -m pip install --target target *args``; returns the finished process (output in ``stdout``).

    ``--no-compile``: pip would write timestamp ``.pyc`` files holding the install time (a
    different layer every build, and stale once the lifecycle sets every mtime to 1980, so
    each start would compile again); ``compile_bytecode`` writes hash-checked ones instead.
    """
    command = [sys.executable, "-m", "pip", "install", "--target", str(target), "--no-input", "--no-compile",
               "--disable-pip-version-check", "--no-warn-script-location", *args]
    log.debug("Running: " + " ".join(command))
    process = subprocess.run(command, cwd=cwd, env=dict(env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True, errors="replace")
    if not quiet or process.returncode == 0:
        for line in process.stdout.splitlines():
            log.debug(line)
    return process


def install(target: Path, args: Sequence[str], log: Log, cwd: Path, env: Mapping[str, str], what: str) -> None:
    """``python3 -m pip install --target target *args``; raises BuildpackError with pip's output tail."""
    process = run(target, args, log, cwd, env)
    if process.returncode != 0:
        raise failure(what, process)


def failure(what: str, process: subprocess.CompletedProcess) -> BuildpackError:
    """The error of a failed pip run: its exit code and the tail of its output."""
    return BuildpackError(
        f"Installing {what} with pip failed (exit {process.returncode})",
        detail="\n".join(process.stdout.strip().splitlines()[-15:]),
        fix="check the requirement names and versions; for a private index set PIP_INDEX_URL "
        "(pack build --env PIP_INDEX_URL=...)",
    )


def python_version() -> str:
    """The build's CPython version, e.g. ``3.11.2`` (a key of every cached layer)."""
    return ".".join(str(part) for part in sys.version_info[:3])


def compile_bytecode(tree: Path, log: Log, env: Mapping[str, str]) -> None:
    """Precompile ``tree`` to hash-checked ``.pyc`` files, valid whatever mtimes the image
    export gives the sources, so that at run time Python never writes (read-only image).

    Reproducible: a checked-hash ``.pyc`` holds the source's hash, not its mtime, and
    ``PYTHONHASHSEED=0`` fixes the order in which Python 3.10 marshals set constants (hash
    order; sorted since 3.11, bpo-37596), so the same sources give the same bytes."""
    env = {**env, "PYTHONHASHSEED": "0"}
    command = [sys.executable, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "checked-hash",
               "-x", r"/\.", str(tree)]
    log.debug("Running: " + " ".join(command))
    process = subprocess.run(command, env=dict(env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             errors="replace")
    if process.returncode != 0:
        log.warn(f"some files under {tree} did not compile:\n" + process.stdout.strip()[-2000:])
