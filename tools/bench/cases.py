"""The configurations under load: virtualenvs, function sources, servers and their cases."""

from __future__ import annotations


import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import cnb_host  # noqa: E402

ROOT = cnb_host.ROOT
BENCH = ROOT / ".tools" / "bench"
WHEELS = cnb_host.BUILDPACK / "wheels"
PYFUNC_PACKAGES = BENCH / "pyfunc" / "packages"

#: Virtualenvs: name → requirements. pyfunc is the assembled buildpack's wheel, installed as the
#: buildpack installs it in an image (pip --target, on PYTHONPATH); the anchors are installed
#: in their venvs' site-packages, at the versions of reference/perf-baselines.md.
ENVIRONMENTS = {
    "pyfunc": [str(next(iter(sorted(WHEELS.glob("pyfunc-*.whl"))), WHEELS / "pyfunc-missing.whl"))],
    "ff": ["functions-framework==3.10.2"],
    "func": ["func-python==0.8.1"],
    "raw": ["uvicorn==0.54.0", "uvloop", "httptools", "granian==2.8.7", "matplotlib"],
}

HELLO_ASGI = textwrap.dedent("""
    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain"), (b"content-length", b"12")]})
        await send({"type": "http.response.body", "body": b"Hello world!"})
""")

#: Function sources, one directory each: relative path → source.
FUNCTIONS = {
    "ff-hello": {"main.py": "def hello(request):\n    return 'Hello world!'\n"},
    "ff-cloudevent": {"main.py": "def hello(cloud_event):\n    return None\n"},
    "ff-body": {"main.py": "def hello(request):\n    return str(len(request.get_data()))\n"},
    "ff-sleep": {"main.py": "import time\n\ndef hello(request):\n    time.sleep(0.05)\n    return 'ok'\n"},
    "raw": {"app.py": HELLO_ASGI},
    "func-python": {"serve_hello.py": HELLO_ASGI + "\nfrom func_python.http import serve\n\n"
                    "async def handle(scope, receive, send):\n    await app(scope, receive, send)\n\nserve(handle)\n"},
    "pyfunc-req": {"func.py": "def main(req):\n    return 'Hello world!'\n"},
    "pyfunc-body": {"func.py": "def main(body):\n    return 'Hello world!'\n"},
    "pyfunc-async": {"func.py": "async def main(body):\n    return 'Hello world!'\n"},
    "knative": {"function/__init__.py": "class Hello:\n" + textwrap.indent(HELLO_ASGI.replace(
        "async def app(scope", "async def handle(self, scope"), "    ") + "\nnew = Hello\n"},
    "handler": {"function/__init__.py": "", "function/handler.py": "def handle(logger, request):\n    return request\n"},
    "pyfunc-cloudevent": {"func.py": "def main(data, attributes):\n"
                          "    return {'type': 'dev.bench.reply', 'source': '/bench'}, data\n"},
    "pyfunc-len": {"func.py": "def main(body):\n    return str(len(body))\n"},
    "pyfunc-sleep": {"func.py": "import time\n\ndef main(body):\n    time.sleep(0.05)\n    return 'ok'\n"},
    # ≈ 2 ms of pure Python per request (holds the GIL: only more processes add throughput)
    "pyfunc-cpu": {"func.py": "def main(body):\n    n = 0\n    for i in range(27000):\n        n += i * i\n    return str(n)\n"},
}

#: Worker processes of the multi-process configurations: the machine's CPUs (at least 2).
WORKERS = max(2, os.cpu_count() or 1)

CLOUDEVENT_LUA = """
wrk.method = "POST"
wrk.body = '{"message": "hello"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["ce-specversion"] = "1.0"
wrk.headers["ce-type"] = "dev.bench.event"
wrk.headers["ce-source"] = "/bench"
wrk.headers["ce-id"] = "bench-1"
"""
JSON_LUA = 'wrk.method = "POST"\nwrk.body = \'{"name": "bench", "n": 1}\'\nwrk.headers["Content-Type"] = "application/json"\n'
MIB_LUA = 'wrk.method = "POST"\nwrk.body = string.rep("x", 1048576)\nwrk.headers["Content-Type"] = "application/octet-stream"\n'


@dataclass
class Config:
    """One server under load: ``command`` run in ``function``'s directory with ``venv``'s Python."""

    name: str
    label: str
    venv: str  # "pyfunc" or a key of ENVIRONMENTS
    function: str
    args: list[str]
    case: str  # hello, cloudevent, mib, sleep
    script: str | None = None
    flask: bool = False
    env: dict[str, str] = field(default_factory=dict)

    def python(self) -> Path:
        return BENCH / self.venv / "bin" / "python"


def pyfunc(name: str, label: str, function: str, case: str = "hello", script: str | None = None, flask: bool = False,
           args: tuple[str, ...] = (), workers: int = 1) -> Config:
    return Config(name, label, "pyfunc", function, ["-m", "pyfunc", "start", *args], case, script, flask,
                  {"LISTEN_ADDRESS": "127.0.0.1:{port}", "PYTHONPATH": str(PYFUNC_PACKAGES), "WEB_CONCURRENCY": str(workers)})


CONFIGS = [
    Config("ff", "functions-framework default", "ff", "ff-hello",
           ["-m", "functions_framework", "--target", "hello", "--port", "{port}", "--host", "127.0.0.1"], "hello", flask=True),
    Config("ff-asgi", "functions-framework --asgi", "ff", "ff-hello",
           ["-m", "functions_framework", "--target", "hello", "--port", "{port}", "--host", "127.0.0.1", "--asgi"], "hello",
           flask=True),
    Config("func-python", "func-python (hypercorn, raw ASGI)", "func", "func-python", ["serve_hello.py"], "hello",
           env={"LISTEN_ADDRESS": "127.0.0.1:{port}"}),
    Config("uvicorn", "raw ASGI on uvicorn", "raw", "raw",
           ["-m", "uvicorn", "app:app", "--port", "{port}", "--loop", "uvloop", "--http", "httptools", "--no-access-log",
            "--log-level", "warning"], "hello"),
    Config("granian", "raw ASGI on granian", "raw", "raw",
           ["-m", "granian", "--interface", "asgi", "--port", "{port}", "--workers", "1", "--log-level", "warning",
            "app:app"], "hello"),
    pyfunc("pyfunc-body", "pyfunc main(body)", "pyfunc-body"),
    pyfunc("pyfunc-async", "pyfunc async main(body)", "pyfunc-async"),
    pyfunc("pyfunc-req", "pyfunc main(req) (Flask request)", "pyfunc-req", flask=True),
    pyfunc("knative", "pyfunc Knative ASGI instance", "knative"),
    pyfunc("handler", "pyfunc handle(logger, request) JSON echo", "handler", script=JSON_LUA),
    pyfunc("pyfunc-ff", "pyfunc Functions Framework hello(request)", "ff-hello", flask=True, args=("--target", "hello")),
    Config("ff-cloudevent", "functions-framework cloudevent", "ff", "ff-cloudevent",
           ["-m", "functions_framework", "--target", "hello", "--signature-type", "cloudevent", "--port", "{port}",
            "--host", "127.0.0.1"], "cloudevent", CLOUDEVENT_LUA),
    pyfunc("pyfunc-cloudevent", "pyfunc CloudEvent in/out (binary)", "pyfunc-cloudevent", "cloudevent", CLOUDEVENT_LUA),
    Config("ff-mib", "functions-framework 1 MiB POST", "ff", "ff-body",
           ["-m", "functions_framework", "--target", "hello", "--port", "{port}", "--host", "127.0.0.1"], "mib", MIB_LUA),
    pyfunc("pyfunc-mib", "pyfunc 1 MiB POST main(body)", "pyfunc-len", "mib", MIB_LUA),
    Config("ff-sleep", "functions-framework sync sleep 50 ms", "ff", "ff-sleep",
           ["-m", "functions_framework", "--target", "hello", "--port", "{port}", "--host", "127.0.0.1"], "sleep"),
    pyfunc("pyfunc-sleep", "pyfunc sync sleep 50 ms", "pyfunc-sleep", "sleep"),
    pyfunc("pyfunc-cpu", "pyfunc CPU-bound 2 ms, 1 worker process", "pyfunc-cpu", "cpu"),
    pyfunc("pyfunc-cpu-workers", f"pyfunc CPU-bound 2 ms, {WORKERS} worker processes", "pyfunc-cpu", "cpu",
           workers=WORKERS),
    pyfunc("pyfunc-body-workers", f"pyfunc main(body), {WORKERS} worker processes", "pyfunc-body", workers=WORKERS),
]

#: (goal text, measured value → ratio, reference, limit, comparison) checked after the run.
NO_FLASK_HELLO = ("pyfunc-body", "pyfunc-async", "knative", "handler")
FLASK_HELLO = ("pyfunc-req", "pyfunc-ff")


def prepare(root: Path, venvs: tuple[str, ...] = tuple(ENVIRONMENTS)) -> None:
    for venv in venvs:
        requirements = ENVIRONMENTS[venv]
        python = BENCH / venv / "bin" / "python"
        marker = BENCH / venv / ".installed"
        stamp = "\n".join(requirements + [_digest(Path(r)) for r in requirements if r.endswith(".whl")])
        if marker.is_file() and marker.read_text() == stamp:
            continue
        print(f"installing the {venv} comparison environment: {' '.join(requirements)}", flush=True)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(BENCH / venv)], check=True)
        target = ["--target", str(PYFUNC_PACKAGES)] if venv == "pyfunc" else []
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *target,
                        *requirements], check=True)
        marker.write_text(stamp)
    for name, files in FUNCTIONS.items():
        for relative, source in files.items():
            path = root / name / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(source))


def _digest(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()

