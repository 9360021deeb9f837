from typing import Any

def main(data: Any, attributes: dict):
  return attributes, "Handled cloudevent!"
