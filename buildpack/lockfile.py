"""The invoker lock (``buildpack/invoker.lock``, written by ``make lock``, tools/lock.py).

A pip requirements file: one ``name==version [; marker]`` entry per package the invoker needs
on CPython 3.10-3.13, linux amd64 and arm64, each with the ``--hash=sha256:...`` of every wheel
of that version pip chose there. The invoker layer installs it in hash-checking mode
(``--require-hashes --no-deps``), so every image gets the same checksummed invoker set; the
joint resolution (buildpack.resolution) reads it, hashes dropped, as constraints.
"""

from __future__ import annotations

import hashlib
import platform
import re
import sys
from dataclasses import dataclass
from pathlib import Path

#: The CPython versions and machines the lock has wheels for (tools/assemble.py OFFLINE_*).
PYTHONS = ("3.10", "3.11", "3.12", "3.13")
MACHINES = ("x86_64", "aarch64")
_ENTRY = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)\s*(?:;\s*([^\\]*?))?\s*\\?$")


@dataclass(frozen=True)
class Lock:
    """``path``: the lock file; ``entries``: ``(name, version, marker)`` of every entry; ``digest``: sha256 of the file."""

    path: Path
    entries: tuple[tuple[str, str, str], ...]
    digest: str

    @classmethod
    def read(cls, path: Path) -> "Lock":
        text = path.read_text(encoding="utf-8")
        entries = tuple((m.group(1).lower(), m.group(2), m.group(3) or "")
                        for m in map(_ENTRY.match, text.splitlines()) if m)
        return cls(path, entries, hashlib.sha256(text.encode()).hexdigest())

    def covers_this_python(self) -> bool:
        """True when the build's CPython and machine are ones the lock has wheels for."""
        python = f"{sys.version_info[0]}.{sys.version_info[1]}"
        return sys.implementation.name == "cpython" and python in PYTHONS and platform.machine() in MACHINES

    def pins(self) -> dict[str, str]:
        """``{name: version}`` of the entries that apply to this Python (markers evaluated with ``packaging``)."""
        from packaging.markers import Marker

        return {name: version for name, version, marker in self.entries if not marker or Marker(marker).evaluate()}

    def constraints(self, directory: Path, leave_out: set[str] = frozenset()) -> Path:
        """Write the lock as a pip constraints file (no hashes; names in ``leave_out`` left free); return its path."""
        path = directory / "invoker-constraints.txt"
        lines = [f"{name}=={version}" + (f" ; {marker}" if marker else "")
                 for name, version, marker in self.entries if name not in leave_out]
        path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        return path
