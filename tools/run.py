"""``make run``: build APP with the buildpack through the real CNB lifecycle and serve it.

    python tools/run.py APP_DIR PORT

Detector → builder → launcher, in $TMPDIR/pyfunc-run/<app name>/ (layers kept, so a second run
reuses the cached invoker and dependencies layers). Serves in the foreground until Ctrl-C.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cnb_host  # noqa: E402


def main(app: Path, port: str) -> int:
    problem = cnb_host.missing()
    if problem:
        print(f"make run: {problem}", file=sys.stderr)
        return 1
    if not app.is_dir():
        print(f"make run: APP={app} is not a directory", file=sys.stderr)
        return 1
    root = Path(tempfile.gettempdir()) / "pyfunc-run" / app.resolve().name
    shutil.rmtree(root / "app", ignore_errors=True)
    root.mkdir(parents=True, exist_ok=True)
    workspace = cnb_host.Workspace(root, app.resolve())
    print(f"==> Building {app} with the CNB lifecycle ({cnb_host.LIFECYCLE})", flush=True)
    result = workspace.detect_and_build()
    print(result.stdout, flush=True)
    if result.returncode != 0:
        print(f"make run: the build failed (lifecycle exit {result.returncode})", file=sys.stderr)
        return result.returncode
    print(f"==> Layers: {workspace.layers}")
    print("==> Launching process type web (python -m pyfunc start) through the CNB launcher")
    print(f"==> Try: curl http://localhost:{port}/  (Ctrl-C stops it)", flush=True)
    process = workspace.launch({"PORT": port}, stream=True)
    try:
        return process.wait()
    except KeyboardInterrupt:
        return process.wait()


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(Path(sys.argv[1]), sys.argv[2]))
