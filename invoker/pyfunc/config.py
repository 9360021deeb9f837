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

from .cpu import default_processes, default_threads
from .memory import default_body_budget
from .errors import ConfigError
from .target import FROM_FLAGS, FROM_FRAMEWORK_ENV, FROM_VMWARE_FLAGS, parse_bp_function, resolve_target

__all__ = ["Config", "SIGNATURE_TYPES", "FROM_FLAGS", "FROM_FRAMEWORK_ENV", "FROM_VMWARE_FLAGS", "parse_bp_function"]

SIGNATURE_TYPES = ("http", "event", "cloudevent", "typed")
_TRUE = {"1", "true", "yes", "on"}

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
        max_workers: threads for sync functions, per worker process (``MAX_WORKERS``; default
            from the container's CPU quota, see ``pyfunc.cpu``).
        worker_processes: server processes (``WEB_CONCURRENCY``, else the handler template's
            ``GUNICORN_WORKERS``; default the whole CPUs of the cgroup quota, 1 without one, see
            ``pyfunc.cpu``). Every limit below is per worker process (``pyfunc.workers``).
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
            default from the cgroup memory limit shared by the worker processes, see
            ``pyfunc.memory``), 0 for none; 503 beyond.
        max_header_bytes: request head limit in bytes (``PYFUNC_MAX_HEADER_BYTES``), 0 for none; 431.
        max_headers: header fields per request (``PYFUNC_MAX_HEADERS``), 0 for none; 431.
        header_timeout: seconds for a request head to arrive (``PYFUNC_HEADER_TIMEOUT``), 0 for none; 408.
        idle_timeout: seconds an idle keep-alive connection stays open (``PYFUNC_IDLE_TIMEOUT``), 0 for none.
        max_connections: open connections (``PYFUNC_MAX_CONNECTIONS``), 0 for none; None derives
            the cap from ``RLIMIT_NOFILE`` (see ``pyfunc.limits.connection_cap``).
        asgi: Functions Framework ASGI mode (``--asgi``/``FUNCTION_USE_ASGI``): http functions
            get a Starlette request.
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
    worker_processes: int = 1
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
    asgi: bool = False

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
        module, function, source_file, origin = resolve_target(flags, env, search_dir)
        signature = flags.get("signature_type") or env.get("FUNCTION_SIGNATURE_TYPE") or None
        if signature is not None and signature not in SIGNATURE_TYPES:
            raise ConfigError(
                f"Unknown signature type {signature!r}",
                fix=f"use one of: {', '.join(SIGNATURE_TYPES)} (--signature-type or FUNCTION_SIGNATURE_TYPE)",
            )
        log_format = env.get("PYFUNC_LOG_FORMAT", "text").lower()
        if log_format not in ("text", "json"):
            raise ConfigError(f"PYFUNC_LOG_FORMAT={log_format!r} is not a log format", fix="use text or json")
        processes = _processes(env)
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
            worker_processes=processes,
            max_concurrency=_number(env, "PYFUNC_MAX_CONCURRENCY", 1000, int),
            grace=_number(env, "PYFUNC_GRACE", 30.0, float),
            log_format=log_format,
            access_log=env["PYFUNC_ACCESS_LOG"].lower() in _TRUE if env.get("PYFUNC_ACCESS_LOG") else log_format == "json",
            probe_paths=_probe_paths(env),
            stuck_liveness=_number(env, "PYFUNC_STUCK_LIVENESS", 60.0, float),
            loop_watchdog=_number(env, "PYFUNC_LOOP_WATCHDOG", 10.0, float),
            max_inflight_body=_number(env, "PYFUNC_MAX_INFLIGHT_BODY", default_body_budget() // processes, int),
            max_header_bytes=_number(env, "PYFUNC_MAX_HEADER_BYTES", 16384, int),
            max_headers=_number(env, "PYFUNC_MAX_HEADERS", 100, int),
            header_timeout=_number(env, "PYFUNC_HEADER_TIMEOUT", 10.0, float),
            idle_timeout=_number(env, "PYFUNC_IDLE_TIMEOUT", 5.0, float),
            max_connections=_number(env, "PYFUNC_MAX_CONNECTIONS", None, int),
            asgi=bool(flags.get("asgi")) or _flag(env, "FUNCTION_USE_ASGI"),
        )


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
def _flag(env: Mapping[str, str], name: str) -> bool:
    """A boolean env setting read as functions-framework's CLI (click) reads it."""
    raw = env.get(name, "").strip().lower()
    if raw in ("", "0", "false", "f", "no", "n", "off"):
        return False
    if raw in ("1", "true", "t", "yes", "y", "on"):
        return True
    raise ConfigError(f"{name}={env[name]!r} is not a boolean", fix="use true or false")


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


def _processes(env: Mapping[str, str]) -> int:
    """Worker processes: WEB_CONCURRENCY (uvicorn, gunicorn, Heroku), GUNICORN_WORKERS (seed
    handler-template-dockerization), else the CPU quota. Raises ConfigError below 1."""
    for name in ("WEB_CONCURRENCY", "GUNICORN_WORKERS"):
        if env.get(name):
            value = _number(env, name, 1, int)
            if value < 1:
                raise ConfigError(f"{name}={env[name]!r} asks for no server process",
                                  fix=f"set {name} to 1 or more worker processes (default: the container's CPUs)")
            return value
    return default_processes()


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
