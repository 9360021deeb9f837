"""``python -m pyfunc check``: what it reports for good functions and every way a function is wrong."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from conftest import ROOT, check, write_function


def test_check_reports_module_function_style_and_call():
    result = check(ROOT / "samples" / "http")
    assert result.returncode == 0, result.stdout
    assert "module:   func" in result.stdout
    assert "function: main (" in result.stdout and "func.py:4)" in result.stdout
    assert "style:    pyfunc" in result.stdout
    assert "main(req=<flask.Request>)" in result.stdout


def test_check_reports_cloudevent_function():
    result = check(ROOT / "samples" / "cloudevent")
    assert result.returncode == 0, result.stdout
    assert "CloudEvent function, called as main(data=<event data>, attributes=<event attributes dict>)" in result.stdout


def test_module_and_function_from_env():
    result = check(ROOT / "samples" / "custom-module", {"MODULE_NAME": "my_module", "FUNCTION_NAME": "my_func"})
    assert result.returncode == 0, result.stdout
    assert "my_func(headers=<headers>)" in result.stdout


def test_bp_function_wins_over_module_name(tmp_path):
    write_function(tmp_path, {"a.py": "def main(body): return 'a'\n", "b.py": "def run(body): return 'b'\n"})
    result = check(tmp_path, {"BP_FUNCTION": "b.run", "MODULE_NAME": "a", "FUNCTION_NAME": "main"})
    assert result.returncode == 0, result.stdout
    assert "module:   b" in result.stdout and "found by BP_FUNCTION" in result.stdout


def test_single_public_function_is_used_without_main(tmp_path):
    write_function(tmp_path, {"func.py": """
        def _helper(): pass
        def greet(body): return body
    """})
    result = check(tmp_path)
    assert result.returncode == 0, result.stdout
    assert "function: greet" in result.stdout


def failure(result) -> str:
    assert result.returncode == 1, result.stdout
    assert "Traceback" not in result.stdout
    assert "pyfunc check: FAILED" in result.stdout
    return result.stdout


def test_missing_source(tmp_path):
    out = failure(check(tmp_path))
    assert "No function source found" in out and "func.py" in out and "How to fix" in out


def test_missing_module_named_by_env(tmp_path):
    write_function(tmp_path, {"func.py": "def main(req): pass\n"})
    out = failure(check(tmp_path, {"MODULE_NAME": "nothere"}))
    assert "Module 'nothere' not found" in out and "nothere.py" in out


def test_syntax_error_gives_file_and_line(tmp_path):
    write_function(tmp_path, {"func.py": """
        import os

        def main(req)
            return 1
    """})
    out = failure(check(tmp_path))
    assert "Syntax error in module 'func'" in out
    assert "func.py:3" in out and "def main(req)" in out


def test_function_not_found_lists_what_exists(tmp_path):
    write_function(tmp_path, {"func.py": "def handle(req): pass\ndef other(body): pass\n"})
    out = failure(check(tmp_path, {"FUNCTION_NAME": "main"}))
    assert "has no function 'main'" in out and "'handle'" in out and "'other'" in out


def test_rejected_parameter_is_named_with_the_accepted_ones(tmp_path):
    write_function(tmp_path, {"func.py": "def main(req, user_id): pass\n"})
    out = failure(check(tmp_path))
    assert "'user_id'" in out and "req, request, body, headers" in out and "default value" in out


def test_parameter_with_default_is_left_alone(tmp_path):
    write_function(tmp_path, {"func.py": "def main(req, retries=3): return str(retries)\n"})
    assert check(tmp_path).returncode == 0


def test_ambiguous_module_lists_candidates(tmp_path):
    write_function(tmp_path, {"func.py": "def one(req): pass\ndef two(body): pass\n"})
    out = failure(check(tmp_path))
    assert "several functions" in out and "one (line 1)" in out and "two (line 2)" in out


def test_missing_dependency_says_add_to_requirements(tmp_path):
    write_function(tmp_path, {"func.py": "import not_a_real_package_xyz\ndef main(req): pass\n"})
    out = failure(check(tmp_path))
    assert "'not_a_real_package_xyz', which is not installed" in out and "requirements.txt" in out
    assert "func.py:1" in out


def test_error_at_import_names_line(tmp_path):
    write_function(tmp_path, {"func.py": "x = 1\nraise ValueError('no config')\ndef main(req): pass\n"})
    out = failure(check(tmp_path))
    assert "raised ValueError: no config" in out and "func.py:2" in out


@pytest.mark.parametrize("value", ["x", "a..b", "../m.f", "m.", ".f", "m-f.main"])
def test_malformed_bp_function(tmp_path, value):
    write_function(tmp_path, {"func.py": "def main(req): pass\n"})
    out = failure(check(tmp_path, {"BP_FUNCTION": value}))
    assert f"BP_FUNCTION={value!r} is not a function reference" in out and "module.function" in out


def test_parameters_by_annotation_under_any_name(tmp_path):
    write_function(tmp_path, {"func.py": """
        import flask
        from cloudevents.http import CloudEvent

        def main(incoming: flask.Request, ce: CloudEvent):
            return None
    """})
    result = check(tmp_path)
    assert result.returncode == 0, result.stdout
    assert "main(incoming=<flask.Request>, ce=<CloudEvent>)" in result.stdout


def test_string_annotations_work_too(tmp_path):
    write_function(tmp_path, {"func.py": """
        from __future__ import annotations

        def main(r: flask.Request):
            return "x"
    """})
    result = check(tmp_path)
    assert result.returncode == 0, result.stdout
    assert "main(r=<flask.Request>)" in result.stdout


def test_version_is_the_invoker_package_version():
    declared = re.search(r'^version = "(.+)"$', (ROOT / "invoker" / "pyproject.toml").read_text(), re.M).group(1)
    shown = subprocess.run([sys.executable, "-m", "pyfunc", "--version"], capture_output=True, text=True, check=True)
    assert shown.stdout.strip() == f"pyfunc {declared}"


@pytest.mark.parametrize("command", ["start", "check"])
def test_a_command_alone_reads_as_argparse_reads_it(command):
    """``start`` alone (an image's process type) is read without argparse: to the same flags."""
    from pyfunc.__main__ import _parser, parse

    assert parse([command]) == vars(_parser().parse_args([command]))


def test_line_of_a_decorated_function_and_of_a_class(tmp_path):
    """The line ``check`` shows is the definition's first line, decorators included (as
    ``inspect.getsourcelines`` gives it), for a function and for a Knative ``new`` class."""
    decorated = write_function(tmp_path / "decorated", {"func.py": """
        import functools

        def logged(f):
            @functools.wraps(f)
            def wrapper(body):
                return f(body)
            return wrapper


        @logged
        def main(body):
            return body
        """})
    assert "func.py:10)" in check(decorated).stdout
    knative = write_function(tmp_path / "knative", {"function/__init__.py": """
        # a Knative instance


        class Hello:
            async def handle(self, scope, receive, send):
                pass


        new = Hello
        """})
    result = check(knative)
    assert "function: new (" in result.stdout and "__init__.py:4)" in result.stdout, result.stdout


def test_a_function_whose_wrapped_chain_loops_is_rejected_clearly(tmp_path):
    """A decorator that sets ``__wrapped__`` to the wrapper itself: ``inspect`` cannot follow
    it (ValueError), so the function is refused with a message and a fix, not a traceback."""
    write_function(tmp_path, {"func.py": """
        def main(body):
            return body

        main.__wrapped__ = main
        """})
    out = failure(check(tmp_path))
    assert "main is not a function pyfunc can inspect: wrapper loop" in out and "functools.wraps" in out


def test_a_functions_framework_function_whose_wrapped_chain_loops_is_still_served(tmp_path):
    """The Functions Framework style does not read an http function's signature, so a looping
    ``__wrapped__`` (line 0: it cannot be placed) does not stop it, as functions-framework serves it."""
    write_function(tmp_path, {"main.py": """
        def hello(request):
            return "hi"

        hello.__wrapped__ = hello
        """})
    result = check(tmp_path, None, "--signature-type", "http", "--target", "hello")
    assert result.returncode == 0, result.stdout
    assert "Functions Framework http function, called as hello(" in result.stdout, result.stdout
