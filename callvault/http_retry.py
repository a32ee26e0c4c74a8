"""Retrying a call to an external service: the one place for backoff and when to give up.

Each service keeps its own client module (fathom/client.py, calendars/transport.py,
bots/client.py) that knows which of its failures are worth another try and what to raise in the
end; they all count failures and wait with `Backoff`: exponential backoff with jitter, never
shorter than the server's Retry-After (both capped), through an injectable `sleep` so tests can
measure the delays without waiting.
"""
import random
import time

import requests

RETRYABLE_STATUSES = {429, 500, 502, 503, 504}


class ServiceError(Exception):
    """A call to an external service failed; the message is safe to show (it never contains credentials).
    Each client subclasses it (FathomError, CalendarError, AttendeeError)."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


def backoff_seconds(failures: int, base_seconds: float, max_seconds: float, retry_after: float | None = None) -> float:
    """The wait after the `failures`-th failure in a row: a random point in the upper half of
    min(max_seconds, base_seconds * 2^(failures-1)), or Retry-After (capped) if that is longer."""
    ceiling = min(max_seconds, base_seconds * 2 ** (failures - 1))
    delay = ceiling / 2 + random.uniform(0, ceiling / 2)  # exponential, with jitter
    return max(delay, min(retry_after or 0, max_seconds))


class Backoff:
    """The failures in a row of one call, and the waits between its tries."""

    def __init__(self, max_attempts: int, base_seconds: float, max_seconds: float, sleep=time.sleep):
        self.max_attempts, self.base_seconds, self.max_seconds, self.sleep = (
            max_attempts, base_seconds, max_seconds, sleep)
        self.failures = 0

    def retry(self, retry_after: float | None = None) -> bool:
        """Count a failure. With tries left, sleep the backoff and return True; else False."""
        self.failures += 1
        if self.failures >= self.max_attempts:
            return False
        self.sleep(backoff_seconds(self.failures, self.base_seconds, self.max_seconds, retry_after))
        return True


class SessionClient:
    """A client that keeps one requests.Session (so connections are reused) until it is closed;
    use it in a `with` block to close it."""

    def __init__(self):
        self.session = requests.Session()

    def close(self) -> None:
        self.session.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def network_problem(exc: requests.RequestException) -> str:
    """How a request that got no answer failed, in words."""
    return "timed out" if isinstance(exc, requests.Timeout) else "could not be reached"
