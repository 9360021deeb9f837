"""TOML in and out: ``tomllib`` (Python 3.11+) or the vendored ``tomli`` (3.10) to read,
``tomli-w`` to write (TOML 1.0 both ways, arrays of mixed types included)."""

from __future__ import annotations

from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

#: What a malformed document raises (a ValueError).
TOMLDecodeError = tomllib.TOMLDecodeError


def loads(text: str) -> dict[str, Any]:
    """Parse a TOML document; raises TOMLDecodeError (a ValueError) with line and column."""
    return tomllib.loads(text)


def dumps(document: dict[str, Any]) -> str:
    """Serialize a mapping of strings, numbers, booleans, lists and tables as TOML 1.0."""
    import tomli_w

    return tomli_w.dumps(document)
