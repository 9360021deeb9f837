"""The invoker's user-facing errors: one root, each with what went wrong and how to fix it."""

from __future__ import annotations


class PyfuncError(Exception):
    """A mistake in the function or its configuration, reported without a traceback.

    ``header`` says what is wrong in one line, ``detail`` where and what was found,
    ``fix`` what to do. ``str()`` joins them for a terminal or a build log.
    """

    def __init__(self, header: str, detail: str = "", fix: str = "") -> None:
        super().__init__(header)
        self.header = header
        self.detail = detail
        self.fix = fix

    def __str__(self) -> str:
        parts = [self.header]
        if self.detail:
            parts.append(self.detail)
        if self.fix:
            parts.append(f"How to fix: {self.fix}")
        return "\n".join(parts)


class ConfigError(PyfuncError):
    """A flag or environment variable has a value the invoker cannot use."""


class LoadError(PyfuncError):
    """The function's module or the function in it could not be loaded or adapted."""
