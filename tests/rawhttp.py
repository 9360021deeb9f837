"""HTTP/1.x requests written byte by byte on a socket, for tests where framing matters.

``exchange`` sends a request and reads the whole answer until the server closes; ``parse``
splits an answer into status, headers (a list, duplicates kept) and body, de-chunking it.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass


@dataclass
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    raw: bytes

    def all(self, name: str) -> list[str]:
        """Every value of header ``name`` (case-insensitive), in order."""
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def get(self, name: str) -> str | None:
        values = self.all(name)
        return values[0] if values else None


def request(method: str, path: str = "/", headers: dict[str, str] | list[tuple[str, str]] | None = None,
            body: bytes = b"", version: str = "1.1") -> bytes:
    """The bytes of a request; no header is added but ``Host`` (and ``Connection: close`` in 1.1)."""
    pairs = list(headers.items() if isinstance(headers, dict) else headers or [])
    names = {k.lower() for k, _ in pairs}
    if "host" not in names:
        pairs.insert(0, ("Host", "127.0.0.1"))
    if version == "1.1" and "connection" not in names:
        pairs.append(("Connection", "close"))
    head = f"{method} {path} HTTP/{version}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in pairs) + "\r\n"
    return head.encode("latin-1") + body


def chunked(body: bytes, sizes: tuple[int, ...] = (1, 7, 4096, 3)) -> bytes:
    """``body`` in chunked transfer coding, cut into chunks of ``sizes`` (the last repeats)."""
    out, at, index = [], 0, 0
    while at < len(body):
        size = sizes[min(index, len(sizes) - 1)]
        piece = body[at:at + size]
        out.append(b"%x\r\n%s\r\n" % (len(piece), piece))
        at, index = at + size, index + 1
    return b"".join(out) + b"0\r\n\r\n"


def exchange(port: int, data: bytes, half_close: bool = False, timeout: float = 20) -> Answer:
    """Send ``data``, read until the server closes; ``half_close`` shuts our write side first."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        received = b""
        while True:
            piece = sock.recv(65536)
            if not piece:
                break
            received += piece
    return parse(received)


def parse(raw: bytes) -> Answer:
    """One HTTP/1.x answer (after any 1xx interim answers, which are skipped)."""
    rest = raw
    while True:
        head, sep, rest = rest.partition(b"\r\n\r\n")
        if not sep:
            raise AssertionError(f"no complete answer in {raw[:300]!r}")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        if not 100 <= status < 200:
            break
    headers = [tuple(part.strip() for part in line.split(":", 1)) for line in lines[1:]]
    names = {k.lower(): v for k, v in headers}
    if names.get("transfer-encoding", "").lower() == "chunked":
        body, data = b"", rest
        while True:
            size_line, _, data = data.partition(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                break
            body, data = body + data[:size], data[size + 2:]
    elif "content-length" in names:
        body = rest[:int(names["content-length"])]
    else:
        body = rest
    return Answer(status, headers, body, raw)
