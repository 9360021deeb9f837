"""The buildpack's user-facing errors: a header, what was found, and how to fix it."""

from __future__ import annotations


class BuildpackError(Exception):
    """A mistake in the app or its settings; shown without a traceback and fails the build (exit 1)."""

    def __init__(self, header: str, detail: str = "", fix: str = "") -> None:
        super().__init__(header)
        self.header = header
        self.detail = detail
        self.fix = fix

    def __str__(self) -> str:
        lines = [self.header]
        if self.detail:
            lines.append(self.detail)
        if self.fix:
            lines.append(f"How to fix: {self.fix}")
        return "\n".join(lines)
