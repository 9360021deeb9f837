from typing import Any

def main(req: Any):
  return "Handled request!"
