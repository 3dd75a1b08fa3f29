"""Throttles counted in the shared cache, per client address as core.clientip works it out.

A fixed-window counter (add, then incr) instead of DRF's list of timestamps: one atomic INCR on
Redis, so concurrent requests on several workers cannot overwrite each other's counts.
"""

import time

from django.core.cache import cache
from rest_framework import throttling
from rest_framework.settings import api_settings

from core.clientip import client_ip


def _now() -> float:
    return time.time()


def rate_hit(*, scope: str, ident: str, num_requests: int, duration: int, now: float) -> tuple[bool, float]:
    """Count one request of ``ident`` in ``scope``'s current window: (allowed, seconds until the
    window ends)."""
    window = int(now // duration)
    wait = (window + 1) * duration - now
    key = f"throttle:{scope}:{ident}:{window}"
    cache.add(key, 0, timeout=duration + 1)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=duration + 1)
        count = 1
    return count <= num_requests, wait


def scope_hit(request, *, scope: str) -> tuple[bool, float]:
    """Count this request against ``scope``'s rate (REST_FRAMEWORK's DEFAULT_THROTTLE_RATES) for the
    client's address, outside DRF too: the web sign-in form shares the token endpoint's count."""
    num_requests, duration = ScopedRateThrottle().parse_rate(api_settings.DEFAULT_THROTTLE_RATES[scope])
    return rate_hit(scope=scope, ident=client_ip(request), num_requests=num_requests, duration=duration, now=_now())


class ScopedRateThrottle(throttling.ScopedRateThrottle):
    def get_ident(self, request) -> str:
        return client_ip(request)

    def allow_request(self, request, view) -> bool:
        self.scope = getattr(view, self.scope_attr, None)
        if not self.scope:
            return True
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        allowed, self._wait = rate_hit(
            scope=self.scope, ident=self.get_ident(request), num_requests=self.num_requests,
            duration=self.duration, now=_now(),
        )
        return allowed

    def wait(self) -> float:
        return self._wait
