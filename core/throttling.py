"""Rate limits whose counters every web process shares.

DRF's stock throttle keeps a list of request times per client and writes the whole list
back on every request: with several gunicorn workers sharing one cache, two requests read
the same list and one of the writes is lost, so a client could exceed its limit by a factor
of the number of workers. Here each client has one integer counter per window, incremented
atomically by the cache (Redis `INCR`), and the limit is a sliding window estimated from the
current and the previous window's counts (the previous one weighted by how much of it still
overlaps the last `duration` seconds). Memory is two integers per client, whatever the rate.

If the cache cannot be reached, the request is allowed and the outage logged: the limit
protects capacity, and an unreachable cache should not stop partners' sales feeds.
"""

from __future__ import annotations

import logging
import math

from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView

logger = logging.getLogger(__name__)


class SharedRateThrottle(SimpleRateThrottle):
    """A sliding-window counter over the shared cache. Subclasses name the scope and the
    cache key (`get_cache_key`), as with DRF's SimpleRateThrottle."""

    # Set by SimpleRateThrottle.__init__ from parse_rate(rate) (the stubs leave them out):
    # None when `rate` is None, and then every request is allowed.
    num_requests: int | None
    duration: int | None
    # This request's counts, read again by wait() after a refusal.
    current: int
    previous: int
    elapsed: float

    def allow_request(self, request: Request, view: APIView) -> bool:
        if self.rate is None or self.num_requests is None or self.duration is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        now = self.timer()
        window = int(now // self.duration)
        self.elapsed = now - window * self.duration
        current_key = f"{self.key}:{window}"
        try:
            # Two windows' lifetime: the next window still reads this one as its previous.
            self.cache.add(current_key, 0, timeout=2 * self.duration)
            self.current = self.cache.incr(current_key)
            self.previous = int(self.cache.get(f"{self.key}:{window - 1}", 0))
        except Exception:  # the cache is down or unreachable: fail open, loudly
            logger.warning("rate limit %s not enforced: the cache is unreachable", self.scope, exc_info=True)
            return True
        if self._estimate(self.current, self.elapsed, self.duration) <= self.num_requests:
            return True
        # A refused request does not use up the allowance, so Retry-After stays true.
        try:
            self.cache.decr(current_key)
        except Exception:  # expired or unreachable in between: the count only over-states
            logger.warning("rate limit %s: could not give back a refused request", self.scope, exc_info=True)
        self.current -= 1
        return False

    def _estimate(self, current: int, elapsed: float, duration: int) -> float:
        return self.previous * (1 - elapsed / duration) + current

    def wait(self) -> int:
        """Seconds until one more request would be allowed, if no other arrives meanwhile."""
        limit, duration = self.num_requests, self.duration
        if limit is None or duration is None:  # no rate: nothing was refused, nothing to wait for
            return 0
        wanted = self.current + 1  # this window's count once the next request is let in
        if wanted <= limit and self.previous > 0:
            # Still in this window, once enough of the previous one has slid out of view.
            until = duration * (1 - (limit - wanted) / self.previous)
            return _whole_seconds(until - self.elapsed)
        # In the next window, where this window's count becomes the one that slides out.
        rest_of_window = duration - self.elapsed
        slide = duration * (1 - (limit - 1) / self.current) if self.current > 0 else 0.0
        return _whole_seconds(rest_of_window + max(0.0, slide))


def _whole_seconds(seconds: float) -> int:
    # Rounded first: 60 * (1 - 2/3) is 20.000000000000004, which is 20 s, not 21.
    return max(1, math.ceil(round(seconds, 6)))
