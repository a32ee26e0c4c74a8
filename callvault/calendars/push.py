"""Push notifications: Google watch channels and Microsoft Graph subscriptions.

Channels are created for connected calendars, renewed a day before they expire (Google cannot
extend a channel: a new one replaces it; Graph subscriptions are PATCHed), and stopped when a
calendar is disconnected. The receivers' logic lives here too: a notification is checked
against the channel we stored (unknown: 404, wrong token or clientState: 401, both logged) and
then only asks for a sync (`sync.request_sync`, debounced). Nothing a sender can send makes a
receiver fail; the sync itself runs in the queue.
"""
import hmac
import logging
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import redis
from flask import current_app
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import selectinload

from .. import jsonbody, signals
from ..extensions import db
from ..logs import log_event
from ..models import Calendar, WatchChannel, utcnow
from ..timeutil import parse_instant
from .connections import client_for, mark_auth_revoked
from .sync import request_sync
from .transport import AuthRevoked, CalendarError, ProviderError

GOOGLE_WEBHOOK_PATH = "/dashboard/webhook/google-calendar/"
MICROSOFT_WEBHOOK_PATH = "/dashboard/webhook/microsoft-calendar/"
RENEW_BEFORE = timedelta(hours=24)  # the renewal job runs hourly; this leaves many chances
GOOGLE_CHANNEL_TTL_SECONDS = 7 * 24 * 3600
MICROSOFT_LIFETIME = timedelta(minutes=4200)  # Graph allows 4230 minutes for Outlook events
LIFECYCLE_EVENTS = ("reauthorizationRequired", "subscriptionRemoved", "missed")
MAX_NOTIFICATIONS = 1000
MAX_VALIDATION_TOKEN = 4096


def webhook_url(provider: str) -> str:
    path = GOOGLE_WEBHOOK_PATH if provider == "google" else MICROSOFT_WEBHOOK_PATH
    return current_app.config["PUBLIC_BASE_URL"] + path


# --- managing channels ---------------------------------------------------------------------------

def create_channel(calendar: Calendar) -> WatchChannel | None:
    """Start push notifications for a calendar. A failure is recorded on the calendar."""
    token = secrets.token_urlsafe(32)
    try:
        with client_for(calendar) as client:
            if calendar.provider == "google":
                channel_id = str(uuid.uuid4())
                answer = client.watch_events("primary", channel_id, webhook_url("google"), token,
                                             GOOGLE_CHANNEL_TTL_SECONDS)
                channel = WatchChannel(provider="google", channel_id=channel_id, resource_id=answer.get("resourceId"),
                                       expires_at=_from_millis(answer.get("expiration")))
            else:
                answer = client.create_subscription(webhook_url("microsoft"), token, utcnow() + MICROSOFT_LIFETIME)
                if not answer.get("id"):
                    raise ProviderError("Microsoft Graph answered without a subscription id")
                channel = WatchChannel(provider="microsoft", channel_id=str(answer["id"]),
                                       expires_at=parse_instant(answer.get("expirationDateTime"))
                                       or utcnow() + MICROSOFT_LIFETIME)
    except AuthRevoked as exc:
        mark_auth_revoked(calendar.id, str(exc))
        return None
    except CalendarError as exc:
        db.session.rollback()
        calendar.push_error = f"Push notifications are not set up: {exc}"
        db.session.commit()
        log_event("calendar_push_setup_failed", logging.WARNING, calendar_id=calendar.id, message=str(exc))
        return None
    channel.token = token
    calendar.channels.append(channel)
    calendar.push_error = None
    db.session.commit()
    log_event("calendar_channel_created", calendar_id=calendar.id, provider=channel.provider, channel=channel.id)
    return channel


def start_push(calendar_id: int) -> bool:
    calendar = db.session.get(Calendar, calendar_id)
    if calendar is None or not calendar.is_connected or calendar.active_channel is not None:
        return False
    return create_channel(calendar) is not None


def renew_channel(channel: WatchChannel) -> WatchChannel | None:
    """Extend a channel: Graph subscriptions are PATCHed; a Google channel is replaced."""
    calendar = channel.calendar
    if channel.provider == "google":
        replacement = create_channel(calendar)
        if replacement is not None:
            stop_channel(channel)
        return replacement
    try:
        with client_for(calendar) as client:
            answer = client.renew_subscription(channel.channel_id, utcnow() + MICROSOFT_LIFETIME)
    except AuthRevoked as exc:
        mark_auth_revoked(calendar.id, str(exc))
        return None
    except CalendarError as exc:
        db.session.rollback()
        if exc.status == 404:  # Graph removed it already: subscribe again
            _mark_stopped(channel)
            return create_channel(calendar)
        calendar.push_error = f"Push notifications could not be renewed: {exc}"
        db.session.commit()
        return None
    channel.expires_at = parse_instant(answer.get("expirationDateTime")) or utcnow() + MICROSOFT_LIFETIME
    channel.renewed_at = utcnow()
    calendar.push_error = None
    db.session.commit()
    log_event("calendar_channel_renewed", calendar_id=calendar.id, channel=channel.id)
    return channel


def stop_channel(channel: WatchChannel) -> None:
    """Stop a channel at the provider (best effort: it expires anyway) and forget it."""
    if channel.state != "active":
        return
    try:
        with client_for(channel.calendar) as client:
            if channel.provider == "google":
                client.stop_channel(channel.channel_id, channel.resource_id or "")
            else:
                client.delete_subscription(channel.channel_id)
    except CalendarError as exc:
        log_event("calendar_channel_stop_failed", logging.WARNING, channel=channel.id, message=str(exc))
    _mark_stopped(channel)


def stop_channels(calendar: Calendar) -> None:
    for channel in list(calendar.channels):
        stop_channel(channel)


def _mark_stopped(channel: WatchChannel) -> None:
    channel.state, channel.stopped_at = "stopped", utcnow()
    db.session.commit()


@dataclass
class ManageReport:
    created: int = 0
    renewed: int = 0
    stopped: int = 0
    failed: int = 0


def manage_channels(create_missing: bool = True, renew_expiring: bool = True) -> ManageReport:
    """What the scheduler runs hourly: channels for connected calendars, renewed a day ahead;
    none left running for disconnected ones."""
    report = ManageReport()
    soon = utcnow() + RENEW_BEFORE
    for calendar in Calendar.query.options(selectinload(Calendar.channels)).order_by(Calendar.id).all():
        active = [c for c in calendar.channels if c.state == "active"]
        if not calendar.is_connected:
            for channel in active:
                stop_channel(channel)
                report.stopped += 1
            continue
        for channel in active:
            if channel.expires_at <= utcnow():  # expired unnoticed: Google and Graph forgot it
                _mark_stopped(channel)
        live = [c for c in active if c.state == "active"]
        if not live and create_missing:
            if create_channel(calendar):
                report.created += 1
            else:
                report.failed += 1
        elif renew_expiring:
            for channel in live:
                if channel.expires_at > soon:
                    continue
                if renew_channel(channel):
                    report.renewed += 1
                else:
                    report.failed += 1
    return report


def stop_all_channels() -> int:
    stopped = 0
    for channel in WatchChannel.query.filter_by(state="active").all():
        stop_channel(channel)
        stopped += 1
    return stopped


# --- receivers -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Answer:
    status: int
    message: str
    text: str | None = None  # a text/plain body (the Graph validation handshake)


def receive_google(headers) -> Answer:
    """A Google push: its channel id and token must match a channel we created.

    Google sends an empty body whatever Content-Type says; only the X-Goog-* headers count.
    The "sync" message that opens every channel carries no change and is only acknowledged.
    """
    channel_id = (headers.get("X-Goog-Channel-ID") or "")[:200]
    if not channel_id:
        return _rejected("google", 400, "not a Google push notification (no X-Goog-Channel-ID)", None)
    try:
        channel = WatchChannel.query.filter_by(provider="google", channel_id=channel_id, state="active").first()
        if channel is None:
            return _rejected("google", 404, "unknown channel", channel_id)
        if not hmac.compare_digest(channel.token.encode(), (headers.get("X-Goog-Channel-Token") or "").encode()):
            return _rejected("google", 401, "wrong channel token", channel_id)
        channel.last_notification_at = utcnow()
        db.session.commit()
        if headers.get("X-Goog-Resource-State") == "sync":
            return Answer(200, "sync message acknowledged")
        request_sync(channel.calendar_id)
    except (SQLAlchemyError, redis.RedisError) as exc:
        return _unavailable("google", exc)
    return Answer(200, "sync requested")


def receive_microsoft(validation_token: str | None, body: bytes) -> Answer:
    """A Graph notification batch, or the validationToken handshake of a new subscription."""
    if validation_token is not None:
        if not validation_token or len(validation_token) > MAX_VALIDATION_TOKEN:
            return _rejected("microsoft", 400, "empty or oversized validationToken", None)
        return Answer(200, "validated", text=validation_token)  # already URL-decoded
    try:
        payload = jsonbody.loads(body or b"null")
    except jsonbody.JSONBodyError as exc:
        return _rejected("microsoft", 400, f"{exc}, so not a Graph notification collection", None)
    notifications = payload.get("value") if isinstance(payload, dict) else None
    if not isinstance(notifications, list):
        return _rejected("microsoft", 400, "the body is not a Graph notification collection", None)
    accepted = forged = 0
    try:
        for notification in notifications[:MAX_NOTIFICATIONS]:
            verdict = _microsoft_notification(notification if isinstance(notification, dict) else {})
            accepted += verdict == "accepted"
            forged += verdict == "forged"
        db.session.commit()
    except (SQLAlchemyError, redis.RedisError) as exc:
        return _unavailable("microsoft", exc)
    if accepted:
        return Answer(202, f"{accepted} notification(s) accepted")
    if forged:
        return Answer(401, "wrong clientState")
    return Answer(404, "unknown subscription")


def _microsoft_notification(notification: dict) -> str:
    subscription_id = str(notification.get("subscriptionId") or "")[:200]
    channel = WatchChannel.query.filter_by(provider="microsoft", channel_id=subscription_id,
                                           state="active").first() if subscription_id else None
    if channel is None:
        _rejected("microsoft", 404, "unknown subscription", subscription_id or None)
        return "unknown"
    if not hmac.compare_digest(channel.token.encode(), str(notification.get("clientState") or "").encode()):
        _rejected("microsoft", 401, "wrong clientState", subscription_id)
        return "forged"
    channel.last_notification_at = utcnow()
    event = notification.get("lifecycleEvent")
    if event in LIFECYCLE_EVENTS:
        signals.request(signals.push_lifecycle_event, channel_id=channel.id, event=event)
    elif not event:
        request_sync(channel.calendar_id)
    return "accepted"


def _rejected(provider: str, status: int, reason: str, channel_id: str | None) -> Answer:
    log_event("calendar_push_rejected", logging.WARNING, provider=provider, status=status, reason=reason,
              channel_id=channel_id)
    return Answer(status, reason)


def _unavailable(provider: str, exc: Exception) -> Answer:
    db.session.rollback()
    log_event("calendar_push_unavailable", logging.ERROR, provider=provider, error=type(exc).__name__)
    return Answer(503, "temporarily unavailable; retry later")


def handle_lifecycle_event(channel_row_id: int, event: str) -> str:
    """Graph's lifecycle notifications (the queued half of the receiver)."""
    from .sync import sync_calendar

    channel = db.session.get(WatchChannel, channel_row_id)
    if channel is None or channel.state != "active" or not channel.calendar.is_connected:
        return "ignored"
    calendar_id = channel.calendar_id
    if event == "reauthorizationRequired":
        renew_channel(channel)  # a PATCH reauthorizes the subscription too
    elif event == "subscriptionRemoved":
        _mark_stopped(channel)
        create_channel(channel.calendar)
        sync_calendar(calendar_id)  # catch up with what happened while unsubscribed
    elif event == "missed":
        sync_calendar(calendar_id, full=True)
    log_event("calendar_lifecycle_event", calendar_id=calendar_id, event=event)
    return event


# --- helpers -------------------------------------------------------------------------------------

def _from_millis(value) -> datetime:
    try:
        return datetime.fromtimestamp(int(value) / 1000, timezone.utc)
    except (TypeError, ValueError):
        return utcnow() + timedelta(seconds=GOOGLE_CHANNEL_TTL_SECONDS)
