def format_message(name: str) -> str:
    return f"Hello, {name}!"
