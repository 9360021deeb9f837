"""The app's requirement sources, checked before pip sees any of them.

Sources (seed python-function-buildpack, "Behaviour"): the root requirements file(s)
(``requirements.txt``, or the space-separated paths of ``BP_PIP_REQUIREMENT`` as Paketo
pip-install reads them), ``function/requirements.txt`` and ``pyproject.toml``
``[project].dependencies`` — in the app dir and, for func's ``fn/`` layout, the function's dir.

Nothing a user wrote reaches pip's command line as an option: requirement files are passed
as ``-r <absolute path>``, and every ``[project].dependencies`` entry must parse as a PEP 508
requirement (``packaging``) and is passed in its normalized form, which starts with a name.
Every requirements file, and every ``-r``/``-c`` file it includes, must be a regular file
inside the app dir (see appfiles); its content is never shown when it is not.
"""

from __future__ import annotations

import hashlib
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable
from urllib.parse import unquote, urlparse

from . import appfiles
from .errors import BuildpackError

#: Where the handler template keeps its requirements (always installed by this buildpack).
FUNCTION_REQUIREMENTS = "function/requirements.txt"
#: Limit of one requirements file (hash-pinned files are long) and of pyproject.toml, in bytes.
MAX_BYTES = 8 * 1024 * 1024
#: pip's options that include another file in a requirements file.
_INCLUDE_OPTIONS = ("--requirement", "--constraint")
_PEP508_FIX = 'write each entry as a PEP 508 requirement, e.g. "httpx>=0.27" or "pkg[extra]==1.0; python_version>=\'3.10\'"'


@dataclass
class Sources:
    """pip arguments, the names of the sources (for the log), and a digest of everything read (the layer key)."""

    args: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    digest: str = ""
    skipped: list[str] = field(default_factory=list)


def root_files(setting: Callable[[str], str | None]) -> list[str]:
    """The root requirements files: ``BP_PIP_REQUIREMENT`` (space-separated, relative to the app dir) or requirements.txt."""
    names = (setting("BP_PIP_REQUIREMENT") or "").split() or ["requirements.txt"]
    for name in names:
        if name.startswith("-") or name.startswith("/"):
            raise BuildpackError(f"BP_PIP_REQUIREMENT names {name!r}, which is not a path inside the app directory",
                                 fix="list requirement files relative to the app dir, e.g. BP_PIP_REQUIREMENT=requirements-prod.txt")
    return names


def collect(app_dir: Path, source: Path, roots: list[str], skip: tuple[str, ...] = (), explicit: bool = False,
            glue: bool = False) -> Sources:
    """Check and gather every source; names in ``skip`` are installed by another buildpack.

    ``glue``: the app dir holds func's glue project (``func_layout``), so only ``source`` counts.

    ``explicit``: the root files were named by a setting, so a missing one is an error.
    Raises BuildpackError naming the file (or entry) and the fix.
    """
    sources = Sources(skipped=list(skip))
    digest = hashlib.sha256()
    for directory in (source,) if glue else dict.fromkeys((app_dir, source)):
        prefix = "" if directory == app_dir else f"{directory.relative_to(app_dir)}/"
        names = [*(roots if directory == app_dir else ["requirements.txt"]), FUNCTION_REQUIREMENTS]
        for name in dict.fromkeys(names):
            path = directory / name
            if prefix + name in skip:
                continue
            if not appfiles.exists(path):
                if explicit and directory == app_dir and name in roots:
                    raise BuildpackError(f"BP_PIP_REQUIREMENT names {name}, which does not exist in the app directory",
                                         fix="correct BP_PIP_REQUIREMENT or add the file")
                continue
            _check_file(app_dir, path, prefix + name, digest, set())
            sources.args += ["-r", str(path)]
            sources.names.append(prefix + name)
        if prefix + "pyproject.toml" not in skip:
            dependencies = project_dependencies(app_dir, directory / "pyproject.toml", prefix + "pyproject.toml")
            if dependencies:
                sources.args += dependencies
                sources.names.append(f"{prefix}pyproject.toml [project].dependencies")
                digest.update(prefix.encode() + b"pyproject\0" + "\n".join(dependencies).encode() + b"\0")
    sources.digest = digest.hexdigest()
    return sources


def _check_file(app_dir: Path, path: Path, shown: str, digest, seen: set[Path]) -> None:
    """Check a requirements file and, recursively, the local files it includes (-r/-c)."""
    real = appfiles.check(app_dir, path, shown)
    if real in seen:
        return
    seen.add(real)
    data = appfiles.read(app_dir, path, MAX_BYTES, shown)
    digest.update(shown.encode() + b"\0" + data + b"\0")
    for number, line in _logical_lines(data.decode("utf-8", errors="replace")):
        target = _included(line)
        if target is None:
            _check_local_path(app_dir, line, f"{shown} line {number}")
            continue
        where = f"{shown} line {number}"
        if not target:
            raise BuildpackError(f"{where} includes no file", fix="give -r/-c a file name")
        if "${" in target:
            raise BuildpackError(f"{where} includes {target!r}, a path built from an environment variable",
                                 fix="name the included file by its path relative to the requirements file")
        scheme = urlparse(target).scheme.lower()
        if scheme in ("http", "https"):
            continue
        if scheme == "file":
            target = unquote(urlparse(target).path)
        elif len(scheme) > 1:
            raise BuildpackError(f"{where} includes {target!r}, which is neither a file nor an http(s) URL",
                                 fix="include files by their path relative to the requirements file")
        _check_file(app_dir, real.parent / target, f"{target} (included by {where})", digest, seen)


def _check_local_path(app_dir: Path, line: str, where: str) -> None:
    """A requirement installed from a local path (``./pkg``, ``-e ../pkg``, ``name @ file:///x``)
    must lie inside the app dir (pip resolves it from the app dir, its working directory)."""
    words = line.split()
    if words and words[0] in ("-e", "--editable") and len(words) > 1:
        words = words[1:]
    elif words and words[0].startswith("--editable="):
        words = [words[0].split("=", 1)[1], *words[1:]]
    if not words:
        return
    first = words[0]
    if "@" in words[1:2] and len(words) > 2:
        first = words[2]
    elif "@" in first and not first.startswith(("/", ".", "file:")):
        first = first.split("@", 1)[1].strip() or (words[1] if len(words) > 1 else "")
    if first.lower().startswith("file:"):
        path = unquote(urlparse(first).path)
    elif first.startswith(("/", "./", "../")) or first in (".", ".."):
        path = first.split("[", 1)[0].split(";", 1)[0]
    else:
        return
    if not appfiles.inside(app_dir, app_dir / path):
        raise BuildpackError(f"{where} installs from {path}, which is outside the app directory",
                             fix="vendor the package inside the app directory and name it by a path there")


def _included(line: str) -> str | None:
    """The file a ``-r``/``-c`` line includes (pip's optparse spellings, long options abbreviated), else None."""
    if line.startswith(("-r", "-c")):
        value = line[2:]
    else:
        match = re.match(r"^(--[a-z-]+)(?:=|\s+|$)(.*)$", line)
        if not match or len(match.group(1)) < 5 or not any(o.startswith(match.group(1)) for o in _INCLUDE_OPTIONS):
            return None
        value = match.group(2)
    try:
        words = shlex.split(value)
    except ValueError:
        words = value.split()
    return words[0] if words else ""


def _logical_lines(text: str):
    """``(first line number, line)`` as pip reads a requirements file: continuations joined, comments dropped."""
    buffer, start = "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        if not buffer:
            start = number
        if raw.endswith("\\") and not raw.endswith("\\\\"):
            buffer += raw[:-1]
            continue
        line = re.sub(r"(^|\s+)#.*$", "", buffer + raw).strip()
        buffer = ""
        if line:
            yield start, line
    if buffer.strip():
        yield start, re.sub(r"(^|\s+)#.*$", "", buffer).strip()


def project_dependencies(app_dir: Path, path: Path, shown: str) -> list[str]:
    """``[project].dependencies`` of pyproject.toml as normalized PEP 508 strings (the Knative template declares them there).

    Raises BuildpackError for a file that is not TOML, a list that is not strings, or an
    entry that is not a PEP 508 requirement (``--target=/x`` is refused, never handed to pip).
    """
    if not appfiles.exists(path):
        return []
    from packaging.requirements import InvalidRequirement, Requirement

    from .tomlio import loads

    data = appfiles.read(app_dir, path, MAX_BYTES, shown)
    try:
        document = loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise BuildpackError(f"{shown} is not UTF-8 text (byte {exc.start})", fix=f"save {shown} as UTF-8") from None
    except ValueError as exc:
        raise BuildpackError(f"{shown} is not valid TOML: {exc}", fix=f"correct {shown}") from None
    project = document.get("project")
    dependencies = project.get("dependencies") if isinstance(project, dict) else None
    if dependencies is None:
        return []
    if not isinstance(dependencies, list) or not all(isinstance(d, str) for d in dependencies):
        raise BuildpackError(f"{shown} [project].dependencies must be a list of requirement strings",
                             fix='write it as dependencies = ["httpx>=0.27", ...]')
    normalized = []
    for index, entry in enumerate(dependencies):
        try:
            requirement = Requirement(entry)
        except InvalidRequirement as exc:
            detail = str(exc).splitlines()[0] if str(exc) else ""
            raise BuildpackError(f"{shown} [project].dependencies[{index}] = {entry!r} is not a PEP 508 requirement",
                                 detail=detail + ("; pip options do not belong in dependencies" if entry.lstrip().startswith("-") else ""),
                                 fix=_PEP508_FIX) from None
        location = Path(unquote(urlparse(requirement.url).path)) if requirement.url else None
        if location is not None and urlparse(requirement.url).scheme.lower() == "file" and \
                not appfiles.inside(app_dir, location if location.is_absolute() else path.parent / location):
            raise BuildpackError(f"{shown} [project].dependencies[{index}] installs {requirement.name} from a path "
                                 "outside the app directory", fix="vendor the package inside the app directory")
        normalized.append(str(requirement))
    return normalized
