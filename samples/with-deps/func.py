"""A function with a dependency from requirements.txt: renders a byte count for people."""

import humanize


def main(body: bytes):
    return {"size": humanize.naturalsize(len(body)), "bytes": len(body)}
