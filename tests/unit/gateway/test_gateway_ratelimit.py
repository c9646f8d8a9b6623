"""The kit's token-bucket rate limiter (plenary_kit.ratelimit), with a fake clock."""

from __future__ import annotations

import pytest
from plenary_kit.problems import ProblemError
from plenary_kit.ratelimit import RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_is_allowed_then_requests_wait_for_the_refill() -> None:
    clock = Clock()
    limiter = RateLimiter(rate_per_second=2, burst=3, clock=clock)
    assert [limiter.check("ip:1").allowed for _ in range(4)] == [True, True, True, False]
    refused = limiter.check("ip:1")
    assert refused.retry_after == pytest.approx(0.5) and refused.retry_after_header == "1"
    clock.now += 0.5
    assert limiter.check("ip:1").allowed
    assert not limiter.check("ip:1").allowed
    clock.now += 10  # the bucket never holds more than the burst
    assert [limiter.check("ip:1").allowed for _ in range(4)] == [True, True, True, False]


def test_keys_have_their_own_buckets() -> None:
    limiter = RateLimiter(rate_per_second=1, burst=1, clock=Clock())
    assert limiter.check("sub:ada").allowed
    assert not limiter.check("sub:ada").allowed
    assert limiter.check("sub:bob").allowed


def test_a_cost_larger_than_one_and_one_larger_than_the_burst() -> None:
    limiter = RateLimiter(rate_per_second=1, burst=5, clock=Clock())
    assert limiter.check("k", cost=4).remaining == pytest.approx(1)
    assert limiter.check("k", cost=2).retry_after == pytest.approx(1)
    assert limiter.check("k", cost=6).retry_after == float("inf")


def test_memory_is_bounded_by_forgetting_the_least_recently_used_keys() -> None:
    limiter = RateLimiter(rate_per_second=1, burst=1, max_keys=2, clock=Clock())
    limiter.check("a")
    limiter.check("b")
    limiter.check("a")
    limiter.check("c")  # evicts b, the least recently used
    assert len(limiter) == 2
    assert not limiter.check("a").allowed  # a was kept (and is empty)
    assert limiter.check("b").allowed  # b starts afresh


def test_enforce_raises_a_429_problem_with_retry_after() -> None:
    limiter = RateLimiter(rate_per_second=0.25, burst=1, clock=Clock())
    limiter.enforce("code:ada@example.org")
    with pytest.raises(ProblemError) as err:
        limiter.enforce("code:ada@example.org")
    assert err.value.status == 429
    assert err.value.headers == {"Retry-After": "4"}
    assert err.value.detail == "Too many requests; try again in 4 seconds."
    limiter.reset("code:ada@example.org")
    limiter.enforce("code:ada@example.org")


def test_settings_that_make_no_sense_are_refused() -> None:
    with pytest.raises(ValueError):
        RateLimiter(rate_per_second=0, burst=1)
    with pytest.raises(ValueError):
        RateLimiter(rate_per_second=1, burst=0.5)
