"""A buffered request as a WSGI environ (PEP 3333), for styles that hand out a Flask request.

Imported only when the resolved function takes a request object or headers: Flask and
Werkzeug cost tens of milliseconds of cold start (reference/perf-baselines.md).
"""

from __future__ import annotations

import io
import json
import sys
from typing import Any

from .http import Request, loads_json


def environ(request: Request) -> dict[str, Any]:
    """The WSGI environ for ``request`` (PEP 3333), as gunicorn (functions-framework's server)
    and Werkzeug's own server make it, from the request's header fields as received:

    * a field ``name`` becomes ``HTTP_NAME`` (``-`` → ``_``); ``Content-Type`` and
      ``Content-Length`` become ``CONTENT_TYPE`` and ``CONTENT_LENGTH``, present only when the
      client sent them (a bodyless GET has no ``Content-Length: 0``);
    * a repeated field's values are joined with ``,``;
    * a field whose name holds ``_`` is dropped (gunicorn's default ``header_map = "drop"``,
      Werkzeug's and Django's servers, nginx): ``X_Forwarded_For`` would otherwise become
      ``HTTP_X_FORWARDED_FOR`` and pose as the ``X-Forwarded-For`` a proxy vouches for;
    * a chunked body keeps ``HTTP_TRANSFER_ENCODING``, without ``CONTENT_LENGTH``.

    The body was read whole by the server: ``wsgi.input`` holds it all and
    ``wsgi.input_terminated`` says so, so Werkzeug reads it to its end whatever the framing."""
    scope = request.scope
    server = scope.get("server") or ("localhost", 80)
    client = scope.get("client") or ("", 0)
    env: dict[str, Any] = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": scope.get("root_path", "").encode("utf-8").decode("latin-1"),
        "PATH_INFO": scope["path"].encode("utf-8").decode("latin-1"),
        "QUERY_STRING": scope.get("query_string", b"").decode("latin-1"),
        "SERVER_NAME": str(server[0]),
        "SERVER_PORT": str(server[1] or 80),
        "SERVER_PROTOCOL": f"HTTP/{scope.get('http_version', '1.1')}",
        "REMOTE_ADDR": str(client[0]),
        "REMOTE_PORT": str(client[1]),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": io.BytesIO(request.body),  # shares the body; read() whole returns it, no copy
        "wsgi.input_terminated": True,  # Werkzeug then reads the stream to its end, not 64 KiB at a time
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    for raw_name, raw_value in scope["headers"]:
        name = raw_name.decode("latin-1")
        if "_" in name:
            continue
        value = raw_value.decode("latin-1")
        if name == "content-type":
            env["CONTENT_TYPE"] = value
        elif name == "content-length":
            env["CONTENT_LENGTH"] = str(len(request.body))  # the server checked they agree
        else:
            key = "HTTP_" + name.upper().replace("-", "_")
            env[key] = f"{env[key]},{value}" if key in env else value
    return env


class SafeJSON:
    """The ``json_module`` of the request classes handed out: ``get_json`` of JSON nested too
    deeply to decode fails as malformed JSON does (a ValueError, so Werkzeug's 400 BadRequest)
    instead of a RecursionError (a 500)."""

    loads = staticmethod(loads_json)
    dumps = staticmethod(json.dumps)


_classes: dict[bool, type] = {}


def _request_class(with_flask: bool) -> type:
    found = _classes.get(with_flask)
    if found is None:
        if with_flask:
            from flask import Request as base
        else:
            from werkzeug.wrappers import Request as base
        found = _classes[with_flask] = type(base.__name__, (base,), {"json_module": SafeJSON, "__module__": base.__module__})
    return found


def flask_request(request: Request) -> Any:
    """The pyfunc ``req``/``request`` parameter: a ``flask.Request`` when the function's code
    imported Flask, else its base class ``werkzeug.wrappers.Request`` (same attributes for a
    request: args, headers, get_data, get_json, form, files...), which spares ~35 ms of Flask
    imports on a cold start. Either is subclassed only to decode JSON with ``SafeJSON``."""
    # populate_request=False: no environ["werkzeug.request"] back-reference, a cycle that kept
    # every body alive until the garbage collector ran (Flask's own contexts break it on pop).
    return _request_class("flask" in sys.modules)(environ(request), populate_request=False)


def http_exception_response(exc: BaseException) -> Any:
    """The Werkzeug response of a Werkzeug ``HTTPException`` (``abort(404)``, the 400 of
    ``get_json`` on a malformed body), else None: what Flask answers for them."""
    exceptions = sys.modules.get("werkzeug.exceptions")
    if exceptions is not None and isinstance(exc, exceptions.HTTPException) and exc.code is not None:
        return exc.get_response()
    return None


def headers(request: Request) -> Any:
    """The request headers as ``werkzeug.datastructures.Headers`` (case-insensitive)."""
    from werkzeug.datastructures import Headers

    return Headers(list(request.headers.items()))
