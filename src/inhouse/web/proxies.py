"""TrustedProxies: X-Forwarded-For, -Proto and -Host, believed only when a configured proxy sent them.

Anyone can send these headers. Believed from any caller, they would let a client write any address into the
audit log, dodge the failed-token throttle, or point the absolute links in answers elsewhere. So they count only
when the connecting address is in `INHOUSE_TRUSTED_PROXIES` (IPs or CIDRs). The client address is then the
right-most X-Forwarded-For hop that is not itself a trusted proxy; the scheme and host are those the nearest proxy
set (the right-most value).
"""

from __future__ import annotations

import ipaddress

from starlette.types import Scope

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(spec: str) -> tuple[Network, ...]:
    """`10.0.0.1, 10.1.0.0/16, ::1` → networks; raises ValueError naming a bad entry."""
    out = []
    for item in spec.split(","):
        item = item.strip()
        if not item:
            continue
        try:
            out.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"INHOUSE_TRUSTED_PROXIES: '{item}' is not an IP address or CIDR "
                             "(e.g. 10.0.0.5 or 10.0.0.0/24).") from None
    return tuple(out)


def parse_address(text: str) -> Address | None:
    """An X-Forwarded-For hop: `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1` or `[2001:db8::1]:5678`; None if not."""
    text = text.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


def _last_value(headers: list[tuple[bytes, bytes]], name: bytes) -> str | None:
    values = [v for n, v in headers if n == name]
    if not values:
        return None
    last = values[-1].decode("latin-1").rsplit(",", 1)[-1].strip()
    return last or None


class TrustedProxies:
    def __init__(self, spec: str):
        self.networks = parse_networks(spec)

    def __contains__(self, address: Address | None) -> bool:
        return address is not None and any(address in net for net in self.networks)

    def apply(self, scope: Scope) -> None:
        """Rewrites the scope's client, scheme and Host header in place when a trusted proxy forwarded the
        request (in place, so that the server's access log shows the client as well)."""
        client = scope.get("client")
        if not self.networks or not client or parse_address(str(client[0])) not in self:
            return
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        hops = b",".join(v for n, v in headers if n == b"x-forwarded-for").decode("latin-1").split(",")
        found: Address | None = None
        for hop in reversed(hops):
            addr = parse_address(hop)
            if addr is None:
                break  # garbage: the hops to its left cannot be vouched for
            found = addr
            if addr not in self:
                break
        if found is not None:
            scope["client"] = (str(found), 0)
        proto = _last_value(headers, b"x-forwarded-proto")
        if proto is not None and proto.lower() in ("http", "https"):
            scope["scheme"] = proto.lower()
        host = _last_value(headers, b"x-forwarded-host")
        if host is not None:
            scope["headers"] = [(n, v) for n, v in headers if n != b"host"] + [(b"host", host.encode("latin-1"))]
