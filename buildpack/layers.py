"""Layers: a definition (types, metadata that keeps it) and its env (Buildpack API 0.10, "Layers").

``<layers>/<name>.toml`` holds ``[types]`` (rewritten every build: restored files come back
without it) and ``[metadata]``. A cached layer is reused when its restored metadata equals
the metadata the build expects; otherwise it is emptied and rebuilt.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import BuildpackError
from .tomlio import dumps, loads

#: Env file scopes: all phases, build only, launch only.
SCOPES = {"all": "env", "build": "env.build", "launch": "env.launch"}


@dataclass(frozen=True)
class Types:
    launch: bool = False
    build: bool = False
    cache: bool = False


@dataclass
class LayerEnv:
    """An env delta: (scope, name, behaviour, value) entries, written to files in one place.

    Behaviours are the spec's file suffixes: ``default``, ``override``, ``prepend``,
    ``append``, ``delim``; ``prepend()``/``append()`` always get a ``.delim`` file (packit does
    the same), ``add()`` writes exactly the one file.
    """

    entries: list[tuple[str, str, str, str]] = field(default_factory=list)
    delims: dict[tuple[str, str], str] = field(default_factory=dict)

    def add(self, name: str, behaviour: str, value: str, scope: str = "launch") -> None:
        """Any behaviour (``default``, ``override``, ``append``, ``prepend``, ``delim``), no implied delimiter."""
        self.entries.append((scope, name, behaviour, value))

    def default(self, name: str, value: str, scope: str = "launch") -> None:
        self.entries.append((scope, name, "default", value))

    def override(self, name: str, value: str, scope: str = "launch") -> None:
        self.entries.append((scope, name, "override", value))

    def prepend(self, name: str, value: str, delim: str, scope: str = "launch") -> None:
        self.entries.append((scope, name, "prepend", value))
        self.delims[(scope, name)] = delim

    def append(self, name: str, value: str, delim: str, scope: str = "launch") -> None:
        self.entries.append((scope, name, "append", value))
        self.delims[(scope, name)] = delim

    def write(self, layer_dir: Path) -> None:
        """Write ``<layer>/<env dir>/NAME.<behaviour>`` files; refuses names that leave the dir."""
        for scope, name, behaviour, value in self.entries:
            self._file(layer_dir, scope, name, behaviour).write_text(value, encoding="utf-8", errors="surrogateescape")
        for (scope, name), delim in self.delims.items():
            self._file(layer_dir, scope, name, "delim").write_text(delim, encoding="utf-8")

    @staticmethod
    def _file(layer_dir: Path, scope: str, name: str, suffix: str) -> Path:
        directory = layer_dir / SCOPES[scope]
        if not name or name in (".", "..") or any(c in name for c in "/\\\0\n="):
            raise BuildpackError(
                f"Environment variable name {name!r} cannot be written to a layer",
                fix="use letters, digits, '-', '.' and '_' (func.yaml env name pattern)",
            )
        directory.mkdir(parents=True, exist_ok=True)
        return directory / f"{name}.{suffix}"


class Layer:
    """One layer of this buildpack: ``<layers>/<name>/`` and ``<layers>/<name>.toml``."""

    def __init__(self, layers_dir: Path, name: str, types: Types) -> None:
        self.name = name
        self.path = layers_dir / name
        self.toml_path = layers_dir / f"{name}.toml"
        self.types = types

    def restored_metadata(self) -> dict[str, Any] | None:
        """The ``[metadata]`` a previous build left, or None if there is no such layer."""
        if not self.toml_path.is_file() or not self.path.is_dir():
            return None
        try:
            return loads(self.toml_path.read_text(encoding="utf-8")).get("metadata", {})
        except (OSError, ValueError, TypeError):
            return None

    def reusable(self, expected: dict[str, Any]) -> tuple[bool, str]:
        """``(True, why)`` when the restored layer's metadata equals ``expected``, else ``(False, why not)``."""
        restored = self.restored_metadata()
        if restored is None:
            return False, "no cached layer"
        changed = sorted(k for k in set(expected) | set(restored) if expected.get(k) != restored.get(k))
        if changed:
            return False, f"changed: {', '.join(changed)}"
        return True, "metadata unchanged"

    def reset(self) -> Path:
        """Empty the layer directory (creating it) and return it."""
        if self.path.is_symlink() or self.path.is_file():
            self.path.unlink()
        elif self.path.exists():
            shutil.rmtree(self.path)
        self.path.mkdir(parents=True)
        return self.path

    def commit(self, metadata: dict[str, Any] | None = None, env: LayerEnv | None = None) -> None:
        """Write env files and ``<name>.toml`` with ``[types]`` and ``[metadata]``."""
        self.path.mkdir(parents=True, exist_ok=True)
        if env is not None:
            env.write(self.path)
        document = {
            "types": {"launch": self.types.launch, "build": self.types.build, "cache": self.types.cache},
            "metadata": metadata or {},
        }
        self.toml_path.write_text(dumps(document), encoding="utf-8")
