"""pyfunc: load a Python function and serve it over HTTP and CloudEvents.

Run ``python -m pyfunc check`` or ``python -m pyfunc start``; see ``pyfunc.__main__``.
"""

__version__ = "0.1.0"
