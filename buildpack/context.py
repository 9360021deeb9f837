"""What the lifecycle hands a buildpack phase (Buildpack API 0.10, bin/detect and bin/build).

Plain data: app dir (the working directory), buildpack dir, platform dir, layers dir, the
build plan or buildpack plan path, the target, and user settings from ``<platform>/env/``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from .errors import BuildpackError


@dataclass(frozen=True)
class Context:
    """One phase's inputs. ``env`` is the process environment (the lifecycle filters it)."""

    app_dir: Path
    buildpack_dir: Path
    platform_dir: Path
    plan_path: Path | None
    layers_dir: Path | None = None
    env: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def for_detect(cls, argv: list[str], env: Mapping[str, str] | None = None) -> "Context":
        """Detect: ``CNB_PLATFORM_DIR``, ``CNB_BUILD_PLAN_PATH`` (or the deprecated args ``<platform> <plan>``)."""
        env = os.environ if env is None else env
        platform = env.get("CNB_PLATFORM_DIR") or (argv[0] if argv else "/platform")
        plan = env.get("CNB_BUILD_PLAN_PATH") or (argv[1] if len(argv) > 1 else None)
        return cls(Path.cwd(), _buildpack_dir(env), Path(platform), Path(plan) if plan else None, None, env)

    @classmethod
    def for_build(cls, argv: list[str], env: Mapping[str, str] | None = None) -> "Context":
        """Build: ``CNB_LAYERS_DIR``, ``CNB_PLATFORM_DIR``, ``CNB_BP_PLAN_PATH`` (or args ``<layers> <platform> <plan>``)."""
        env = os.environ if env is None else env
        layers = env.get("CNB_LAYERS_DIR") or (argv[0] if argv else None)
        platform = env.get("CNB_PLATFORM_DIR") or (argv[1] if len(argv) > 1 else "/platform")
        plan = env.get("CNB_BP_PLAN_PATH") or (argv[2] if len(argv) > 2 else None)
        if not layers:
            raise SystemExit("bin/build: no layers directory (CNB_LAYERS_DIR or first argument)")
        return cls(Path.cwd(), _buildpack_dir(env), Path(platform), Path(plan) if plan else None, Path(layers), env)

    def setting(self, name: str) -> str | None:
        """A user setting: ``<platform>/env/NAME`` (verbatim) if present, else the process env.

        Empty values count as unset; a name that is no plain file name is unset. Raises
        BuildpackError for a value holding NUL (no environment variable can carry it).
        """
        value = self.raw_setting(name)
        if value and "\0" in value:
            raise BuildpackError(f"The build setting {name} holds a NUL character, which no environment variable can carry",
                                 fix=f"set {name} without it (pack build --env {name}=...)")
        return value or None

    def is_set(self, name: str) -> bool:
        """Whether a setting has a non-empty value (whatever it holds; detect's question)."""
        return bool(self.raw_setting(name))

    def raw_setting(self, name: str) -> str:
        """The setting's text as given, '' when unset (see ``setting``)."""
        if not name or name in (".", "..") or any(c in name for c in "/\0"):
            return ""
        path = self.platform_dir / "env" / name
        try:
            if path.is_file():  # a regular file (not a FIFO): the platform writes one per setting
                return path.read_text(encoding="utf-8", errors="surrogateescape")
        except OSError:
            return ""
        return self.env.get(name, "")

    def plan_entries(self) -> list[str]:
        """Names of the buildpack plan entries given to build (``[[entries]] name = ...``)."""
        if self.plan_path is None or not self.plan_path.is_file():
            return []
        from .tomlio import loads

        try:
            entries = loads(self.plan_path.read_text(encoding="utf-8")).get("entries", [])
        except (OSError, ValueError):
            return []
        return [str(entry.get("name", "")) for entry in entries if isinstance(entry, dict)] if isinstance(entries, list) else []

    def platform_env_names(self) -> list[str]:
        """Names of every user setting in ``<platform>/env/``."""
        try:
            return sorted(p.name for p in (self.platform_dir / "env").iterdir() if p.is_file())
        except OSError:
            return []


def _buildpack_dir(env: Mapping[str, str]) -> Path:
    return Path(env.get("CNB_BUILDPACK_DIR") or Path(__file__).resolve().parent.parent)
