"""The Attendee API client: every call to the bot service goes through `AttendeeClient`.

What it knows (docs/attendee-api.md): `Authorization: Token <key>`; 5xx, 429 and timeouts are
retried with exponential backoff; other 4xx are final and carry Attendee's `{"error": …}` or
field errors. A create whose answer was lost may have succeeded: the retry then meets Attendee's
"Deduplication key already in use" 400, which `create_bot` answers by finding the bot by its key
instead of retrying. No Flask here: settings come from the constructor.
"""
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import quote

import requests

from ..http_retry import RETRYABLE_STATUSES, Backoff, ServiceError, SessionClient, network_problem

DUPLICATE_KEY_MESSAGE = "deduplication key already in use"
MAX_BACKOFF_SECONDS = 30.0
TERMINAL_STATES = {"ended", "fatal_error", "data_deleted"}


class AttendeeError(ServiceError):
    """A call failed; the message is safe to show (it never contains the API key)."""


class AttendeeNotConfigured(AttendeeError):
    """ATTENDEE_API_KEY (or the base URL) is missing."""


class AttendeeUnavailable(AttendeeError):
    """5xx, 429s or timeouts after every retry: try again later."""


class AttendeeRefused(AttendeeError):
    """A 4xx other than a duplicate key: retrying the same request will not help."""


class AttendeeNotFound(AttendeeRefused):
    """404: no such bot (deleted, or never created)."""


@dataclass
class ClientSettings:
    base_url: str
    api_key: str | None
    timeout_seconds: float = 15.0
    max_attempts: int = 3
    retry_base_seconds: float = 1.0


def iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


class AttendeeClient(SessionClient):
    def __init__(self, settings: ClientSettings, sleep=time.sleep):
        if not settings.api_key:
            raise AttendeeNotConfigured("ATTENDEE_API_KEY is not set, so no bot can be sent to the bot service")
        if not settings.base_url:
            raise AttendeeNotConfigured("ATTENDEE_API_BASE_URL is not set")
        self.settings, self.sleep = settings, sleep
        super().__init__()

    # --- endpoints -------------------------------------------------------------------------------

    def create_bot(self, payload: dict) -> tuple[dict, bool]:
        """POST /api/v1/bots; returns (bot, adopted). `adopted` means the key was taken already
        (by an earlier try whose answer was lost) and the existing bot is returned."""
        try:
            return self._send("POST", "/api/v1/bots", json=payload), False
        except AttendeeRefused as exc:
            key = payload.get("deduplication_key")
            if not key or exc.status != 400 or DUPLICATE_KEY_MESSAGE not in str(exc).lower():
                raise
        existing = self.find_by_deduplication_key(key)
        if existing is None:
            raise AttendeeRefused(f"the bot service says the key {key} is in use but lists no live bot with it", 400)
        return existing, True

    def find_by_deduplication_key(self, key: str) -> dict | None:
        """The live (non-terminal) bot with this key, if any."""
        page = self._send("GET", "/api/v1/bots", params={"deduplication_key": key})
        bots = page.get("results") if isinstance(page, dict) else page
        live = [b for b in bots or [] if isinstance(b, dict) and b.get("state") not in TERMINAL_STATES]
        return live[-1] if live else None

    def get_bot(self, bot_id: str) -> dict:
        return self._send("GET", f"/api/v1/bots/{_path(bot_id)}")

    def reschedule(self, bot_id: str, *, join_at: datetime | None = None, meeting_url: str | None = None) -> dict:
        """PATCH join_at / meeting_url. Attendee allows it only while the bot is `scheduled`."""
        body = {}
        if join_at is not None:
            body["join_at"] = iso(join_at)
        if meeting_url is not None:
            body["meeting_url"] = meeting_url
        return self._send("PATCH", f"/api/v1/bots/{_path(bot_id)}", json=body)

    def delete_bot(self, bot_id: str) -> None:
        """DELETE: only while `scheduled` (400 otherwise)."""
        self._send("DELETE", f"/api/v1/bots/{_path(bot_id)}")

    def leave(self, bot_id: str) -> dict:
        return self._send("POST", f"/api/v1/bots/{_path(bot_id)}/leave")

    def transcript(self, bot_id: str) -> list[dict]:
        body = self._send("GET", f"/api/v1/bots/{_path(bot_id)}/transcript")
        items = body.get("results") if isinstance(body, dict) else body
        return [u for u in items or [] if isinstance(u, dict)]

    # --- transport -------------------------------------------------------------------------------

    def _send(self, method: str, path: str, params: dict | None = None, json: dict | None = None):
        backoff = Backoff(self.settings.max_attempts, self.settings.retry_base_seconds, MAX_BACKOFF_SECONDS, self.sleep)
        while True:
            try:
                response = self.session.request(
                    method, self.settings.base_url + path, params=params, json=json,
                    headers={"Authorization": f"Token {self.settings.api_key}", "Accept": "application/json"},
                    timeout=self.settings.timeout_seconds)
            except (requests.Timeout, requests.ConnectionError) as exc:
                self._backoff_or_raise(backoff, f"the bot service {network_problem(exc)}", None)
                continue
            status = response.status_code
            if status in RETRYABLE_STATUSES:
                self._backoff_or_raise(backoff, f"the bot service answered {status}", status)
                continue
            if status in (401, 403):
                raise AttendeeRefused(f"the bot service rejected ATTENDEE_API_KEY ({status})", status)
            if status == 404:
                raise AttendeeNotFound(f"the bot service has no such bot ({method} {path})", status)
            if status >= 400:
                raise AttendeeRefused(f"the bot service refused {method} {path.split('?')[0]} ({status}: "
                                      f"{_error_detail(response)})", status)
            if not response.content:
                return {}
            try:
                return response.json()
            except ValueError:
                raise AttendeeError(f"the bot service answered {status} with a body that is not JSON", status) from None

    @staticmethod
    def _backoff_or_raise(backoff: Backoff, problem: str, status: int | None) -> None:
        if not backoff.retry():
            raise AttendeeUnavailable(f"{problem} {backoff.failures} times in a row; trying again later", status)


def _error_detail(response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return body["error"][:300]
    return str(body)[:300]


def _path(bot_id: str) -> str:
    return quote(str(bot_id), safe="")
