"""The client and scheme a trusted proxy forwards (X-Forwarded-For, X-Forwarded-Proto), as
uvicorn's FORWARDED_ALLOW_IPS defines them: believed from the loopback proxy by default
(Knative's queue-proxy), ignored from any other peer."""

from __future__ import annotations

import pytest
import requests

from conftest import write_function

WHO = {"main.py": """
    def who(request):
        return f"{request.remote_addr} {request.scheme}"
"""}


@pytest.mark.parametrize("allow, headers, expected", [
    (None, {}, "127.0.0.1 http"),
    (None, {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}, "203.0.113.7 https"),
    (None, {"X-Forwarded-For": "198.51.100.1, 203.0.113.7, 127.0.0.1"}, "203.0.113.7 http"),  # right-most untrusted
    (None, {"X-Forwarded-For": "127.0.0.1, ::1"}, "127.0.0.1 http"),  # all trusted: the left-most
    (None, {"X-Forwarded-Proto": "gopher"}, "127.0.0.1 http"),  # not a scheme
    ("10.0.0.0/8", {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}, "127.0.0.1 http"),  # untrusted
    ("127.0.0.0/8,192.0.2.9", {"X-Forwarded-For": "203.0.113.7, 192.0.2.9"}, "203.0.113.7 http"),
    ("*", {"X-Forwarded-For": "198.51.100.1, 203.0.113.7"}, "198.51.100.1 http"),  # anyone: the left-most
])
def test_forwarded_client_and_scheme_only_from_trusted_proxies(tmp_path, serve, allow, headers, expected):
    write_function(tmp_path, WHO)
    env = {"FUNCTION_TARGET": "who"}
    if allow is not None:
        env["FORWARDED_ALLOW_IPS"] = allow
    server = serve(tmp_path, env)
    assert requests.get(server.url, headers=headers, timeout=10).text == expected
