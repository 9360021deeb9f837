"""One dependency resolution of the invoker and the app (issue 11).

pip resolves the invoker wheel and every requirement source of the app in one run, into the
dependencies layer, with the invoker lock (buildpack.lockfile) as constraints. When the app
asks for another version of a locked package, pip's conflict names it and the lock lets go of
that package only (and of the next ones a retry names), so the app may move a locked package
within the ranges the invoker declares (e.g. ``flask==3.0.3``, ``cloudevents>=2``) but never
outside them: a requirement the invoker cannot use is a ResolutionImpossible, explained by
``explain`` with both requirements named.

What pip installed that the invoker layer already holds at the same version is then removed
from the dependencies layer (``prune``), so the image holds one copy of each package: the
dependencies layer (first on PYTHONPATH) holds the app's packages and the versions the app
moved, the invoker layer the rest. ``check_shadowing`` refuses a dependencies layer whose
modules would hide the invoker's own (a distribution that ships a ``pyfunc`` or ``uvicorn``
package of its own).
"""

from __future__ import annotations

import re
import shutil
from email.parser import HeaderParser
from pathlib import Path

from .errors import BuildpackError

_CAUSES = "The conflict is caused by:"
#: pip's cause lines: "The user requested X", "The user requested (constraint) X", "pkg 1.0 depends on X".
_USER = re.compile(r"^The user requested (\(constraint\) )?(.+)$")
_DEPENDS = re.compile(r"^(\S+) (\S+) depends on (.+)$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*")
MAX_CAUSES = 4


def canonical(name: str) -> str:
    """PEP 503 normalized name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def is_conflict(output: str) -> bool:
    return "ResolutionImpossible" in output


def causes(output: str) -> list[str]:
    """The lines under pip's "The conflict is caused by:", deduplicated, in order."""
    lines, inside = [], False
    for line in output.splitlines():
        if line.strip() == _CAUSES:
            inside = True
            continue
        if inside:
            if not line.strip():
                break
            lines.append(line.strip())
    return list(dict.fromkeys(lines))


def named(output: str) -> set[str]:
    """Normalized names of every package pip's conflict mentions."""
    names = set()
    for line in causes(output):
        user, depends = _USER.match(line), _DEPENDS.match(line)
        for text in ([user.group(2)] if user else [depends.group(1), depends.group(3)] if depends else []):
            match = _NAME.match(text)
            if match:
                names.add(canonical(match.group(0)))
    return names


def explain(output: str, invoker_requires: list[str], invoker: str) -> BuildpackError:
    """The build error of a ResolutionImpossible between the app and the invoker.

    ``invoker_requires``: the invoker wheel's Requires-Dist; ``invoker``: e.g. ``pyfunc 0.1.0``.
    Names the app's requirement(s) and the invoker's that pip found incompatible, and the fix.
    """
    lines = causes(output)
    app = [m.group(2) for m in map(_USER.match, lines) if m and not m.group(1)]
    names = named(output)
    own = [r for r in invoker_requires if (m := _NAME.match(r)) and canonical(m.group(0)) in names]
    via = [line for line in lines if _DEPENDS.match(line) and not line.startswith(invoker.split()[0] + " ")]
    detail = [f"The app requires: {', '.join(app) or 'see pip below'}",
              f"The invoker ({invoker}) requires: {', '.join(own) or 'see pip below'}"]
    if via:
        shown = via[:MAX_CAUSES]
        detail.append("Through: " + "; ".join(shown) + (f"; and {len(via) - len(shown)} more" if len(via) > len(shown) else ""))
    if not lines:
        detail.append("pip: " + "\n".join(output.strip().splitlines()[-10:]))
    return BuildpackError(
        "The app's requirements conflict with the invoker's: no set of packages satisfies both",
        detail="\n".join(detail),
        fix=f"change {' and '.join(app) or 'the app requirement'} to versions that fit the invoker's "
        f"{', '.join(own) or 'requirements above'}, or remove the pin and use the version the invoker brings",
    )


def requires(wheel_metadata: str) -> list[str]:
    """Requires-Dist of a wheel's METADATA, markers dropped (for the error message)."""
    message = HeaderParser().parsestr(wheel_metadata)
    return [value.split(";")[0].strip() for value in message.get_all("Requires-Dist") or []]


def distributions(packages: Path) -> dict[str, tuple[str, Path]]:
    """``{normalized name: (version, .dist-info dir)}`` installed in ``packages``."""
    found = {}
    for info in packages.glob("*.dist-info"):
        name, _, version = info.name[: -len(".dist-info")].partition("-")
        found[canonical(name)] = (version, info)
    return found


def _files(info: Path) -> list[str]:
    record = info / "RECORD"
    if not record.is_file():
        return []
    return [line.split(",")[0] for line in record.read_text(encoding="utf-8", errors="replace").splitlines() if line]


def prune(dependencies: Path, invoker: Path) -> list[str]:
    """Remove from ``dependencies`` every distribution ``invoker`` holds at the same version; return the moved ones.

    Moved: ``name version`` of each distribution left in ``dependencies`` that the invoker
    layer holds at another version (the dependencies layer's copy is the one imported).
    """
    held = distributions(invoker)
    moved = []
    for name, (version, info) in distributions(dependencies).items():
        if name not in held:
            continue
        if held[name][0] != version:
            moved.append(f"{name} {version} (the invoker lock has {held[name][0]})")
            continue
        for relative in _files(info):
            path = (dependencies / relative).resolve()
            if path.is_relative_to(dependencies.resolve()) and path.is_file():
                path.unlink()
        shutil.rmtree(info, ignore_errors=True)
    for directory in sorted((d for d in dependencies.rglob("*") if d.is_dir()), key=lambda d: -len(d.parts)):
        if directory.name == "__pycache__" or not any(directory.iterdir()):
            shutil.rmtree(directory, ignore_errors=True)
    return moved


def _top_levels(packages: Path) -> dict[str, set[str]]:
    """``{top-level module or package: {distributions that install files in it}}``."""
    owners: dict[str, set[str]] = {}
    for name, (_, info) in distributions(packages).items():
        for relative in _files(info):
            top = relative.split("/", 1)[0]
            # not modules: metadata, files outside, the bytecode cache of single-file modules, .pth files
            if top.endswith((".dist-info", ".data", ".pth")) or top.startswith("..") or top == "__pycache__":
                continue
            owners.setdefault(top.removesuffix(".py"), set()).add(name)
    return owners


def check_shadowing(dependencies: Path, invoker: Path) -> None:
    """Refuse a dependencies layer whose modules hide the invoker's with another distribution's files.

    A module of the invoker layer may be in the dependencies layer only as part of another
    version of the same distribution (the app moved it); namespace packages (no __init__.py)
    are shared by design. Raises BuildpackError naming the module and both distributions.
    """
    theirs, ours = _top_levels(dependencies), _top_levels(invoker)
    for top in sorted(set(theirs) & set(ours)):
        strangers = theirs[top] - ours[top]
        namespace = (dependencies / top).is_dir() and not (dependencies / top / "__init__.py").exists() \
            and (invoker / top).is_dir() and not (invoker / top / "__init__.py").exists()
        if strangers and not namespace:
            raise BuildpackError(
                f"The app's dependency {', '.join(sorted(strangers))} installs the module {top!r}, "
                f"which would hide the invoker's ({', '.join(sorted(ours[top]))}) and break it at import",
                fix=f"remove {', '.join(sorted(strangers))} from the app's requirements, or use a distribution "
                f"that does not ship a module named {top!r}",
            )
