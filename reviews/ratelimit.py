"""One rate limiter for the website, the API and sign-in, shared by every web process.

Counts are fixed windows ("60/min" = at most 60 in each minute), kept where every process sees
them and incremented atomically: in Redis when REDIS_URL is set (Django's Redis cache: INCR, with
the window's expiry set once by ADD), otherwise in the database (one INSERT ... ON CONFLICT DO
UPDATE ... RETURNING statement, on SQLite and PostgreSQL alike). A refused request does not use
up budget, so a client that backs off as told gets through.
"""

from __future__ import annotations

import functools
import re
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from django.core.exceptions import ImproperlyConfigured
from django.db import connection

from reviews.conf import conf

PERIODS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600, "d": 86400, "day": 86400}
# A window's counter outlives its window by this much (clock differences between processes).
GRACE_S = 5


@dataclass(frozen=True)
class Rate:
    count: int
    period_s: int


RATE_TEXT = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([a-z]+)\s*$")


def parse_rates(text: str) -> tuple[Rate, ...]:
    """'30/min' -> (Rate(30, 60),); '5/15min,20/day' -> two tiers, each must hold (a client that
    keeps going waits longer and longer); '' or 'none' -> no limit."""
    if not text or text.strip().lower() in ("none", "off", "0"):
        return ()
    rates = []
    for part in text.split(","):
        match = RATE_TEXT.match(part.lower())
        if not match or match.group(3) not in PERIODS:
            raise ImproperlyConfigured(f"rate {text!r} is not like 30/min or 5/15min,20/day (periods: s, min, hour, day)")
        count, multiple, unit = match.groups()
        rates.append(Rate(int(count), int(multiple or 1) * PERIODS[unit]))
    return tuple(rates)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after: int
    limit: int
    used: int
    # The request costs more than the whole budget: waiting does not help, it never passes.
    over_budget: bool = False


def hit(scope: str, ident: str, *, authenticated: bool, cost: int = 1) -> Decision:
    """Count `cost` actions of `ident` in `scope`'s rate (every tier) for this kind of caller."""
    rates = parse_rates(conf.rate(scope, authenticated=authenticated))
    taken: list[Rate] = []
    for rate in rates:
        decision = hit_rate(rate, f"{scope}:{ident}", cost=cost)
        if not decision.allowed:
            for earlier in taken:  # a refused request uses up no budget, in any tier
                hit_rate(earlier, f"{scope}:{ident}", cost=-cost)
            return decision
        taken.append(rate)
    return Decision(True, 0, rates[0].count if rates else 0, 0)


def undo(scope: str, ident: str, *, authenticated: bool, cost: int = 1) -> None:
    """Give back what hit() counted (e.g. a sign-in that succeeded counts no failure)."""
    for rate in parse_rates(conf.rate(scope, authenticated=authenticated)):
        hit_rate(rate, f"{scope}:{ident}", cost=-cost)


def hit_rate(rate: Rate | None, name: str, *, cost: int = 1) -> Decision:
    """Count `cost` actions under `name` in the current window of `rate`; refuse when over (a
    negative cost gives back)."""
    if rate is None:
        return Decision(True, 0, 0, 0)
    now = time.time()
    window = int(now // rate.period_s)
    window_end = (window + 1) * rate.period_s
    retry_after = max(1, int(window_end - now + 0.999))
    if cost > rate.count:
        return Decision(False, retry_after, rate.count, 0, over_budget=True)
    counter = counters()
    key = f"rl:{name}:{rate.period_s}:{window}"
    used = counter.add(key, cost, expires_at=window_end + GRACE_S)
    if cost > 0 and used > rate.count:
        counter.add(key, -cost, expires_at=window_end + GRACE_S)
        return Decision(False, retry_after, rate.count, used - cost)
    return Decision(True, 0, rate.count, used)


class DatabaseCounters:
    """Counters in the RateCounter table: one atomic upsert per hit."""

    def add(self, key: str, delta: int, *, expires_at: float) -> int:
        from reviews.models import RateCounter

        q = connection.ops.quote_name
        table, k, count = q(RateCounter._meta.db_table), q("key"), q("count")
        expires = connection.ops.adapt_datetimefield_value(datetime.fromtimestamp(expires_at, tz=timezone.utc))
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} ({k}, {count}, {q('expires_at')}) VALUES (%s, %s, %s) "
                f"ON CONFLICT ({k}) DO UPDATE SET {count} = {table}.{count} + excluded.{count} RETURNING {count}",
                [key, delta, expires],
            )
            return cursor.fetchone()[0]

    def delete_expired(self) -> int:
        from django.utils import timezone as dj_timezone

        from reviews.models import RateCounter

        deleted, _ = RateCounter.objects.filter(expires_at__lt=dj_timezone.now() - timedelta(seconds=GRACE_S)).delete()
        return deleted


class RedisCounters:
    """Counters in Redis through Django's Redis cache: ADD sets a window's key with its expiry
    once, INCR (atomic, keeps the expiry) counts."""

    def __init__(self, url: str, prefix: str):
        from django.core.cache.backends.redis import RedisCache

        self.cache = RedisCache(url, {"KEY_PREFIX": prefix})

    def add(self, key: str, delta: int, *, expires_at: float) -> int:
        timeout = max(1, int(expires_at - time.time()) + 1)
        self.cache.add(key, 0, timeout=timeout)
        try:
            return self.cache.incr(key, delta)
        except ValueError:  # expired between ADD and INCR: a new window
            self.cache.add(key, 0, timeout=timeout)
            return self.cache.incr(key, delta)

    def delete_expired(self) -> int:
        return 0  # Redis expires keys itself


@functools.lru_cache(maxsize=4)
def _redis(url: str, prefix: str) -> RedisCounters:
    return RedisCounters(url, prefix)


def counters():
    """Where the counts live: Redis when REDIS_URL is set, else the database."""
    if conf.site.redis_url:
        return _redis(conf.site.redis_url, conf.site.rate_key_prefix)
    return DatabaseCounters()
