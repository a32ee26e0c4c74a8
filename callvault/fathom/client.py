"""The Fathom API client: every call to Fathom goes through `FathomClient`.

It knows Fathom's behaviour (see docs/fathom-api.md): cursor pagination with a fixed page of
10, include flags that OAuth apps may not use, per-account rate limits shared through
`RateLimiter`, and which failures are worth retrying (429, 502-504, timeouts; 500 too, since
it answers JSON from an overloaded app). Other 4xx are final. No Flask here: credentials come
from an `auth` object (see credentials.py) and settings from the constructor.
"""
import time
from dataclasses import dataclass
from urllib.parse import quote

import requests

from ..http_retry import RETRYABLE_STATUSES, Backoff, ServiceError, SessionClient, network_problem
from .ratelimit import RateLimiter

INCLUDE_FLAGS = ("include_transcript", "include_summary", "include_action_items")
MAX_RATE_LIMITED_RETRIES = 10
MAX_RENEWALS = 2  # an OAuth refresh, then the API key
MAX_BACKOFF_SECONDS = 60.0


class FathomError(ServiceError):
    """A Fathom call failed; the message is safe to show (it never contains credentials)."""


class FathomAuthError(FathomError):
    """Fathom rejected the credentials (401/403)."""


class FathomNotFound(FathomError):
    """404: the recording is gone or not visible to this account."""


class FathomUnavailable(FathomError):
    """Fathom kept failing (5xx, timeouts, 429s) after every retry."""


class Auth:
    """What the client needs from a credential. See credentials.ConnectionAuth."""

    kind = "api_key"  # or "oauth"

    def headers(self) -> dict:
        raise NotImplementedError

    def renew(self) -> bool:
        """After a 401: switch to a working credential and return True, or return False."""
        return False

    def succeeded(self) -> None:
        """A call with these credentials worked."""


class ApiKeyAuth(Auth):
    """A bare API key (used to check a key before it is stored)."""

    def __init__(self, api_key: str):
        self._api_key = api_key

    def headers(self) -> dict:
        return {"X-Api-Key": self._api_key}


@dataclass
class ClientSettings:
    base_url: str
    timeout_seconds: float = 30.0
    max_attempts: int = 6
    retry_base_seconds: float = 1.0


class FathomClient(SessionClient):
    def __init__(self, settings: ClientSettings, auth: Auth, limiter: RateLimiter, sleep=time.sleep):
        self.settings = settings
        self.auth = auth
        self.limiter = limiter
        self.sleep = sleep
        super().__init__()
        self.calls = 0  # requests sent, for progress reports and the benchmark

    # --- endpoints -------------------------------------------------------------------------------

    def meetings_page(self, *, cursor=None, created_after=None, created_before=None, recorded_by=(),
                      include_content=False) -> dict:
        """One page of GET /meetings (10 meetings, newest first).

        `include_content` asks for transcript, summary and action items in the page, which only
        API keys may do; it makes the call a heavy one.
        """
        if include_content and self.auth.kind == "oauth":
            raise ValueError("OAuth apps cannot use include flags; fetch /recordings/{id}/… instead")
        params = {"cursor": cursor, "created_after": _iso(created_after), "created_before": _iso(created_before),
                  "recorded_by[]": list(recorded_by) or None}
        if include_content:
            params.update(dict.fromkeys(INCLUDE_FLAGS, "true"))
        page = self._get("/meetings", {k: v for k, v in params.items() if v is not None}, heavy=include_content)
        return {"items": [m for m in page.get("items") or [] if isinstance(m, dict)],
                "next_cursor": page.get("next_cursor") or None}

    def iter_meeting_pages(self, **filters):
        """Every page of GET /meetings for the filters, following next_cursor to the end."""
        cursor = None
        while True:
            page = self.meetings_page(cursor=cursor, **filters)
            yield page
            cursor = page["next_cursor"]
            if not cursor:
                return

    def transcript(self, recording_id) -> list:
        return self._get(f"/recordings/{_recording_path(recording_id)}/transcript", heavy=True).get("transcript") or []

    def summary(self, recording_id) -> dict | None:
        return self._get(f"/recordings/{_recording_path(recording_id)}/summary", heavy=True).get("summary")

    def create_webhook(self, destination_url: str, triggered_for=("my_recordings",), **include_flags) -> dict:
        """POST /webhooks. Fathom answers with the webhook's `id` and its `whsec_` `secret`.

        Not retried after a timeout or 5xx: the webhook may exist already, and Fathom has no
        list endpoint to find it again.
        """
        body = {"destination_url": destination_url, "triggered_for": list(triggered_for), **include_flags}
        return self._send("POST", "/webhooks", json=body, retry_failures=False)

    def delete_webhook(self, webhook_id: str) -> None:
        self._send("DELETE", f"/webhooks/{quote(str(webhook_id), safe='')}")

    # --- transport -------------------------------------------------------------------------------

    def _get(self, path: str, params: dict | None = None, heavy: bool = False) -> dict:
        return self._send("GET", path, params=params, heavy=heavy)

    def _send(self, method: str, path: str, params: dict | None = None, heavy: bool = False,
              json: dict | None = None, retry_failures: bool = True) -> dict:
        backoff = Backoff(self.settings.max_attempts, self.settings.retry_base_seconds, MAX_BACKOFF_SECONDS, self.sleep)
        rate_limited = renewals = 0
        while True:
            reservation = self.limiter.acquire(heavy)
            self.calls += 1
            try:
                response = self.session.request(method, self.settings.base_url.rstrip("/") + path, params=params,
                                                json=json,
                                                headers={"Accept": "application/json", **self.auth.headers()},
                                                timeout=self.settings.timeout_seconds)
            except (requests.Timeout, requests.ConnectionError) as exc:
                reservation.complete(None, None)
                self._backoff_or_raise(backoff, f"Fathom {network_problem(exc)}", None, retry_failures)
                continue
            reservation.complete(response.status_code, response.headers)
            status = response.status_code
            if status == 429:
                rate_limited += 1  # the limiter now holds every caller back for Retry-After
                if rate_limited > MAX_RATE_LIMITED_RETRIES:
                    raise FathomUnavailable("Fathom kept answering 429 Too Many Requests", status)
                continue
            if status in RETRYABLE_STATUSES:
                self._backoff_or_raise(backoff, f"Fathom answered {status}", status, retry_failures)
                continue
            if status in (401, 403):
                if renewals < MAX_RENEWALS and self.auth.renew():
                    renewals += 1
                    continue
                raise FathomAuthError(f"Fathom rejected the {_credential_name(self.auth.kind)} ({status})", status)
            if status == 404:
                raise FathomNotFound("Fathom answered 404: the recording is gone or not visible to this account",
                                     status)
            if status >= 400:
                raise FathomError(f"Fathom refused the request ({status}{_error_detail(response)})", status)
            if not response.content:  # 204 after a DELETE
                self.auth.succeeded()
                return {}
            try:
                body = response.json()
            except ValueError:
                raise FathomError(f"Fathom answered {status} with a body that is not JSON", status) from None
            self.auth.succeeded()
            return body if isinstance(body, dict) else {}

    @staticmethod
    def _backoff_or_raise(backoff: Backoff, problem: str, status: int | None, retry: bool = True) -> None:
        if not retry:
            raise FathomUnavailable(f"{problem}; try again later", status)
        if not backoff.retry():
            raise FathomUnavailable(f"{problem} {backoff.failures} times in a row; try again later", status)


def _credential_name(kind: str) -> str:
    return "OAuth token" if kind == "oauth" else "API key"


def _error_detail(response) -> str:
    """Fathom's own error message, if it sent one (it never echoes credentials)."""
    try:
        body = response.json()
    except ValueError:
        return ""
    message = body.get("message") or body.get("error") if isinstance(body, dict) else None
    return f": {str(message)[:200]}" if message else ""


def _recording_path(recording_id) -> str:
    text = str(recording_id).strip()
    if not text.isdigit():
        raise FathomNotFound(f"'{text[:40]}' is not a Fathom recording id")
    return text


def _iso(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return value.isoformat().replace("+00:00", "Z")
