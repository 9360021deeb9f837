"""``PYTHONPATH=tools python -m bench`` (or ``python tools/bench``): see the package docstring."""

import sys
from pathlib import Path

TOOLS = str(Path(__file__).resolve().parents[1])
if TOOLS not in sys.path:  # run as a directory (python tools/bench) or as tools.bench
    sys.path.insert(0, TOOLS)

from bench.cli import main  # noqa: E402

sys.exit(main())
