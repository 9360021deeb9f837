"""Read func.yaml (Knative func) leniently, validate it against the shipped JSON Schema.

Errors name the field path and line (``run.envs[0].name (line 7)``). Unknown fields are
tolerated. Envs come from ``envs`` (older specVersions) and ``run.envs`` (0.34+);
``{{ env:NAME }}`` is resolved from the build env; ``{{ secret:... }}`` and
``{{ configMap:... }}`` are deploy-time references and never written (reference sheet).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from . import appfiles
from .errors import BuildpackError

SCHEMA_PATH = Path(__file__).parent / "schema" / "func.yaml.schema.json"
MAX_BYTES = 1024 * 1024
MAX_NODES = 100_000
_TEMPLATE = re.compile(r"^\{\{\s*(\w+)\s*:\s*([^}]*?)\s*\}\}$")
_ENV_NAME = re.compile(r"^\w+$", re.ASCII)
_FIX = "correct func.yaml (see https://github.com/knative/func/blob/main/docs/reference/func_yaml.md)"


@dataclass
class FuncYaml:
    """What the buildpack uses of func.yaml: ``envs`` (name → value, in file order),
    ``skipped`` (names or references left out, with why), ``options``, ``runtime``, and
    ``invoke`` (``http`` or ``cloudevent``: the Knative template variant), ``health_endpoints``
    (``liveness``/``readiness`` → path: ``deploy.healthEndpoints``, or top-level ``healthEndpoints``
    before specVersion 0.34)."""

    envs: dict[str, str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    runtime: str | None = None
    invoke: str | None = None
    health_endpoints: dict[str, str] = field(default_factory=dict)


def load(app_dir: Path, build_env: Callable[[str], str | None]) -> FuncYaml | None:
    """Parse ``app_dir/func.yaml``; None when there is none. Raises BuildpackError.

    Env names and values are the text written in the file (``yes``, ``0777`` and ``12:30``
    stay as written), as func reads them into its string fields; an env whose value is
    null (``value:`` or ``~``) is left out, as func leaves it out.
    """
    if not appfiles.exists(app_dir / "func.yaml"):
        return None
    document, root = _parse(app_dir)
    _validate(document, root)
    result = FuncYaml(runtime=document.get("runtime"), invoke=document.get("invoke") or _invocation_format(document))
    for path in (["envs"], ["run", "envs"]):
        entries = _node_at(root, path)
        for index, entry in enumerate(entries.value if entries is not None and entries.tag.endswith(":seq") else []):
            where = f"{'.'.join(path)}[{index}]"
            _add_env(result, _text(_node_at(entry, ["name"])), _text(_node_at(entry, ["value"])), where,
                     entry.start_mark.line + 1, build_env)
    result.options = dict((document.get("deploy") or {}).get("options") or document.get("options") or {})
    endpoints = (document.get("deploy") or {}).get("healthEndpoints") or document.get("healthEndpoints") or {}
    result.health_endpoints = {probe: endpoints[probe] for probe in ("liveness", "readiness") if endpoints.get(probe)}
    if document.get("scale"):  # specVersion 0.38 moved scale to the top level (func's migrateScaleToTopLevel)
        result.options["scale"] = document["scale"]
    return result


def _invocation_format(document: dict) -> str | None:
    """``invocation.format`` of a func.yaml before specVersion 0.35, as func's migration
    (migrateFromInvokeStructure) carries it into ``invoke``: any format but ``http``."""
    numbers = re.findall(r"\d+", str(document.get("specVersion") or ""))[:3]
    if numbers and tuple(int(n) for n in numbers) >= (0, 35):
        return None
    invocation = document.get("invocation")
    form = invocation.get("format") if isinstance(invocation, dict) else None
    return form if form and form != "http" else None


def _parse(app_dir: Path):
    import yaml

    from .yamlcore import CoreLoader

    raw = appfiles.read(app_dir, app_dir / "func.yaml", MAX_BYTES, "func.yaml")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BuildpackError(f"func.yaml is not UTF-8 text (byte {exc.start})", fix="save func.yaml as UTF-8") from None
    loader = None
    try:  # one parse: the node tree gives lines for errors, then the values are built from it
        loader = CoreLoader(text)  # the reader already refuses control characters such as NUL
        root = loader.get_single_node()
        _check_size(root)
        document = loader.construct_document(root) if root is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise BuildpackError(f"func.yaml is not valid YAML{where}: {exc.problem or exc.context}", fix=_FIX) from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        code = exc.character if isinstance(exc.character, int) else ord(exc.character)
        raise BuildpackError(f"func.yaml holds the character U+{code:04X} at line "
                             f"{line}, which YAML does not allow", fix="remove it; write control characters in a "
                             "double-quoted string as an escape (\\t, \\n)") from None
    except (yaml.YAMLError, RecursionError) as exc:
        raise BuildpackError(f"func.yaml is not valid YAML: {type(exc).__name__}", fix=_FIX) from None
    finally:
        if loader is not None:
            loader.dispose()
    if document is None:
        return {}, None
    if not isinstance(document, dict):
        raise BuildpackError(f"func.yaml must be a mapping of settings, found a {type(document).__name__}", fix=_FIX)
    return document, root


def _check_size(root) -> None:
    """Reject alias bombs and absurd nesting before anything walks the document."""
    count = 0
    stack = [(root, 0)] if root is not None else []
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > MAX_NODES or depth > 100:
            raise BuildpackError("func.yaml is too large or too deeply nested (or aliased)", fix=_FIX)
        value = node.value
        if isinstance(value, list):
            for item in value:
                if isinstance(item, tuple):
                    stack.extend((child, depth + 1) for child in item)
                else:
                    stack.append((item, depth + 1))


def _validate(document: dict, root) -> None:
    import jsonschema

    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(document), key=lambda e: list(e.absolute_path))
    if not errors:
        return
    lines = []
    for error in errors[:5]:
        path = _dotted(error.absolute_path)
        line = _line_of(root, list(error.absolute_path))
        lines.append(f"{path or '(top level)'}{f' (line {line})' if line else ''}: {error.message}")
    raise BuildpackError(f"func.yaml has {len(errors)} invalid field(s)", detail="\n".join(lines), fix=_FIX)


def _dotted(path) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _line_of(node, path: list) -> int:
    """1-based line of the YAML node at ``path``, or of the deepest ancestor found."""
    line = node.start_mark.line + 1 if node is not None else 0
    for depth in range(1, len(path) + 1):
        child = _node_at(node, path[:depth])
        if child is None:
            break
        line = child.start_mark.line + 1
    return line


def _node_at(node, path: list):
    """The YAML node at ``path`` (keys and indexes; the last of repeated keys, as construction keeps), or None."""
    for part in path:
        if node is None or not isinstance(node.value, list):
            return None
        if isinstance(part, int):
            items = [item for item in node.value if not isinstance(item, tuple)]
            node = items[part] if part < len(items) else None
        else:
            node = next((value for key, value in reversed(node.value) if isinstance(key.value, str)
                         and key.value == part), None) if all(isinstance(i, tuple) for i in node.value) else None
    return node


def _text(node) -> str | None:
    """A scalar's text as written (escapes resolved), None for null or no node."""
    from .yamlcore import NULL

    if node is None or not isinstance(node.value, str) or node.tag == NULL:
        return None
    return node.value


def _add_env(result: FuncYaml, name: str | None, value: str | None, where: str, line: int,
             build_env: Callable[[str], str | None]) -> None:
    if value is None:
        result.skipped.append(f"{name or where}: the value is null; func leaves such an env out")
        return
    template = _TEMPLATE.match(value.strip())
    if template:
        kind, reference = template.group(1), template.group(2)
        if kind == "env":
            if not _ENV_NAME.match(reference):
                raise BuildpackError(f"func.yaml {where}.value (line {line}) refers to {{{{ env:{reference} }}}}, which "
                                     "is not an environment variable name", fix="use {{ env:NAME }} with letters, digits and _")
            resolved = build_env(reference)
            if resolved is None:
                result.skipped.append(f"{name or where}: {{{{ env:{reference} }}}} is not set in the build environment")
                return
            value = resolved
        else:
            result.skipped.append(f"{name or where}: {{{{ {kind}:{reference} }}}} is a deploy-time reference, never baked into the image")
            return
    if not name:
        raise BuildpackError(f"func.yaml {where} (line {line}) has no name", fix="give every env a name, e.g. - name: MY_VAR")
    if "\0" in value:
        raise BuildpackError(f"func.yaml {where}.value ({name}, line {line}) holds a NUL character, which no environment "
                             "variable can carry", fix="remove the \\0 (or \\x00) escape from the value")
    result.envs[name] = value


#: Label keys of func.yaml options, as the earlier Python function buildpack wrote them.
OPTION_LABELS = {
    "options-scale": ("scale",),
    "options-resources-requests": ("resources", "requests"),
    "options-resources-limits": ("resources", "limits"),
}


def option_labels(options: dict[str, Any]) -> dict[str, str]:
    """Image labels for func.yaml ``deploy.options`` (or top-level ``options``): scale and
    resources, each a JSON document (JSON is YAML too)."""
    labels = {}
    for key, path in OPTION_LABELS.items():
        value: Any = options
        for part in path:
            value = value.get(part) if isinstance(value, dict) else None
        if value:
            try:
                labels[key] = json.dumps(_json_keys(value), sort_keys=True, allow_nan=False)
            except ValueError:
                raise BuildpackError(f"func.yaml options {'.'.join(path)} holds a number that is not finite (.inf or .nan)",
                                     fix="use finite numbers in deploy.options") from None
    return labels


def _json_keys(value: Any) -> Any:
    """``value`` with every mapping key as text (YAML keys may be numbers or null; JSON keys are strings)."""
    if isinstance(value, dict):
        return {("null" if k is None else str(k).lower() if isinstance(k, bool) else str(k)): _json_keys(v)
                for k, v in value.items()}
    if isinstance(value, list):
        return [_json_keys(item) for item in value]
    return value
