"""Property test: whatever an http function returns, pyfunc answers as functions-framework
3.10.2 does — in Flask mode and in ASGI mode (tests/ffdiff.py runs both servers).

Deterministic in CI (``derandomize`` when ``CI`` is set); failures found are kept as ``@example``.
"""

from __future__ import annotations

import json
import os

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import ffdiff
from ffdiff import ff_venv  # noqa: F401  (fixture: make ff-venv)

CI = bool(os.environ.get("CI"))
CORPUS = ffdiff.ROOT / "tests" / "fixtures" / "ff-parity" / "returns"

word = st.text(st.sampled_from("abcXYZ019 -_é"), max_size=8)
scalar = st.one_of(word, st.integers(-5, 5), st.booleans(), st.none())
body = st.one_of(word, st.dictionaries(word, scalar, max_size=3), st.lists(scalar, max_size=3), st.integers(-3, 3),
                 st.booleans(), st.none())
status = st.sampled_from([200, 201, 202, 400, 404, 418, 500, 503])
headers = st.dictionaries(st.sampled_from(["X-One", "X-Two", "Content-Type"]),
                          st.sampled_from(["a", "text/plain", "application/json", "b c"]), max_size=2)
spec = st.one_of(
    body.map(lambda v: {"kind": "value", "value": v}),
    word.map(lambda v: {"kind": "bytes", "value": v}),
    st.tuples(body, status).map(lambda t: {"kind": "tuple", "value": list(t)}),
    st.tuples(body, headers).map(lambda t: {"kind": "tuple", "value": list(t)}),
    st.tuples(body, status, headers).map(lambda t: {"kind": "tuple", "value": list(t)}),
)


@pytest.fixture(scope="module", params=[("hello",), ("hello", "--asgi"), ("hello_async", "--asgi")],
                ids=["flask", "asgi-sync", "asgi-async"])
def pair(request, ff_venv):
    target, *mode = request.param
    started = ffdiff.Pair(CORPUS, ("--target", target, *mode))
    yield started
    started.stop()


@settings(max_examples=60, deadline=None, derandomize=CI, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec)
@example({"kind": "value", "value": None})
@example({"kind": "tuple", "value": [{"a": 1}, 201]})
def test_any_return_value_answers_as_functions_framework(pair, described):
    pair.same("GET", "/", params={"spec": json.dumps(described)})
