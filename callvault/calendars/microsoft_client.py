"""The Microsoft Graph client: every call to Graph goes through here.

Calendar sync uses calendarView/delta (a fixed window per round, @odata.nextLink pages, then an
@odata.deltaLink for the next round). A delta link that answers 410 (or syncStateNotFound)
means a full resync. Push uses Graph subscriptions on `me/events`.
"""
from datetime import datetime
from urllib.parse import quote

from ..http_retry import RETRYABLE_STATUSES
from .transport import ApiClient, ProviderError, SyncStateGone, TransientError, retry_after_seconds

PAGE_SIZE = 50
# Times come back in UTC; pages hold at most PAGE_SIZE events.
PREFER = f'outlook.timezone="UTC", odata.maxpagesize={PAGE_SIZE}'
SUBSCRIPTION_RESOURCE = "me/events"
SUBSCRIPTION_CHANGES = "created,updated,deleted"
SYNC_STATE_CODES = {"syncstatenotfound", "resyncrequired", "syncstateinvalid"}


class MicrosoftGraphClient(ApiClient):
    service = "Microsoft Graph"

    def primary_calendar(self) -> dict:
        """The default calendar; `owner.address` is the account's email address."""
        return self.request("GET", f"{self.base_url}/me/calendar")

    def delta_page(self, link: str | None = None, *, start: datetime | None = None,
                   end: datetime | None = None) -> dict:
        """The first page of a calendarView delta round (start/end), or the page at `link`."""
        if link is None:
            return self.request("GET", f"{self.base_url}/me/calendarView/delta", headers={"Prefer": PREFER},
                                params={"startDateTime": _iso(start), "endDateTime": _iso(end)})
        if not link.startswith(self.base_url + "/"):
            # the bearer token must never go anywhere but Graph
            raise ProviderError("Microsoft Graph sent a paging link outside MICROSOFT_GRAPH_BASE_URL")
        return self.request("GET", link, headers={"Prefer": PREFER})

    def delta_pages(self, delta_link: str | None = None, **window):
        """Every page of one round: follows @odata.nextLink; the last page has @odata.deltaLink."""
        link = delta_link
        while True:
            page = self.delta_page(link, **(window if link is None else {}))
            yield page
            link = page.get("@odata.nextLink")
            if not link:
                return

    def create_subscription(self, notification_url: str, client_state: str, expires_at: datetime) -> dict:
        """POST /subscriptions. Graph first validates our URL (the validationToken handshake)."""
        body = {"changeType": SUBSCRIPTION_CHANGES, "notificationUrl": notification_url,
                "lifecycleNotificationUrl": notification_url, "resource": SUBSCRIPTION_RESOURCE,
                "expirationDateTime": _iso(expires_at), "clientState": client_state}
        return self.request("POST", f"{self.base_url}/subscriptions", json=body, retry=False)

    def renew_subscription(self, subscription_id: str, expires_at: datetime) -> dict:
        """PATCH the expiry; this also answers a reauthorizationRequired challenge."""
        return self.request("PATCH", f"{self.base_url}/subscriptions/{quote(subscription_id, safe='')}",
                            json={"expirationDateTime": _iso(expires_at)})

    def delete_subscription(self, subscription_id: str) -> None:
        self.request("DELETE", f"{self.base_url}/subscriptions/{quote(subscription_id, safe='')}")

    def raise_for_failure(self, response) -> None:
        status = response.status_code
        if status < 400:
            return
        code, message = _error(response)
        if status == 410 or (code or "").lower() in SYNC_STATE_CODES:
            raise SyncStateGone(f"Microsoft Graph: the delta link is no longer valid ({code or status})", status)
        if status in RETRYABLE_STATUSES:
            raise TransientError(f"Microsoft Graph answered {status}", status, retry_after_seconds(response))
        if status == 401:
            raise ProviderError("Microsoft Graph rejected a freshly refreshed access token (401)", status)
        raise ProviderError(f"Microsoft Graph refused the request ({status}: {code or 'error'}: {message})", status)


def _error(response) -> tuple[str | None, str]:
    try:
        error = response.json().get("error") or {}
    except (ValueError, AttributeError):
        return None, response.reason or "no details"
    if not isinstance(error, dict):
        return None, str(error)[:200]
    return error.get("code"), str(error.get("message") or "no details")[:300]


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")
