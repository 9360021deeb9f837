"""Entry point of bin/detect and bin/build: ``python3 -I -S buildpack/__main__.py detect|build``.

Isolated mode keeps the app's PYTHONPATH and site-packages out; the buildpack's own
vendored libraries (``vendor/``, filled by pip at package time) go first on sys.path.
"""

import os
import sys

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [_ROOT, os.path.join(_ROOT, "vendor")]

from buildpack.cli import main  # noqa: E402

if __name__ == "__main__":
    main(sys.argv[1:])
