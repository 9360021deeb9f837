"""The function-env layer: the launch env of the image (Buildpack API 0.10, "Environment Variables").

Sources, in order: func.yaml envs and the resolved function as launch *defaults* (deploy-time
env still wins), then the platform's ``BPE_*`` settings as Paketo's environment-variables
buildpack reads them (paketo-buildpacks/environment-variables, env/build.go):

| setting              | env file of NAME  | at launch                                    |
|----------------------|-------------------|----------------------------------------------|
| ``BPE_APPEND_NAME``  | ``NAME.append``   | value appended to NAME (delimiter: below)    |
| ``BPE_PREPEND_NAME`` | ``NAME.prepend``  | value prepended to NAME                      |
| ``BPE_DELIM_NAME``   | ``NAME.delim``    | the delimiter of append/prepend (default '') |
| ``BPE_DEFAULT_NAME`` | ``NAME.default``  | NAME unless the deploy env sets it           |
| ``BPE_OVERRIDE_NAME``, ``BPE_NAME`` | ``NAME.override`` | NAME, whatever the deploy env says |

When Paketo's environment-variables buildpack ran earlier in the group (its layers dir
``paketo-buildpacks_environment-variables`` is beside ours: it contributes a layer whenever a
``BPE_*`` setting exists), it has written those settings already; this layer leaves them to it,
else every ``BPE_APPEND_``/``BPE_PREPEND_`` value would be applied twice. Names holding '.' stay
here: its env files cannot carry them.

A name holding '.' (valid in func.yaml) cannot be an env file: the lifecycle reads
``A.B.default`` as name ``A`` with the unknown suffix ``B.default`` and drops it. Such envs
are applied at launch by an exec.d program of the layer (``exec.d/dotted-env``, run by the
launcher, printing ``NAME = "value"`` TOML to fd 3) with the same semantics.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field

from .context import Context
from .errors import BuildpackError
from .layers import Layer, LayerEnv, Types
from .log import Log

#: Paketo's prefixes, typed ones first (``BPE_`` is a prefix of them all).
BPE_PREFIXES = (("BPE_APPEND_", "append"), ("BPE_DEFAULT_", "default"), ("BPE_DELIM_", "delim"),
                ("BPE_OVERRIDE_", "override"), ("BPE_PREPEND_", "prepend"), ("BPE_", "override"))
#: The layers dir of Paketo's environment-variables buildpack, a sibling of ours once it has run.
PAKETO_ENV_LAYERS = "paketo-buildpacks_environment-variables"
EXEC_D = "dotted-env"
DATA = "dotted-env.json"


@dataclass
class LaunchEnv:
    """``entries``: (name, action, value) with action default, override, append, prepend or delim;
    ``earlier``: the BPE_* entries an earlier buildpack's layer applies (in ``apply``, not written)."""

    entries: list[tuple[str, str, str]] = field(default_factory=list)
    earlier: list[tuple[str, str, str]] = field(default_factory=list)

    @classmethod
    def plan(cls, ctx: Context, defaults: dict[str, str]) -> "LaunchEnv":
        """The launch env from ``defaults`` and the BPE_* settings; raises BuildpackError for a name no env can have."""
        entries = [(name, "default", value) for name, value in defaults.items()]
        earlier: list[tuple[str, str, str]] = []
        paketo = ctx.layers_dir is not None and (ctx.layers_dir.parent / PAKETO_ENV_LAYERS).is_dir()
        for setting in ctx.platform_env_names():
            for prefix, action in BPE_PREFIXES:
                if setting.startswith(prefix):
                    if len(setting) > len(prefix):
                        name = setting[len(prefix):]
                        (earlier if paketo and "." not in name else entries).append(
                            (name, action, ctx.setting(setting) or ""))
                    break
        for name, _, _ in entries:
            if not name or "=" in name or "\0" in name:
                raise BuildpackError(f"Environment variable name {name!r} cannot be set at launch",
                                     fix="use letters, digits, '-', '.' and '_' (func.yaml env name pattern); "
                                     "for BPE_* settings the name follows the prefix (BPE_DEFAULT_NAME)")
        return cls(entries, earlier)

    def apply(self, env: dict[str, str]) -> dict[str, str]:
        """``env`` as the launcher leaves it after this layer (the validation step runs with it)."""
        result = dict(env)
        for entries in (self.earlier, self.entries):  # layers apply in group order
            delims = {name: value for name, action, value in entries if action == "delim"}
            for name, action, value in entries:
                new = _applied(result.get(name), action, value, delims.get(name, ""))
                if new is not None:
                    result[name] = new
        return result

    def write(self, ctx: Context, log: Log) -> None:
        layer = Layer(ctx.layers_dir, "function-env", Types(launch=True))
        layer.reset()
        files = LayerEnv()
        dotted = [entry for entry in self.entries if "." in entry[0]]
        for name, action, value in self.entries:
            if "." not in name:
                files.add(name, action, value)
        if dotted:
            _write_exec_d(layer.path, dotted)
        layer.commit({}, files)
        log.step("Configuring launch environment")
        for name, action, _ in self.entries:
            log.detail(f"{name} ({action}{', applied by exec.d' if '.' in name else ''})")
        if self.earlier:
            log.detail(f"{len(self.earlier)} BPE_* settings left to {PAKETO_ENV_LAYERS.replace('_', '/', 1)}")
        if not self.entries:
            log.detail("No function envs")


def _applied(current: str | None, action: str, value: str, delim: str) -> str | None:
    """The value of an env after one action, None for no change (how the lifecycle's launcher applies env files)."""
    if action == "override" or (action == "default" and current is None):
        return value
    if action == "append":
        return value if not current else current + delim + value
    if action == "prepend":
        return value if not current else value + delim + current
    return None


def _write_exec_d(layer_dir, entries: list[tuple[str, str, str]]) -> None:
    for name, _, value in entries:
        try:
            (name + value).encode("utf-8")
        except UnicodeEncodeError:
            raise BuildpackError(f"The launch env {name} is not UTF-8 text", fix=f"set {name} to UTF-8 text") from None
    (layer_dir / DATA).write_text(json.dumps(entries), encoding="utf-8")
    program = layer_dir / "exec.d" / EXEC_D
    program.parent.mkdir(parents=True, exist_ok=True)
    program.write_text(f"#!{sys.executable} -I\n" + _PROGRAM, encoding="utf-8")
    program.chmod(0o755)


_PROGRAM = '''"""exec.d of pyfunc/python-function: launch envs whose name holds '.', which no CNB env file can carry.

Reads ../dotted-env.json ([name, action, value] entries) and writes, as TOML to fd 3, the
values the env files would give: default (unless set), override, append/prepend (with delim).
"""
import json
import os

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def quoted(text):
    return '"' + "".join(c if c >= " " and c not in '"\\\\\\x7f' else "\\\\u%04x" % ord(c) for c in text) + '"'


with open(os.path.join(HERE, "dotted-env.json"), encoding="utf-8") as stream:
    entries = json.load(stream)
delims = {name: value for name, action, value in entries if action == "delim"}
env, changed = dict(os.environ), {}
for name, action, value in entries:
    current = env.get(name)
    if action == "override" or (action == "default" and current is None):
        new = value
    elif action in ("append", "prepend"):
        delim = delims.get(name, "")
        new = value if not current else (current + delim + value if action == "append" else value + delim + current)
    else:
        continue
    env[name] = changed[name] = new
with os.fdopen(3, "w", encoding="utf-8", errors="replace") as out:
    out.write("".join(f"{quoted(name)} = {quoted(value)}\\n" for name, value in changed.items()))
'''
