"""Cold start: a function style imports only what it needs. A plain ``main(body)`` function is
served without uvicorn, h2, Flask, the CloudEvents SDK or ``email`` in the process; h2 comes in
with the first h2c connection. Started as an image starts it (``python -m pyfunc start``, no
flags), the invoker's own start-up leaves out argparse and ``importlib.abc`` (which bring
``shutil`` and ``tempfile``)."""

from __future__ import annotations

import socket

import requests

from conftest import write_function

HEAVY = ("uvicorn", "h2", "flask", "werkzeug", "cloudevents", "email.utils", "concurrent.futures.process")

PROBE = {"func.py": f"""
import sys

def main(body):
    return ",".join(name for name in {HEAVY!r} if name in sys.modules) or "none"
"""}


def test_a_plain_function_is_served_without_heavy_imports(tmp_path, serve):
    write_function(tmp_path, PROBE)
    server = serve(tmp_path)
    assert requests.post(server.url, data=b"x", timeout=10).text == "none"
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:  # HTTP/2 preface: h2c
        sock.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        assert sock.recv(9)  # the server's SETTINGS frame: h2 is loaded now
    assert requests.post(server.url, data=b"x", timeout=10).text == "h2"


START_UP = ("argparse", "importlib.abc", "shutil", "tempfile")

ALONE = {"func.py": f"""
import sys

def main(body):
    return ",".join(name for name in {START_UP!r} if name in sys.modules) or "none"
"""}


def test_the_command_alone_starts_without_argparse_or_importlib_abc(tmp_path, serve):
    write_function(tmp_path, ALONE)
    server = serve(tmp_path, alone=True)
    assert requests.post(server.url, data=b"x", timeout=10).text == "none"
