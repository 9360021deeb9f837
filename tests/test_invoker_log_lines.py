"""Log lines of the real server cannot be forged by requests or functions (text and JSON)."""

from __future__ import annotations

import json
import re

import requests

from conftest import write_function


FORGER = {"func.py": """
    import logging

    def main(req):
        logging.getLogger("fn").warning("user said %s", req.args.get("say"))
        raise ValueError("boom\\r\\nFORGED ERROR pyfunc: all is well\\x1b[2J")
"""}


def test_text_logs_escape_control_characters_from_requests_and_functions(tmp_path, serve):
    write_function(tmp_path, FORGER)
    server = serve(tmp_path, {"PYFUNC_ACCESS_LOG": "1"})
    forged = "%0D%0AFORGED%20INFO%20pyfunc:%20x%1B"
    assert requests.get(f"{server.url}/p{forged}?say=hi%0AFORGED%20WARNING%20fn:%20y").status_code == 500
    server.stop()
    lines = server.output.splitlines()
    assert not [line for line in lines if line.startswith("FORGED")], server.output
    assert "\x1b" not in server.output
    assert "/p\\r\\nFORGED INFO pyfunc: x\\x1b" in server.output  # the request line, escaped
    assert "user said hi\\nFORGED WARNING fn: y" in server.output
    assert "ValueError: boom\\r\\nFORGED ERROR pyfunc: all is well\\x1b[2J" in server.output
    record = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ ")
    traceback_line = re.compile(r"^(Traceback|  |ValueError: |$|The above|During handling)")
    assert all(record.match(line) or traceback_line.match(line) for line in lines), server.output


def test_json_logs_stay_one_valid_object_per_line(tmp_path, serve):
    write_function(tmp_path, FORGER)
    server = serve(tmp_path, {"PYFUNC_LOG_FORMAT": "json"})
    requests.get(f"{server.url}/p%0D%0A%7B%22forged%22:1%7D?say=a%0Ab")
    server.stop()
    entries = [json.loads(line) for line in server.output.splitlines()]
    assert not any("forged" in entry for entry in entries)
    assert any(entry.get("path") == '/p\r\n{"forged":1}' for entry in entries)
    assert any("FORGED ERROR" in entry.get("exception", "") for entry in entries)
