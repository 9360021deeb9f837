"""The invoker's one configuration object, built from command-line flags and the environment.

Precedence, written once (README "Configuration" repeats it):

* Which function: ``-m``/``-f`` flags (VMware invoker) > ``--target``/``--source`` flags > ``BP_FUNCTION`` (``module.function``) >
  ``MODULE_NAME``/``FUNCTION_NAME`` > ``FUNCTION_TARGET``/``FUNCTION_SOURCE`` (Functions
  Framework) > discovery where each style keeps its code (see ``pyfunc.discovery``).
* Which style: ``--signature-type`` flag > ``FUNCTION_SIGNATURE_TYPE`` > what the module
  shows (decorator, ``new`` factory, parameter names) — see ``pyfunc.styles``.
* Where to listen: ``--host``/``--port`` flags > ``LISTEN_ADDRESS`` (comma list, as Knative
  func sets it) > ``HOST``/``PORT`` > ``0.0.0.0:8080`` and ``[::]:8080``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from .cpu import default_threads
from .memory import default_body_budget
from .errors import ConfigError

SIGNATURE_TYPES = ("http", "event", "cloudevent", "typed")
_IDENTIFIER = r"[A-Za-z_][A-Za-z0-9_]*"
_BP_FUNCTION = re.compile(rf"^({_IDENTIFIER}(?:\.{_IDENTIFIER})*)\.({_IDENTIFIER})$")
_MODULE = re.compile(rf"^{_IDENTIFIER}(?:\.{_IDENTIFIER})*$")
_FUNCTION = re.compile(rf"^{_IDENTIFIER}$")
_TRUE = {"1", "true", "yes", "on"}

#: ``Config.origin`` values: which setting named the function.
FROM_FLAGS = "--target/--source"
FROM_FRAMEWORK_ENV = "FUNCTION_TARGET/FUNCTION_SOURCE"
FROM_VMWARE_FLAGS = "-m/-f"

#: Settings naming extra probe paths (func.yaml deploy.healthEndpoints) and the probe each answers.
PROBE_SETTINGS = (("PYFUNC_LIVENESS_PATH", "alive"), ("PYFUNC_READINESS_PATH", "ready"))
_PATH = re.compile(r"^/[\x21-\x7e]*$")

DEFAULT_PORT = 8080
DEFAULT_MAX_BODY = 10 * 1024 * 1024


@dataclass(frozen=True)
class Config:
    """Everything the invoker needs to load and serve one function.

    Attributes:
        search_dir: directory the function's module is imported from (``-s``; default cwd).
        module: dotted module name to import from ``search_dir``, or None to discover.
        function: attribute name of the function (or ``new`` factory), or None to discover.
        source_file: a ``.py`` file to load by path (Functions Framework ``--source``).
        signature_type: explicit style override, one of ``SIGNATURE_TYPES``, or None.
        invoke: func.yaml ``invoke`` (``FUNC_INVOKE``): ``http`` or ``cloudevent``, for
            Knative func instances.
        origin: which setting named the function, for ``check`` to explain.
        addresses: ``(host, port)`` pairs to listen on; an IPv6 host has no brackets.
        debug: verbose logs (``--debug``/``DEBUG``).
        max_body: request body limit in bytes (``PYFUNC_MAX_BODY``); 413 beyond it.
        timeout: per-request limit in seconds (``PYFUNC_TIMEOUT``), 0 for none; 504 beyond.
        max_workers: threads for sync functions (``MAX_WORKERS``; default from the
            container's CPU quota, see ``pyfunc.cpu``).
        max_concurrency: in-flight request cap (``PYFUNC_MAX_CONCURRENCY``), 0 for none; 503.
        grace: seconds to drain in-flight requests after SIGTERM (``PYFUNC_GRACE``).
        log_format: ``text`` or ``json`` (``PYFUNC_LOG_FORMAT``).
        access_log: one log line per request (``PYFUNC_ACCESS_LOG``; on with json logs).
        probe_paths: extra ``(path, "alive" | "ready")`` probe routes, from
            ``PYFUNC_LIVENESS_PATH`` / ``PYFUNC_READINESS_PATH`` (func.yaml
            ``deploy.healthEndpoints``), answered like the built-in ones.
        stuck_liveness: seconds every worker may stay stuck in timed-out calls before
            liveness answers 503 (``PYFUNC_STUCK_LIVENESS``), 0 for never; see ``pyfunc.runner``.
        loop_watchdog: seconds the event loop may go without running before its stack is
            logged (``PYFUNC_LOOP_WATCHDOG``), 0 for no watchdog; see ``pyfunc.watchdog``.
        max_inflight_body: bytes of request bodies buffered at once (``PYFUNC_MAX_INFLIGHT_BODY``;
            default from the cgroup memory limit, see ``pyfunc.memory``), 0 for none; 503 beyond.
        max_header_bytes: request head limit in bytes (``PYFUNC_MAX_HEADER_BYTES``), 0 for none; 431.
        max_headers: header fields per request (``PYFUNC_MAX_HEADERS``), 0 for none; 431.
        header_timeout: seconds for a request head to arrive (``PYFUNC_HEADER_TIMEOUT``), 0 for none; 408.
        idle_timeout: seconds an idle keep-alive connection stays open (``PYFUNC_IDLE_TIMEOUT``), 0 for none.
        max_connections: open connections (``PYFUNC_MAX_CONNECTIONS``), 0 for none; None derives
            the cap from ``RLIMIT_NOFILE`` (see ``pyfunc.limits.connection_cap``).
    """

    search_dir: Path
    module: str | None = None
    function: str | None = None
    source_file: Path | None = None
    signature_type: str | None = None
    invoke: str = "http"
    origin: str = "discovery"
    addresses: tuple[tuple[str, int], ...] = (("0.0.0.0", DEFAULT_PORT), ("::", DEFAULT_PORT))
    debug: bool = False
    max_body: int = DEFAULT_MAX_BODY
    timeout: float = 0.0
    max_workers: int = 50
    max_concurrency: int = 1000
    grace: float = 30.0
    log_format: str = "text"
    access_log: bool = False
    probe_paths: tuple[tuple[str, str], ...] = ()
    stuck_liveness: float = 60.0
    loop_watchdog: float = 10.0
    max_inflight_body: int = 1 << 30
    max_header_bytes: int = 16384
    max_headers: int = 100
    header_timeout: float = 10.0
    idle_timeout: float = 5.0
    max_connections: int | None = None

    @classmethod
    def load(cls, flags: Mapping[str, object] | None = None, env: Mapping[str, str] | None = None) -> "Config":
        """Build the configuration from parsed flags (``None`` values = not given) and env.

        Raises ConfigError naming the setting and the accepted form.
        """
        flags = {k: v for k, v in (flags or {}).items() if v is not None}
        env = os.environ if env is None else env
        search_dir = Path(str(flags.get("search_dir") or ".")).resolve()
        if not search_dir.is_dir():
            raise ConfigError(
                f"Function directory {search_dir} does not exist",
                fix="pass -s DIR with the directory that holds your function",
            )
        module, function, source_file, origin = _target(flags, env, search_dir)
        signature = flags.get("signature_type") or env.get("FUNCTION_SIGNATURE_TYPE") or None
        if signature is not None and signature not in SIGNATURE_TYPES:
            raise ConfigError(
                f"Unknown signature type {signature!r}",
                fix=f"use one of: {', '.join(SIGNATURE_TYPES)} (--signature-type or FUNCTION_SIGNATURE_TYPE)",
            )
        log_format = env.get("PYFUNC_LOG_FORMAT", "text").lower()
        if log_format not in ("text", "json"):
            raise ConfigError(f"PYFUNC_LOG_FORMAT={log_format!r} is not a log format", fix="use text or json")
        return cls(
            search_dir=search_dir,
            module=module,
            function=function,
            source_file=source_file,
            signature_type=str(signature) if signature else None,
            invoke=(env.get("FUNC_INVOKE") or "http").lower(),
            origin=origin,
            addresses=_addresses(flags, env),
            debug=bool(flags.get("debug")) or env.get("DEBUG", "").lower() in _TRUE,
            max_body=_number(env, "PYFUNC_MAX_BODY", DEFAULT_MAX_BODY, int),
            timeout=_number(env, "PYFUNC_TIMEOUT", 0.0, float),
            max_workers=max(1, _number(env, "MAX_WORKERS", 0, int) or default_threads()),
            max_concurrency=_number(env, "PYFUNC_MAX_CONCURRENCY", 1000, int),
            grace=_number(env, "PYFUNC_GRACE", 30.0, float),
            log_format=log_format,
            access_log=env["PYFUNC_ACCESS_LOG"].lower() in _TRUE if env.get("PYFUNC_ACCESS_LOG") else log_format == "json",
            probe_paths=_probe_paths(env),
            stuck_liveness=_number(env, "PYFUNC_STUCK_LIVENESS", 60.0, float),
            loop_watchdog=_number(env, "PYFUNC_LOOP_WATCHDOG", 10.0, float),
            max_inflight_body=_number(env, "PYFUNC_MAX_INFLIGHT_BODY", default_body_budget(), int),
            max_header_bytes=_number(env, "PYFUNC_MAX_HEADER_BYTES", 16384, int),
            max_headers=_number(env, "PYFUNC_MAX_HEADERS", 100, int),
            header_timeout=_number(env, "PYFUNC_HEADER_TIMEOUT", 10.0, float),
            idle_timeout=_number(env, "PYFUNC_IDLE_TIMEOUT", 5.0, float),
            max_connections=_number(env, "PYFUNC_MAX_CONNECTIONS", None, int),
        )


def parse_bp_function(value: str, setting: str = "BP_FUNCTION") -> tuple[str, str]:
    """Split ``package.module.function`` into ``(module, function)``.

    Raises ConfigError for anything else (``x``, ``a..b``, ``../m.f``), naming ``setting``.
    """
    match = _BP_FUNCTION.match(value)
    if not match:
        raise ConfigError(
            f"{setting}={value!r} is not a function reference",
            detail="expected module.function: Python identifiers joined by single dots, e.g. func.main or pkg.handlers.main",
            fix=f"set {setting} to the module (relative to the app directory, dots for packages) and the function name",
        )
    return match.group(1), match.group(2)


def _target(flags: Mapping[str, object], env: Mapping[str, str], search_dir: Path):
    """Return ``(module, function, source_file, origin)`` by the precedence in the module docstring."""
    if flags.get("module_name") or flags.get("function_name"):  # the VMware invoker's -m / -f
        module = str(flags.get("module_name") or "func")
        if not _MODULE.match(module):
            raise ConfigError(f"-m {module!r} is not a module name", fix="use a Python module name without .py, e.g. func")
        return module, _function_name(str(flags.get("function_name") or "main"), "-f"), None, FROM_VMWARE_FLAGS
    if flags.get("target") or flags.get("source"):
        return (None, _function_name(str(flags["target"]), "--target") if flags.get("target") else None,
                _source(str(flags["source"]), search_dir, "--source") if flags.get("source") else None,
                FROM_FLAGS)
    if env.get("BP_FUNCTION"):
        module, function = parse_bp_function(env["BP_FUNCTION"])
        return module, function, None, "BP_FUNCTION"
    if env.get("MODULE_NAME") or env.get("FUNCTION_NAME"):
        module = env.get("MODULE_NAME") or None
        if module is not None and not _MODULE.match(module):
            raise ConfigError(
                f"MODULE_NAME={module!r} is not a module name",
                fix="use a Python module name without .py, dots for packages (e.g. func or pkg.handlers)",
            )
        function = env.get("FUNCTION_NAME") or None
        if function is not None:
            _function_name(function, "FUNCTION_NAME")
        return module, function, None, "MODULE_NAME/FUNCTION_NAME"
    if env.get("FUNCTION_TARGET") or env.get("FUNCTION_SOURCE"):
        function = _function_name(env["FUNCTION_TARGET"], "FUNCTION_TARGET") if env.get("FUNCTION_TARGET") else None
        source = _source(env.get("FUNCTION_SOURCE") or "main.py", search_dir, "FUNCTION_SOURCE")
        return None, function, source, FROM_FRAMEWORK_ENV
    return None, None, None, "discovery"


def _probe_paths(env: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    paths = []
    for name, probe in PROBE_SETTINGS:
        value = env.get(name, "").strip()
        if not value:
            continue
        if not _PATH.match(value) or "?" in value or "#" in value:
            raise ConfigError(f"{name}={value!r} is not a URL path",
                              fix=f"set {name} to an absolute path without query, e.g. /{probe}z (func.yaml deploy.healthEndpoints)")
        paths.append((value, probe))
    return tuple(paths)


def _function_name(value: str, setting: str) -> str:
    if not _FUNCTION.match(value):
        raise ConfigError(f"{setting}={value!r} is not a function name", fix="use a Python identifier, e.g. main")
    return value


def _source(value: str, search_dir: Path, setting: str) -> Path:
    try:
        path = (search_dir / value).resolve()
        found = path.is_file()
    except (OSError, ValueError):  # a NUL byte, a name too long
        path, found = search_dir / repr(value), False
    if not found:
        raise ConfigError(
            f"{setting}={value!r}: no such file {path}",
            fix=f"point {setting} at the .py file that defines your function, relative to {search_dir}",
        )
    return path


def _addresses(flags: Mapping[str, object], env: Mapping[str, str]) -> tuple[tuple[str, int], ...]:
    if flags.get("host") or flags.get("port"):
        port = _port(str(flags.get("port") or env.get("PORT") or DEFAULT_PORT), "--port")
        return ((str(flags.get("host") or env.get("HOST") or "0.0.0.0").strip("[]"), port),)
    if env.get("LISTEN_ADDRESS"):
        return tuple(_address(item.strip()) for item in env["LISTEN_ADDRESS"].split(",") if item.strip())
    port = _port(env.get("PORT") or str(DEFAULT_PORT), "PORT")
    if env.get("HOST"):
        return ((env["HOST"].strip("[]"), port),)
    return (("0.0.0.0", port), ("::", port))


def _address(item: str) -> tuple[str, int]:
    host, sep, port = item.rpartition(":")
    if not sep:
        raise ConfigError(
            f"LISTEN_ADDRESS entry {item!r} has no port",
            fix="use host:port entries separated by commas, e.g. [::]:8080,0.0.0.0:8080",
        )
    return (host.strip("[]") or "0.0.0.0", _port(port, "LISTEN_ADDRESS"))


def _port(value: str, setting: str) -> int:
    if value.isdigit() and int(value) < 65536:
        return int(value)
    raise ConfigError(f"{setting}={value!r} is not a TCP port", fix="use a number from 0 (any free port) to 65535")


def _number(env: Mapping[str, str], name: str, default, kind):
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number", fix=f"set {name} to a number (default {default})") from None
    if value < 0:
        raise ConfigError(f"{name}={raw!r} is negative", fix=f"set {name} to 0 or more (default {default})")
    return value
