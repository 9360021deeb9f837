"""The client and scheme a trusted proxy forwards (``X-Forwarded-For``, ``X-Forwarded-Proto``).

Knative's queue-proxy, in the same pod, connects from the loopback address and adds the
caller to ``X-Forwarded-For``; a function asking for its client (Flask's ``remote_addr``, the
ASGI scope's ``client``) wants that caller, not the proxy. As uvicorn does (its setting,
``FORWARDED_ALLOW_IPS``, is read here with the same meaning and default), the headers are
believed only when the peer is a trusted proxy: addresses or networks, comma-separated,
``127.0.0.1,::1`` by default, ``*`` for any peer. Then ``X-Forwarded-Proto`` (``http``,
``https``, ``ws``, ``wss``) becomes the scheme, and the client is the right-most
``X-Forwarded-For`` entry that is not itself a trusted proxy (the left-most when all are),
with its port when it carries one, else port 0.
"""

from __future__ import annotations

import ipaddress
import os
from functools import lru_cache

_SCHEMES = frozenset({"http", "https", "ws", "wss"})


class TrustedProxies:
    """Whether a host is a trusted proxy; ``apply`` rewrites a scope's client and scheme."""

    def __init__(self, setting: str) -> None:
        entries = [entry.strip() for entry in setting.split(",") if entry.strip()]
        self.everyone = "*" in entries
        self.addresses: set = set()
        self.networks: list = []
        self.names: set[str] = set()  # entries that are not IP addresses, compared as text
        for entry in entries:
            try:
                if "/" in entry:
                    self.networks.append(ipaddress.ip_network(entry, strict=False))
                else:
                    self.addresses.add(ipaddress.ip_address(entry))
            except ValueError:
                self.names.add(entry)
        self.trusts = lru_cache(maxsize=4096)(self._trusts)

    @classmethod
    def from_env(cls) -> "TrustedProxies":
        return cls(os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1"))

    def _trusts(self, host: str) -> bool:
        if self.everyone:
            return True
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return host in self.names
        return address in self.addresses or any(address in network for network in self.networks)

    def apply(self, scope: dict) -> None:
        """Set ``scope["client"]`` and ``scope["scheme"]`` from the forwarding headers, if the
        peer (``scope["client"]``) is trusted."""
        peer = scope.get("client")
        if not peer or not self.trusts(peer[0]):
            return
        chain: list[str] = []
        for name, value in scope["headers"]:
            if name == b"x-forwarded-proto":
                proto = value.decode("latin-1").strip()
                if proto in _SCHEMES:
                    scope["scheme"] = proto
            elif name == b"x-forwarded-for":
                chain += [entry.strip() for entry in value.decode("latin-1").split(",")]
        if chain:
            client = next((entry for entry in reversed(chain) if not self.trusts(_host_port(entry)[0])), chain[0])
            if self.everyone:
                client = chain[0]
            host, port = _host_port(client)
            if host:
                scope["client"] = (host, port)


def _host_port(entry: str) -> tuple[str, int]:
    """``host`` and port of an X-Forwarded-For entry: ``1.2.3.4``, ``1.2.3.4:80``, ``[::1]:80``, ``::1``."""
    if entry.startswith("["):
        host, _, rest = entry[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
        return host, int(port) if port.isdigit() else 0
    if entry.count(":") == 1:
        host, _, port = entry.partition(":")
        return (host, int(port)) if port.isdigit() else (entry, 0)
    return entry, 0
