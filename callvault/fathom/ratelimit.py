"""A rate limiter for one Fathom account, kept in Redis so every process shares one budget.

Fathom counts calls per account in a sliding window: a general bucket (60 a minute) and a
"heavy" bucket (30 a minute, sometimes cut to 5) that heavy calls count in as well. We keep
our own log of calls per bucket in a sorted set and only start a call when the log has room.
Responses correct the picture:

- `RateLimit-Limit` teaches the bucket's current limit (that is how a cut to 5 is noticed);
- `RateLimit-Limit - RateLimit-Remaining` above our own count means calls we did not make
  (another app on the same account): they are added as placeholders;
- a 429 blocks the bucket for `Retry-After` seconds, for every process at once, so a call is
  never answered 429 twice in a row.

A logged call is stamped when its response arrives, never earlier than Fathom stamped it, so
our window always releases a slot after Fathom's does. Only WATCH/MULTI is used (no Lua), so
the in-process fakeredis works too.
"""
import time
import uuid

import redis

GENERAL, HEAVY = "general", "heavy"
LEARNED_LIMIT_TTL_SECONDS = 3600


class Reservation:
    """The log entries of one call in flight; `complete()` files its response."""

    def __init__(self, limiter: "RateLimiter", heavy: bool, members: dict[str, str]):
        self.limiter, self.heavy, self.members = limiter, heavy, members

    def complete(self, status: int | None, headers) -> None:
        self.limiter._complete(self, status, headers or {})


class RateLimiter:
    def __init__(self, connection: redis.Redis, account_key: str, *, window_seconds: float = 60.0,
                 general_limit: int = 60, heavy_limit: int = 30, clock=time.time, sleep=time.sleep):
        self.redis = connection
        self.prefix = f"callvault:fathom:ratelimit:{account_key}"
        self.window = float(window_seconds)
        self.defaults = {GENERAL: general_limit, HEAVY: heavy_limit}
        self.clock, self.sleep = clock, sleep

    def _key(self, kind: str, bucket: str) -> str:
        return f"{self.prefix}:{kind}:{bucket}"

    def acquire(self, heavy: bool) -> Reservation:
        """Wait until the account has room for one more call, and log it."""
        buckets = (GENERAL, HEAVY) if heavy else (GENERAL,)
        while True:
            wait = self._try_reserve(buckets)
            if isinstance(wait, dict):
                return Reservation(self, heavy, wait)
            self.sleep(min(wait, self.window))

    def _try_reserve(self, buckets) -> dict[str, str] | float:
        logs = [self._key("log", b) for b in buckets]
        watched = logs + [self._key("block", b) for b in buckets] + [self._key("limit", b) for b in buckets]
        with self.redis.pipeline() as pipe:
            try:
                pipe.watch(*watched)
                now = self.clock()
                wait = 0.0
                for bucket, log in zip(buckets, logs):
                    wait = max(wait, self._wait_for(pipe, bucket, log, now))
                if wait > 0:
                    return wait
                members = {log: uuid.uuid4().hex for log in logs}
                pipe.multi()
                for log, member in members.items():
                    pipe.zremrangebyscore(log, "-inf", now - self.window)
                    pipe.zadd(log, {member: now})
                    pipe.expire(log, int(self.window * 2) + 60)
                pipe.execute()
                return members
            except redis.WatchError:
                return 0.001  # another process changed the log first; look again

    def _wait_for(self, pipe, bucket: str, log: str, now: float) -> float:
        blocked_until = float(pipe.get(self._key("block", bucket)) or 0)
        wait = max(0.0, blocked_until - now)
        limit = self._limit(pipe, bucket)
        scores = [score for _, score in pipe.zrangebyscore(log, now - self.window, "+inf", withscores=True)]
        if len(scores) >= limit:
            # the entry that must leave the window before one more call fits
            wait = max(wait, scores[len(scores) - limit] + self.window - now)
        return wait

    def _limit(self, conn, bucket: str) -> int:
        learned = conn.get(self._key("limit", bucket))
        return int(learned) if learned is not None else self.defaults[bucket]

    def _complete(self, reservation: Reservation, status: int | None, headers) -> None:
        now = self.clock()
        with self.redis.pipeline() as pipe:
            for log, member in reservation.members.items():
                pipe.zadd(log, {member: now}, xx=True)  # stamp the call when its answer arrived
            pipe.execute()
        limit, remaining = _int_header(headers, "RateLimit-Limit"), _int_header(headers, "RateLimit-Remaining")
        reset = _float_header(headers, "RateLimit-Reset")
        if limit is None:  # gateway answers carry no rate-limit headers
            if status == 429:
                self._block(HEAVY if reservation.heavy else GENERAL,
                            now + (_float_header(headers, "Retry-After") or reset or 1.0))
            return
        bucket = self._bucket_described(reservation.heavy, limit)
        self.redis.set(self._key("limit", bucket), limit, ex=LEARNED_LIMIT_TTL_SECONDS)
        reset = reset or self.window
        if status == 429:
            retry_after = _float_header(headers, "Retry-After") or reset
            self._block(bucket, now + retry_after)
            used, first_free = limit, retry_after
        else:
            used, first_free = limit - (remaining or 0), reset
        self._add_placeholders(bucket, used, now, first_free, limit)

    def _bucket_described(self, heavy: bool, limit: int) -> str:
        """Headers describe whichever bucket has fewer calls left; the heavy one has the lower limit."""
        if heavy and limit < self._limit(self.redis, GENERAL):
            return HEAVY
        return GENERAL

    def _block(self, bucket: str, until: float) -> None:
        key = self._key("block", bucket)
        with self.redis.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(key)
                    if float(pipe.get(key) or 0) >= until:
                        return
                    pipe.multi()
                    pipe.set(key, until, px=int((until - self.clock()) * 1000) + 1000)
                    pipe.execute()
                    return
                except redis.WatchError:
                    continue

    def _add_placeholders(self, bucket: str, used: int, now: float, first_free: float, limit: int) -> None:
        """Fathom counts more calls than we logged: add entries leaving one by one from `first_free`."""
        log = self._key("log", bucket)
        missing = used - self.redis.zcount(log, now - self.window, "+inf")
        if missing <= 0:
            return
        spacing = self.window / max(limit, 1)
        self.redis.zadd(log, {f"placeholder-{uuid.uuid4().hex}": now + first_free + i * spacing - self.window
                              for i in range(missing)})


def _float_header(headers, name: str) -> float | None:
    try:
        value = float(headers.get(name))
    except (TypeError, ValueError):
        return None
    return value if value >= 0 else None


def _int_header(headers, name: str) -> int | None:
    value = _float_header(headers, name)
    return None if value is None else int(value)
