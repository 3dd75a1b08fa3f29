"""Throttles counted in the shared cache, per client address as core.clientip works it out.

A fixed-window counter (add, then incr) instead of DRF's list of timestamps: one atomic INCR on
Redis, so concurrent requests on several workers cannot overwrite each other's counts.
"""

import time

from django.core.cache import cache
from rest_framework import throttling

from core.clientip import client_ip


def _now() -> float:
    return time.time()


class ScopedRateThrottle(throttling.ScopedRateThrottle):
    def get_ident(self, request) -> str:
        return client_ip(request)

    def allow_request(self, request, view) -> bool:
        self.scope = getattr(view, self.scope_attr, None)
        if not self.scope:
            return True
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        now = _now()
        window = int(now // self.duration)
        self._wait = (window + 1) * self.duration - now
        key = f"throttle:{self.scope}:{self.get_ident(request)}:{window}"
        cache.add(key, 0, timeout=self.duration + 1)
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.add(key, 1, timeout=self.duration + 1)
            count = 1
        return count <= self.num_requests

    def wait(self) -> float:
        return self._wait
