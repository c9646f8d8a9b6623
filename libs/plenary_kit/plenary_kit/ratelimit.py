"""A small in-memory token-bucket rate limiter keyed by client (a person's id, an IP address, an e-mail...).

Each key has a bucket of `burst` tokens that refills at `rate_per_second`; a request takes `cost` tokens (1 by
default) or is refused with the number of seconds after which it would succeed. The state is in memory and per
process: with N replicas a client gets up to N times the rate, which is the usual trade for a limiter without a
shared store. Memory is bounded: at most `max_keys` buckets are kept, the least recently used go first (a bucket
that was left alone long enough is full again, so forgetting it changes nothing).

    limiter = RateLimiter(rate_per_second=5, burst=10)
    limiter.enforce(f"login:{email}")          # raises ProblemError(429, ..., Retry-After) when over the limit
    decision = limiter.check(client_ip)        # or decide yourself
    if not decision.allowed: ... decision.retry_after_header ...

Not thread-safe by design: one asyncio event loop per process calls it, and `check` never awaits.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from plenary_kit.problems import ProblemError


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    remaining: float
    """Tokens left in the bucket after this request (0 when refused)."""
    retry_after: float
    """Seconds until the request would be allowed (0 when allowed)."""

    @property
    def retry_after_header(self) -> str:
        """`Retry-After` as whole seconds, at least 1 (RFC 9110 allows integers only)."""
        return str(max(1, math.ceil(self.retry_after)))


class RateLimiter:
    def __init__(
        self,
        rate_per_second: float,
        burst: float,
        *,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate_per_second <= 0:
            raise ValueError("rate_per_second must be positive")
        if burst < 1:
            raise ValueError("burst must be at least 1")
        self.rate = float(rate_per_second)
        self.burst = float(burst)
        self.max_keys = max_keys
        self._clock = clock
        # key -> (tokens, last refill time); ordered by last use for LRU eviction.
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def check(self, key: str, cost: float = 1.0) -> Decision:
        """Take `cost` tokens from `key`'s bucket if it has them; say how long to wait if not."""
        now = self._clock()
        tokens, updated = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - updated) * self.rate)
        if tokens >= cost:
            tokens -= cost
            decision = Decision(True, tokens, 0.0)
        else:
            wait = (cost - tokens) / self.rate if cost <= self.burst else math.inf
            decision = Decision(False, 0.0, wait)
        self._buckets[key] = (tokens, now)
        self._buckets.move_to_end(key)
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        return decision

    def enforce(self, key: str, cost: float = 1.0, *, detail: str | None = None) -> Decision:
        """`check`, raising a 429 problem with `Retry-After` when the key is over its limit."""
        decision = self.check(key, cost)
        if not decision.allowed:
            seconds = decision.retry_after_header
            raise ProblemError(
                429,
                detail or f"Too many requests; try again in {seconds} second{'s' if seconds != '1' else ''}.",
                headers={"Retry-After": seconds},
                retry_after=int(seconds),
            )
        return decision

    def reset(self, key: str | None = None) -> None:
        """Forget one key's bucket (e.g. after a successful sign-in), or all of them."""
        if key is None:
            self._buckets.clear()
        else:
            self._buckets.pop(key, None)
