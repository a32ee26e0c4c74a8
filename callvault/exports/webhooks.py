"""Outgoing signed webhooks in the Standard Webhooks format: one HTTP client, with retries and backoff.

Each attempt is signed afresh (receivers reject timestamps older than five minutes) under the same
`webhook-id`, so a receiver can drop a retry it already processed.
"""
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import urlsplit, urlunsplit

import requests
from standardwebhooks.webhooks import EmptyWebhookSecretError, Webhook

from . import ExportError

RETRYABLE_STATUS = {408, 425, 429, 500, 502, 503, 504}
USER_AGENT = "CallVault-Webhooks/1"


@dataclass(frozen=True)
class Attempt:
    status_code: int | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def retryable(self) -> bool:
        return self.status_code is None or self.status_code in RETRYABLE_STATUS


def signer(secret: str | None) -> Webhook:
    if not secret:
        raise ExportError("EXPORT_WEBHOOK_SECRET is not set: outgoing webhooks cannot be signed")
    try:
        return Webhook(secret)
    except (ValueError, EmptyWebhookSecretError, RuntimeError):
        raise ExportError("EXPORT_WEBHOOK_SECRET must be a Standard Webhooks secret (whsec_ followed by base64)") \
            from None


def public_endpoint(url: str) -> str:
    """The URL without credentials, query or fragment: what the delivery log may keep."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))[:500]


def signed_headers(webhook: Webhook, message_id: str, body: str, now: datetime | None = None) -> dict:
    now = now or datetime.now(timezone.utc)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": webhook.sign(message_id, now, body),
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }


def post_once(url: str, webhook: Webhook, message_id: str, body: str, timeout: float) -> Attempt:
    try:
        response = requests.post(url, data=body.encode(), headers=signed_headers(webhook, message_id, body),
                                 timeout=timeout, allow_redirects=False)
    except requests.RequestException as exc:
        return Attempt(None, f"{type(exc).__name__}: could not reach {public_endpoint(url)}")
    if 200 <= response.status_code < 300:
        return Attempt(response.status_code, None)
    return Attempt(response.status_code, f"the receiver answered HTTP {response.status_code}")


def post(url: str, secret: str | None, message_id: str, body: str, *, attempts: int = 3, backoff: float = 2.0,
         timeout: float = 15.0, on_attempt=None, sleep=time.sleep) -> Attempt:
    """POST `body` until it is accepted, a non-retryable answer comes back, or `attempts` run out.

    Waits backoff, 2×backoff, 4×backoff… between tries; `on_attempt(attempt)` is called after each.
    """
    webhook = signer(secret)
    attempt = None
    for n in range(max(1, attempts)):
        if n:
            sleep(backoff * 2 ** (n - 1))
        attempt = post_once(url, webhook, message_id, body, timeout)
        if on_attempt:
            on_attempt(attempt)
        if attempt.ok or not attempt.retryable:
            break
    return attempt
