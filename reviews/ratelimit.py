"""One rate limiter for the website and the API, kept in the database cache so that every web
process counts against the same budget."""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.core.cache import caches
from django.core.exceptions import ImproperlyConfigured

from reviews.conf import conf

# The Django cache that counts.
RATE_CACHE = "default"
PERIODS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600, "d": 86400, "day": 86400}


@dataclass(frozen=True)
class Rate:
    count: int
    period_s: int


def parse_rate(text: str) -> Rate | None:
    """'30/min' -> Rate(30, 60); '' or 'none' -> no limit."""
    if not text or text.strip().lower() in ("none", "off", "0"):
        return None
    try:
        count, period = text.strip().split("/")
        return Rate(int(count), PERIODS[period.strip().lower()])
    except (ValueError, KeyError):
        raise ImproperlyConfigured(f"rate {text!r} is not like 30/min (periods: s, min, hour, day)") from None


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after: int
    limit: int
    used: int


def rate_for(scope: str, *, authenticated: bool) -> Rate | None:
    return parse_rate(conf.rate(scope, authenticated=authenticated))


def hit(scope: str, ident: str, *, authenticated: bool, cost: int = 1) -> Decision:
    """Count `cost` actions of `ident` in `scope` in the current window; refuse when over the rate.

    A refused request does not use up budget, so a client that backs off as told gets through.
    """
    rate = rate_for(scope, authenticated=authenticated)
    if rate is None:
        return Decision(True, 0, 0, 0)
    now = time.time()
    window = int(now // rate.period_s)
    retry_after = max(1, int((window + 1) * rate.period_s - now + 0.999))
    if cost > rate.count:
        return Decision(False, retry_after, rate.count, 0)
    cache = caches[RATE_CACHE]
    key = f"rl:{scope}:{ident}:{window}"
    cache.add(key, 0, timeout=rate.period_s + 5)
    try:
        used = cache.incr(key, cost)
    except ValueError:  # expired between add and incr
        cache.set(key, cost, timeout=rate.period_s + 5)
        used = cost
    if used > rate.count:
        cache.decr(key, cost)
        return Decision(False, retry_after, rate.count, used - cost)
    return Decision(True, 0, rate.count, used)
