"""In-process: the configuration object's precedence and errors, and the ASGI app's body limit."""

from __future__ import annotations

import asyncio
import os

import pytest

from pyfunc.http import read_body
from pyfunc.config import Config, parse_bp_function
from pyfunc.errors import ConfigError
from pyfunc.http import HTTPError


def load(tmp_path, flags=None, **env):
    return Config.load({"search_dir": str(tmp_path), **(flags or {})}, env)


def test_defaults(tmp_path):
    config = load(tmp_path)
    assert (config.module, config.function, config.origin) == (None, None, "discovery")
    assert config.addresses == (("0.0.0.0", 8080), ("::", 8080))
    assert (config.max_body, config.timeout, config.max_concurrency) == (10485760, 0.0, 1000)
    assert 1 <= config.max_workers <= 50


def test_function_precedence(tmp_path):
    (tmp_path / "main.py").write_text("")
    env = {"BP_FUNCTION": "a.b", "MODULE_NAME": "m", "FUNCTION_NAME": "f", "FUNCTION_TARGET": "t"}
    assert load(tmp_path, {"target": "flag"}, **env).function == "flag"
    assert (load(tmp_path, **env).module, load(tmp_path, **env).function) == ("a", "b")
    env.pop("BP_FUNCTION")
    assert (load(tmp_path, **env).module, load(tmp_path, **env).function) == ("m", "f")
    del env["MODULE_NAME"], env["FUNCTION_NAME"]
    config = load(tmp_path, **env)
    assert (config.function, config.source_file, config.origin) == ("t", tmp_path / "main.py", "FUNCTION_TARGET/FUNCTION_SOURCE")


def test_listen_precedence(tmp_path):
    assert load(tmp_path, {"port": "9000"}, LISTEN_ADDRESS="[::1]:1").addresses == (("0.0.0.0", 9000),)
    assert load(tmp_path, LISTEN_ADDRESS="[::]:8081,0.0.0.0:8082", PORT="1").addresses == (("::", 8081), ("0.0.0.0", 8082))
    assert load(tmp_path, PORT="7000", HOST="127.0.0.1").addresses == (("127.0.0.1", 7000),)


@pytest.mark.parametrize("env, message", [
    ({"PORT": "eighty"}, "PORT='eighty' is not a TCP port"),
    ({"LISTEN_ADDRESS": "localhost"}, "has no port"),
    ({"PYFUNC_MAX_BODY": "-1"}, "is negative"),
    ({"PYFUNC_TIMEOUT": "soon"}, "is not a number"),
    ({"FUNCTION_SIGNATURE_TYPE": "grpc"}, "Unknown signature type"),
    ({"MODULE_NAME": "my-module"}, "is not a module name"),
    ({"FUNCTION_SOURCE": "missing.py"}, "no such file"),
    ({"PYFUNC_LOG_FORMAT": "xml"}, "is not a log format"),
])
def test_config_errors_say_what_and_how(tmp_path, env, message):
    with pytest.raises(ConfigError) as error:
        load(tmp_path, **env)
    assert message in str(error.value) and "How to fix" in str(error.value)


def test_parse_bp_function():
    assert parse_bp_function("pkg.sub.handler.main") == ("pkg.sub.handler", "main")
    with pytest.raises(ConfigError):
        parse_bp_function("main")


def test_read_body_stops_at_the_limit_without_reading_the_rest():
    chunks = [{"type": "http.request", "body": b"x" * 60, "more_body": True} for _ in range(100)]
    received = []

    async def receive():
        received.append(1)
        return chunks.pop(0)

    with pytest.raises(HTTPError) as error:
        asyncio.run(read_body({"headers": []}, receive, 100))
    assert error.value.status == 413 and len(received) == 2


def test_read_body_refuses_a_declared_length_before_reading():
    async def receive():
        raise AssertionError("must not read")

    with pytest.raises(HTTPError) as error:
        asyncio.run(read_body({"headers": [(b"content-length", b"5000")]}, receive, 100))
    assert error.value.status == 413


RUNTIME_SETTINGS = ["BP_FUNCTION", "MODULE_NAME", "FUNCTION_NAME", "FUNCTION_TARGET", "FUNCTION_SOURCE",
                    "FUNCTION_SIGNATURE_TYPE", "LISTEN_ADDRESS", "PORT", "HOST", "PYFUNC_MAX_BODY", "PYFUNC_TIMEOUT",
                    "WEB_CONCURRENCY", "GUNICORN_WORKERS"]


def test_any_runtime_settings_load_or_raise_config_error(tmp_path):
    from hypothesis import given, settings
    from hypothesis import strategies as st

    values = st.one_of(st.sampled_from(["", "x", "a..b", "../m.f", "/etc/passwd", "main.py", "-1", "99999", "[::]:80",
                                        "a\x00b", "a\nb", "0.0.0.0:8080,[::]:8080"]), st.text(max_size=30))

    @settings(max_examples=200, deadline=None)
    @given(st.dictionaries(st.sampled_from(RUNTIME_SETTINGS), values, max_size=4))
    def check(env):
        try:
            config = Config.load({"search_dir": str(tmp_path)}, env)
        except ConfigError as error:
            assert str(error).strip()
        else:
            assert config.search_dir == tmp_path.resolve()

    check()


def test_threads_follow_the_cgroup_quota_not_the_host(tmp_path):
    from pyfunc import cpu

    (tmp_path / "cpu.max").write_text("50000 100000\n")  # half a CPU
    assert cpu.quota(tmp_path) == 1.0 and cpu.default_threads(tmp_path) == 25
    (tmp_path / "cpu.max").write_text("max 100000\n")  # no limit: the affinity mask decides
    assert cpu.quota(tmp_path) >= 1.0
    (tmp_path / "cpu.max").unlink()
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("400000\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert cpu.default_threads(tmp_path) == min(50, 25 * min(4, len(os.sched_getaffinity(0))))


def test_max_workers_env_overrides_the_quota(tmp_path):
    assert load(tmp_path, MAX_WORKERS="7").max_workers == 7
