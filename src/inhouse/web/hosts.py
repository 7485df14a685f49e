"""AllowedHosts: the Host values a server without a configured public URL answers to.

Without `INHOUSE_PUBLIC_URL`, absolute links in answers (LFS transfer links, the Xet CAS address, redirects,
`Link` pagination) are built from the request's Host header, so a crafted Host would make the server hand out
links to a place of the sender's choosing (to a cache, a log, another user). A request is therefore answered only
when its Host is
  - the address the client connected to (`127.0.0.1:8000`, `10.0.0.5:8000`, `[::1]:8000`), or `localhost` with
    that port when it is a loopback address, or
  - listed in `INHOUSE_ALLOWED_HOSTS` (`name` for any port, `name:port`, or `*` for any Host).
Any other Host gets 400 with what the administrator should set. With a public URL set, links never use the Host
header and every Host is answered.
"""

from __future__ import annotations

import ipaddress
import re

from starlette.types import Scope

from inhouse.errors import BadRequest

_HOST = re.compile(r"(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<name>[A-Za-z0-9.-]+))(?::(?P<port>[0-9]{1,5}))?")
DEFAULT_PORTS = {"http": 80, "https": 443}


def parse_host(value: str) -> tuple[str, int | None] | None:
    """`Name:8000` → ("name", 8000); `[::1]` → ("::1", None); None for anything that is not a host[:port]."""
    m = _HOST.fullmatch(value)
    if m is None:
        return None
    port = int(m["port"]) if m["port"] else None
    if port is not None and port > 65535:
        return None
    return (m["v6"] or m["name"]).lower().rstrip("."), port


def _same_address(a: str, b: str) -> bool:
    try:
        return ipaddress.ip_address(a) == ipaddress.ip_address(b)
    except ValueError:
        return False


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


class AllowedHosts:
    def __init__(self, spec: str):
        self.any = False
        self.entries: list[tuple[str, int | None]] = []
        for item in spec.split(","):
            item = item.strip()
            if item == "*":
                self.any = True
            elif item:
                parsed = parse_host(item)
                if parsed is None:
                    raise ValueError(f"INHOUSE_ALLOWED_HOSTS: '{item}' is not a host name or host:port.")
                self.entries.append(parsed)

    def allows(self, host: str, scheme: str, server: tuple[str, int | None] | None) -> bool:
        parsed = parse_host(host)
        if parsed is None:
            return False
        if self.any:
            return True
        name, port = parsed
        port = port if port is not None else DEFAULT_PORTS.get(scheme)
        if any(name == n and (p is None or p == port) for n, p in self.entries):
            return True
        if server is None or server[1] != port:
            return False
        return _same_address(name, server[0]) or (name == "localhost" and _is_loopback(server[0]))

    def check(self, scope: Scope) -> None:
        """Raises BadRequest unless the request's Host is one this server answers to (no Host: links use the
        address the client connected to)."""
        hosts = [v for n, v in scope["headers"] if n == b"host"]
        if not hosts:
            return
        host = hosts[-1].decode("latin-1")
        if len(hosts) == 1 and self.allows(host, scope.get("scheme", "http"), scope.get("server")):
            return
        shown = host if len(host) <= 100 else host[:100] + "…"
        raise BadRequest(
            f"This server does not answer to Host '{shown}': use the address it listens on, or ask its "
            "administrator to set INHOUSE_PUBLIC_URL to the address clients use (or to add that name to "
            "INHOUSE_ALLOWED_HOSTS).")
