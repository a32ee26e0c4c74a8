"""The Google Calendar API v3 client: every call to Google Calendar goes through here.

Errors follow Google's guide (docs/calendar-apis.md): 429, 5xx and 403 rate-limit reasons are
transient; 410 means the sync token is gone and a full sync is needed; other 4xx are final.
"""
from datetime import datetime
from urllib.parse import quote

from ..http_retry import RETRYABLE_STATUSES
from .transport import ApiClient, ProviderError, SyncStateGone, TransientError, retry_after_seconds

PAGE_SIZE = 250  # Google's default; a page may hold fewer and still have a next page
RATE_LIMIT_REASONS = {"rateLimitExceeded", "userRateLimitExceeded", "quotaExceeded"}
WATCH_TTL_SECONDS = 7 * 24 * 3600  # the longest Google grants to an events channel


class GoogleCalendarClient(ApiClient):
    service = "Google Calendar"

    def primary_calendar(self) -> dict:
        """The primary calendar; its `id` is the account's email address."""
        return self.request("GET", f"{self.base_url}/calendars/primary")

    def events_page(self, calendar_id: str, *, sync_token: str | None = None, page_token: str | None = None,
                    time_min: datetime | None = None, time_max: datetime | None = None) -> dict:
        """One page of events.list, recurring series expanded, cancelled events included.

        With a sync token the time window must not be sent: Google refuses the combination.
        """
        params = {"singleEvents": "true", "showDeleted": "true", "maxResults": PAGE_SIZE}
        if sync_token:
            params["syncToken"] = sync_token
        else:
            params.update(timeMin=_rfc3339(time_min), timeMax=_rfc3339(time_max))
        if page_token:
            params["pageToken"] = page_token
        return self.request("GET", f"{self.base_url}/calendars/{quote(calendar_id, safe='')}/events", params=params)

    def event_pages(self, calendar_id: str, **window_or_token):
        """Every page, following nextPageToken; the last page carries nextSyncToken."""
        page_token = None
        while True:
            page = self.events_page(calendar_id, page_token=page_token, **window_or_token)
            yield page
            page_token = page.get("nextPageToken")
            if not page_token:
                return

    def watch_events(self, calendar_id: str, channel_id: str, address: str, token: str,
                     ttl_seconds: int = WATCH_TTL_SECONDS) -> dict:
        """events.watch: Google answers with the channel, its resourceId and expiration (ms)."""
        body = {"id": channel_id, "type": "web_hook", "address": address, "token": token,
                "params": {"ttl": str(ttl_seconds)}}
        return self.request("POST", f"{self.base_url}/calendars/{quote(calendar_id, safe='')}/events/watch",
                            json=body, retry=False)

    def stop_channel(self, channel_id: str, resource_id: str) -> None:
        self.request("POST", f"{self.base_url}/channels/stop", json={"id": channel_id, "resourceId": resource_id})

    def raise_for_failure(self, response) -> None:
        status = response.status_code
        if status < 400:
            return
        message, reason = _error(response)
        if status == 410:
            raise SyncStateGone(f"Google Calendar: the sync token is no longer valid ({message})", status)
        if status in RETRYABLE_STATUSES or (status == 403 and reason in RATE_LIMIT_REASONS):
            raise TransientError(f"Google Calendar answered {status}", status, retry_after_seconds(response))
        if status == 401:
            raise ProviderError("Google Calendar rejected a freshly refreshed access token (401)", status)
        raise ProviderError(f"Google Calendar refused the request ({status}: {message})", status)


def _error(response) -> tuple[str, str | None]:
    """Google's error message and first reason, if the body is Google's JSON error."""
    try:
        error = response.json().get("error") or {}
    except (ValueError, AttributeError):
        return response.reason or "no details", None
    if not isinstance(error, dict):
        return str(error)[:200], None
    reasons = [e.get("reason") for e in error.get("errors") or [] if isinstance(e, dict)]
    return str(error.get("message") or "no details")[:300], next(filter(None, reasons), None)


def _rfc3339(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")
