"""Reading the app's own files (func.yaml, requirement files, pyproject.toml) without surprises.

A file the buildpack reads must be a regular file inside the app dir: a symlink leaving the
app dir, a FIFO (reading it would hang), a device or a directory is refused with a
BuildpackError naming the file, never read and never echoed into the build log. Reads are
capped: a file larger than its limit is refused before it is read whole.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from .errors import BuildpackError

#: Default limit of a configuration or requirements file, in bytes.
MAX_BYTES = 1024 * 1024


def exists(path: Path) -> bool:
    """True when something (even a dangling symlink or a FIFO) is at ``path``."""
    return os.path.lexists(path)


def inside(app_dir: Path, path: Path) -> bool:
    """Whether ``path``, symlinks resolved, is the app dir or inside it."""
    root = Path(os.path.realpath(app_dir))
    real = Path(os.path.realpath(path))
    return real == root or root in real.parents


def check(app_dir: Path, path: Path, what: str | None = None) -> Path:
    """``path`` if it is a regular file inside ``app_dir`` (after symlinks); else BuildpackError.

    ``what`` names the file in messages (default: its path relative to the app dir).
    Returns the resolved path.
    """
    shown = what or _relative(app_dir, path)
    real = Path(os.path.realpath(path))
    if not inside(app_dir, path):
        if os.path.islink(path):
            raise BuildpackError(f"{shown} is a symlink to a file outside the app directory",
                                 detail="the buildpack reads only files inside the app directory",
                                 fix=f"replace {shown} with a copy of the file it points to")
        raise BuildpackError(f"{shown} is outside the app directory",
                             detail="the buildpack reads only files inside the app directory",
                             fix="copy the file into the app directory and name it by its path there")
    try:
        mode = os.stat(real).st_mode
    except OSError as exc:
        raise BuildpackError(f"{shown} cannot be read: {exc.strerror}",
                             fix=f"make {shown} a readable file (a symlink must point to an existing file)") from None
    if not stat.S_ISREG(mode):
        kind = _KINDS.get(stat.S_IFMT(mode), "not a regular file")
        raise BuildpackError(f"{shown} is {kind}, not a regular file", fix=f"make {shown} a plain file")
    return real


def read(app_dir: Path, path: Path, limit: int = MAX_BYTES, what: str | None = None) -> bytes:
    """The bytes of ``path`` after ``check``; refuses more than ``limit`` bytes (BuildpackError)."""
    shown = what or _relative(app_dir, path)
    real = check(app_dir, path, shown)
    try:
        # O_NONBLOCK: should the file be swapped for a FIFO after the check, open does not hang.
        descriptor = os.open(real, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(descriptor, "rb") as stream:
            if not stat.S_ISREG(os.fstat(stream.fileno()).st_mode):
                raise BuildpackError(f"{shown} is not a regular file", fix=f"make {shown} a plain file")
            data = stream.read(limit + 1)
    except OSError as exc:
        raise BuildpackError(f"{shown} cannot be read: {exc.strerror}", fix=f"make {shown} a readable file") from None
    if len(data) > limit:
        raise BuildpackError(f"{shown} is larger than {limit} bytes ({limit // 1024} KiB)",
                             fix=f"{shown} holds configuration only: shrink it")
    return data


def _relative(app_dir: Path, path: Path) -> str:
    try:
        return str(path.relative_to(app_dir))
    except ValueError:
        return str(path)


_KINDS = {stat.S_IFIFO: "a FIFO (named pipe)", stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device",
          stat.S_IFDIR: "a directory", stat.S_IFSOCK: "a socket"}
