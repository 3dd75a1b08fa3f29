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
from django.http import HttpRequest
from ipware import get_client_ip as ipware_client_ip

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


# django-ipware reads X-Forwarded-For alone: its other headers (X-Real-IP, Forwarded,
# CF-Connecting-IP, ...) are as easy to forge and no proxy of ours sets them.
FORWARDED_FOR = ["HTTP_X_FORWARDED_FOR"]


def _peer(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        return None
    return getattr(address, "ipv4_mapped", None) or address


def _hop(request: HttpRequest, behind: int) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address ``behind`` hops from the right end of X-Forwarded-For (0: the last one, which
    the nearest proxy added), or None when the header has fewer valid hops.

    django-ipware parses the header (ports, [v6]:port, IPv4-mapped IPv6, RFC 7239 tokens; unparsable
    hops are skipped: only a client writes those, and only to the left of what our proxies add)
    and counts the hops; which hop is the client is TRUSTED_PROXIES' to say.
    """
    found, _routable = ipware_client_ip(
        request, proxy_order="left-most", proxy_count=behind, request_header_order=FORWARDED_FOR, strict=False
    )
    return ipaddress.ip_address(found) if found else None


def peer_is_proxy(*, peer: str, proxies: Proxies) -> bool:
    """Whether the connection's peer is one of our proxies, whose forwarding headers we believe:
    always with a count (every connection comes through the nearest proxy), never with none."""
    if proxies.count:
        return True
    address = _peer(peer)
    return address is not None and any(address in net for net in proxies.networks)


def _resolve(request: HttpRequest, proxies: Proxies) -> str:
    peer = request.META.get("REMOTE_ADDR", "")
    if not request.META.get("HTTP_X_FORWARDED_FOR") or not peer_is_proxy(peer=peer, proxies=proxies):
        return peer
    if proxies.count:
        # Each of the N proxies appended the address it was connected from: the N-th from the right
        # is the client's (fewer hops than proxies: not through every proxy, nothing is trusted).
        found = _hop(request, proxies.count - 1)
        return str(found) if found else peer
    # Networks: walk from the right while the hop that added an address is a trusted proxy.
    current, behind = _peer(peer), 0
    while current is not None and any(current in net for net in proxies.networks):
        found = _hop(request, behind)
        if found is None:
            break  # no more hops (or only garbage): the last trusted one speaks for the client
        current, behind = found, behind + 1
    return str(current) if current is not None else peer


def resolve(*, peer: str, forwarded_for: str | None, proxies: Proxies) -> str:
    """The client's address for a connection from ``peer`` carrying ``forwarded_for``."""
    request = HttpRequest()
    request.META = {"REMOTE_ADDR": peer}
    if forwarded_for is not None:
        request.META["HTTP_X_FORWARDED_FOR"] = forwarded_for
    return _resolve(request, proxies)


def client_ip(request) -> str:
    """The client's address for this request (worked out once per request)."""
    meta = request.META
    if _CACHE_KEY not in meta:
        meta[_CACHE_KEY] = _resolve(request, settings.TRUSTED_PROXIES_PARSED)
    return meta[_CACHE_KEY]
