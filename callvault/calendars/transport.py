"""How we talk to Google and Microsoft: one place for retries, backoff and failure classes.

Failures are classified, never guessed. Only `AuthRevoked` (a definitive answer from a token
endpoint: invalid_grant, revoked consent, a deleted client) may disconnect a calendar. Network
errors, timeouts, 429 and 5xx are `TransientError`: retried here with exponential backoff and
jitter, and if they persist the calendar stays connected and is tried again later.
"""
import time
from dataclasses import dataclass
from typing import Callable, TypeVar

import requests

from ..http_retry import Backoff, ServiceError, SessionClient, network_problem

MAX_BACKOFF_SECONDS = 60.0
T = TypeVar("T")


class CalendarError(ServiceError):
    """A provider call failed; the message is safe to show (never a token)."""


class AuthRevoked(CalendarError):
    """The provider says this authorization is dead for good: the calendar must be reconnected."""


class TransientError(CalendarError):
    """The network or the provider failed; the same request may work later. Never disconnects."""

    def __init__(self, message: str, status: int | None = None, retry_after: float | None = None):
        super().__init__(message, status)
        self.retry_after = retry_after


class ProviderError(CalendarError):
    """The provider refused the request (a 4xx that is not about the grant). Not retried."""


class SyncStateGone(CalendarError):
    """The sync token or delta link expired (410): drop it and run a full sync."""


class NotConfigured(CalendarError):
    """A setting this feature needs is missing or malformed; the message names it."""


@dataclass(frozen=True)
class HttpSettings:
    timeout_seconds: float = 20.0
    max_attempts: int = 5
    retry_base_seconds: float = 1.0

    @classmethod
    def from_config(cls, config) -> "HttpSettings":
        return cls(config["CALENDAR_HTTP_TIMEOUT_SECONDS"], config["CALENDAR_MAX_ATTEMPTS"],
                   config["CALENDAR_RETRY_BASE_SECONDS"])


def retrying(settings: HttpSettings, attempt: Callable[[], T], sleep=time.sleep) -> T:
    """Run `attempt` until it stops raising TransientError or the attempts are used up."""
    backoff = Backoff(settings.max_attempts, settings.retry_base_seconds, MAX_BACKOFF_SECONDS, sleep)
    while True:
        try:
            return attempt()
        except TransientError as exc:
            if not backoff.retry(exc.retry_after):
                raise TransientError(f"{exc} ({backoff.failures} tries; will retry later)", exc.status) from None


def network_failure(service: str, exc: requests.RequestException) -> TransientError:
    return TransientError(f"{service} {network_problem(exc)}")


def retry_after_seconds(response) -> float | None:
    try:
        return max(0.0, float(response.headers.get("Retry-After")))
    except (TypeError, ValueError):
        return None


class _Unauthorized(Exception):
    """A 401 from the API: the caller refreshes the token once (not a TransientError: not retried)."""

    def __init__(self, response):
        super().__init__(response.status_code)
        self.response = response


class TokenSource:
    """Hands out access tokens for one calendar; `refresh()` after the API rejected one."""

    def token(self) -> str:
        raise NotImplementedError

    def refresh(self) -> str:
        raise NotImplementedError


class ApiClient(SessionClient):
    """One requests.Session per service; subclasses say how that service reports failures."""

    service = "the calendar provider"

    def __init__(self, base_url: str, tokens: TokenSource, settings: HttpSettings, sleep=time.sleep):
        self.base_url = base_url.rstrip("/")
        self.tokens = tokens
        self.settings = settings
        self.sleep = sleep
        super().__init__()

    def request(self, method: str, url: str, *, params=None, json=None, headers=None, retry: bool = True) -> dict:
        """Send with the current token, retrying transient failures; after a 401, refresh the token
        once and send again. Token-endpoint calls retry on their own, so they stay outside the loop.

        `retry=False` is for creating things that have no idempotency key: after a timeout the
        first request may have worked, and the caller tries again later instead.
        """
        def send(token: str) -> dict:
            attempt = lambda: self._send_once(method, url, token, params=params, json=json, headers=headers)  # noqa: E731
            return retrying(self.settings, attempt, self.sleep) if retry else attempt()

        try:
            return send(self.tokens.token())
        except _Unauthorized:
            pass
        try:
            return send(self.tokens.refresh())
        except _Unauthorized as exc:
            self.raise_for_failure(exc.response)  # a fresh token refused too: the provider's 401 error
            raise AssertionError("unreachable") from None

    def _send_once(self, method, url, token, *, params, json, headers) -> dict:
        try:
            response = self.session.request(method, url, params=params, json=json,
                                            timeout=self.settings.timeout_seconds,
                                            headers={"Accept": "application/json", **(headers or {}),
                                                     "Authorization": f"Bearer {token}"})
        except requests.RequestException as exc:
            raise network_failure(self.service, exc) from None
        if response.status_code == 401:
            raise _Unauthorized(response)
        self.raise_for_failure(response)
        if not response.content:
            return {}
        try:
            body = response.json()
        except ValueError:
            raise TransientError(f"{self.service} answered {response.status_code} with a body that is not JSON",
                                 response.status_code) from None
        return body if isinstance(body, dict) else {}

    def raise_for_failure(self, response) -> None:
        raise NotImplementedError
