"""A function outside func.py: func.yaml's envs point MODULE_NAME and FUNCTION_NAME here."""

import os


def my_func(headers):
    return {"module": __name__, "greeting": os.environ.get("GREETING", "hi"), "agent": headers.get("User-Agent", "")}
