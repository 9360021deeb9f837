import humanize


def greeting(name: str, visits: int) -> str:
    return f"Hello, {name}! This is your {humanize.ordinal(visits)} visit."
