"""Launch metadata: ``<layers>/launch.toml`` processes and labels (Buildpack API 0.10, "launch.toml").

Since API 0.9 ``command`` is an array run without a shell.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .tomlio import dumps


@dataclass(frozen=True)
class Process:
    """A process type: ``type`` (letters, digits, '.', '_', '-'), ``command``, ``args``, ``default``."""

    type: str
    command: tuple[str, ...]
    args: tuple[str, ...] = ()
    default: bool = False

    def shown(self) -> str:
        return " ".join((*self.command, *self.args))


@dataclass
class Launch:
    processes: list[Process] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)

    def write(self, layers_dir: Path) -> None:
        document = {
            "processes": [
                {"type": p.type, "command": list(p.command), "args": list(p.args), "default": p.default}
                for p in self.processes
            ],
        }
        if self.labels:
            document["labels"] = [{"key": k, "value": v} for k, v in self.labels.items()]
        (layers_dir / "launch.toml").write_text(dumps(document), encoding="utf-8")
