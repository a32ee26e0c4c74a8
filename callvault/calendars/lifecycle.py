"""A calendar's connection from start to end, above connections, sync and push.

Connecting stores the grant (`connections`), then asks for the first sync (`sync`) and for push
(`signals.calendar_connected`: a job, because Graph validates a subscription by calling back
into this app while we wait for its answer). Disconnecting stops push (`push`), deletes the
tokens and tells the other features (`signals.calendar_disconnected`): recording bots let go of
the calendar's meetings at once.
"""
import logging

import redis

from .. import signals
from ..extensions import db
from ..logs import log_event
from ..models import Calendar, User, utcnow
from . import connections, push, sync
from .oauth import Provider


def connect_oauth(user: User, provider: Provider, code: str) -> tuple[Calendar, bool]:
    """Store the grant `code` stands for and start syncing; returns (calendar, whether its first sync
    and push could be queued — if Redis is down, the periodic sync and channel renewal catch up).
    Raises connections.ConnectError or a CalendarError, with nothing stored."""
    calendar = connections.connect_oauth(user, provider, code)
    try:
        sync.request_sync(calendar.id)
        signals.request(signals.calendar_connected, calendar_id=calendar.id)
    except redis.RedisError as exc:
        log_event("calendar_enqueue_failed", logging.WARNING, calendar_id=calendar.id, error=type(exc).__name__)
        return calendar, False
    return calendar, True


def disconnect(calendar: Calendar) -> None:
    """The owner disconnects: push channels are stopped, stored tokens deleted, events kept."""
    push.stop_channels(calendar)
    credential = calendar.credential
    calendar.credential = None
    calendar.state = "disconnected"
    calendar.disconnected_reason = connections.DISCONNECTED_BY_OWNER
    calendar.disconnected_at = utcnow()
    calendar.sync_cursor = None
    if credential is not None:
        db.session.delete(credential)
    db.session.commit()
    log_event("calendar_disconnected", calendar_id=calendar.id, user_id=calendar.user_id, reason="by owner")
    signals.notify(signals.calendar_disconnected, calendar_id=calendar.id)
