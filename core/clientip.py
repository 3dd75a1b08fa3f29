"""The client's address: the connection's peer, unless TRUSTED_PROXIES says who may speak for it.

TRUSTED_PROXIES is empty (no proxy: X-Forwarded-For is ignored), a count N (exactly N proxies
in front that each append to X-Forwarded-For: the client is the N-th address from the right),
or networks (`10.0.0.0/8, 127.0.0.1`): walking X-Forwarded-For from the right, addresses are
skipped while the hop that added them is a trusted proxy, and the first one added by a
trusted hop and not itself trusted is the client. Throttles and login lock-outs use this, so a
client rotating X-Forwarded-For gains nothing.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

_CACHE_KEY = "consentsvc.client_ip"


@dataclass(frozen=True)
class Proxies:
    count: int = 0
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()


def parse(value: str | None) -> Proxies:
    """TRUSTED_PROXIES from the environment; ImproperlyConfigured when it is neither a count nor networks."""
    value = (value or "").strip()
    if not value:
        return Proxies()
    if value.isdigit():
        return Proxies(count=int(value))
    networks = []
    for part in value.replace("\n", ",").split(","):
        if part.strip():
            try:
                networks.append(ipaddress.ip_network(part.strip(), strict=False))
            except ValueError as exc:
                raise ImproperlyConfigured(
                    f"TRUSTED_PROXIES: {part.strip()!r} is not an address or network (or give a count)"
                ) from exc
    return Proxies(networks=tuple(networks))


def _address(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    value = value.strip()
    if value.startswith("[") and "]" in value:  # [v6]:port
        value = value[1 : value.index("]")]
    elif value.count(":") == 1:  # v4:port
        value = value.split(":", 1)[0]
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def resolve(*, peer: str, forwarded_for: str | None, proxies: Proxies) -> str:
    if not forwarded_for or (not proxies.count and not proxies.networks):
        return peer
    hops = [hop for hop in forwarded_for.split(",") if hop.strip()]
    if proxies.count:
        if len(hops) < proxies.count:
            return peer  # not through every proxy: nothing in the header can be trusted
        found = _address(hops[-proxies.count])
        return str(found) if found else peer
    current = _address(peer)
    while current is not None and any(current in net for net in proxies.networks) and hops:
        found = _address(hops.pop())
        if found is None:
            break  # garbage from an untrusted hop: the last trusted one speaks for the client
        current = found
    return str(current) if current is not None else peer


def peer_is_proxy(*, peer: str, proxies: Proxies) -> bool:
    """Whether the connection's peer is one of our proxies, whose forwarding headers we believe:
    always with a count (every connection comes through the nearest proxy), never with none."""
    if proxies.count:
        return True
    address = _address(peer)
    return address is not None and any(address in net for net in proxies.networks)


def client_ip(request) -> str:
    """The client's address for this request (worked out once per request)."""
    meta = request.META
    if _CACHE_KEY not in meta:
        meta[_CACHE_KEY] = resolve(
            peer=meta.get("REMOTE_ADDR", ""),
            forwarded_for=meta.get("HTTP_X_FORWARDED_FOR"),
            proxies=settings.TRUSTED_PROXIES_PARSED,
        )
    return meta[_CACHE_KEY]
