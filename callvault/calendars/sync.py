"""Syncing a calendar's events, full or incremental, and asking for a sync (debounced).

The window is 1 day back to 28 days ahead.
- Google: a full sync pages through events.list over the window (singleEvents, showDeleted) and
  keeps the last page's nextSyncToken; an incremental sync sends only that token. 410: full sync.
- Microsoft: a full sync is a calendarView delta round over the window, ending in a deltaLink;
  an incremental sync follows that link. 410 / syncStateNotFound: full sync.
A sync token only reports changes, and time slides events into the window, so a full sync also
runs once a day; after it, events in the window the provider no longer lists are marked deleted.
Every page is stored in one transaction.

`request_sync` is what push notifications, the scheduler and the sync-now button call: however
many requests arrive, one job per calendar is queued or running; a request made while a sync
runs makes exactly one more sync follow it, so no change is lost.

What a sync changed is recorded (`EventChanges`: ids of events created, updated and deleted),
returned on `SyncResult.changes`, and sent as `signals.calendar_events_changed` once the rows are
committed — that is how other features (recording bots) react to calendar changes without reaching
into the sync.
"""
import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import redis
from sqlalchemy import select

from .. import signals
from ..extensions import db
from ..logs import log_event
from ..models import Calendar, CalendarEvent, utcnow
from ..queues import get_redis, redis_lock
from .connections import client_for, mark_auth_revoked
from .event_data import EventData, from_google, from_microsoft
from .transport import AuthRevoked, CalendarError, SyncStateGone

DAYS_BACK, DAYS_AHEAD = 1, 28
FULL_SYNC_EVERY = timedelta(hours=24)
GOOGLE_CALENDAR_ID = "primary"
PENDING_TTL_SECONDS = 900  # a crashed job frees its calendar after this
LOCK_TTL_SECONDS, LOCK_WAIT_SECONDS = 600, 120


# Fields whose change matters to anyone acting on an event (a moved start, a new link…);
# a change of the raw payload alone (a new etag, a reminder) is stored but not reported.
TRACKED_FIELDS = ("title", "start_at", "end_at", "is_all_day", "organizer_email", "attendees", "meeting_url",
                  "meeting_platform", "is_cancelled", "ical_uid", "series_id")
STORED_FIELDS = TRACKED_FIELDS + ("provider_updated_at", "raw")


@dataclass
class EventChanges:
    """CalendarEvent ids a sync created, updated or deleted (cancelled counts as deleted: the
    meeting no longer happens; an event un-cancelled or moved back into view counts as updated)."""

    created: list[int] = field(default_factory=list)
    updated: list[int] = field(default_factory=list)
    deleted: list[int] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.created or self.updated or self.deleted)

    def add(self, other: "EventChanges") -> None:
        self.created += other.created
        self.updated += other.updated
        self.deleted += other.deleted


@dataclass
class SyncResult:
    calendar_id: int
    status: str               # ok | failed | disconnected | skipped
    kind: str | None = None   # full | incremental
    events: int = 0           # event rows written (changed or not)
    message: str | None = None
    changes: EventChanges = field(default_factory=EventChanges)


def _notify(calendar_id: int, changes: EventChanges) -> None:
    if changes:
        signals.notify(signals.calendar_events_changed, calendar_id=calendar_id, created=changes.created,
                       updated=changes.updated, deleted=changes.deleted)


def window(now: datetime | None = None) -> tuple[datetime, datetime]:
    now = now or utcnow()
    return now - timedelta(days=DAYS_BACK), now + timedelta(days=DAYS_AHEAD)


# --- requesting syncs ----------------------------------------------------------------------------

def _keys(calendar_id: int) -> tuple[str, str]:
    return f"callvault:calendar:{calendar_id}:sync-pending", f"callvault:calendar:{calendar_id}:sync-again"


def request_sync(calendar_id: int) -> bool:
    """Queue a sync unless one is queued or running already (then one more follows it).

    Returns True when a job was queued. Raises redis.RedisError when Redis is unreachable.
    """
    pending, again = _keys(calendar_id)
    token = uuid.uuid4().hex[:12]
    with get_redis().pipeline() as pipe:
        while True:
            try:
                pipe.watch(pending)
                busy = pipe.exists(pending)
                pipe.multi()
                if busy:
                    pipe.set(again, 1, ex=PENDING_TTL_SECONDS)
                else:
                    pipe.set(pending, token, ex=PENDING_TTL_SECONDS)
                pipe.execute()
                break
            except redis.WatchError:
                continue
    if busy:
        return False
    _enqueue(calendar_id, token)
    return True


def _enqueue(calendar_id: int, token: str) -> None:
    try:
        signals.request(signals.calendar_sync_requested, calendar_id=calendar_id,
                        job_id=f"calendar-sync-{calendar_id}-{token}")
    except redis.RedisError:
        get_redis().delete(_keys(calendar_id)[0])
        raise


def run_requested_sync(calendar_id: int) -> SyncResult:
    """The queued job: sync, then queue one more sync if a request came in meanwhile."""
    get_redis().delete(_keys(calendar_id)[1])  # requests made until now ("sync again") are served by this sync
    try:
        return sync_calendar(calendar_id)
    finally:
        _finish_requested_sync(calendar_id)


def _finish_requested_sync(calendar_id: int) -> None:
    pending, again = _keys(calendar_id)
    token = uuid.uuid4().hex[:12]
    with get_redis().pipeline() as pipe:
        while True:
            try:
                pipe.watch(pending, again)
                follow_up = pipe.exists(again)
                pipe.multi()
                if follow_up:
                    pipe.delete(again)
                    pipe.set(pending, token, ex=PENDING_TTL_SECONDS)
                else:
                    pipe.delete(pending)
                pipe.execute()
                break
            except redis.WatchError:
                continue
    if follow_up:
        _enqueue(calendar_id, token)


def request_all() -> int:
    """The scheduler's half-hourly run: a sync for every connected calendar."""
    ids = db.session.scalars(select(Calendar.id).where(Calendar.state == "connected").order_by(Calendar.id))
    return sum(request_sync(calendar_id) for calendar_id in ids)


# --- syncing -------------------------------------------------------------------------------------

def sync_calendar(calendar_id: int, full: bool = False) -> SyncResult:
    """Sync one calendar now. Failures are recorded on the calendar, never raised, and only a
    definitive refusal of the grant (AuthRevoked) disconnects it."""
    calendar = db.session.get(Calendar, calendar_id)
    if calendar is None or not calendar.is_connected:
        return SyncResult(calendar_id, "skipped", message="not connected")
    # one sync of a calendar at a time, across processes
    with redis_lock(f"callvault:calendar:{calendar_id}:sync-lock", LOCK_TTL_SECONDS, LOCK_WAIT_SECONDS) as locked:
        if not locked:
            return SyncResult(calendar_id, "skipped", message="another sync of this calendar is still running")
        db.session.refresh(calendar)
        if not calendar.is_connected:
            return SyncResult(calendar_id, "skipped", message="not connected")
        calendar.last_sync_attempt_at = utcnow()
        db.session.commit()
        changes = EventChanges()  # filled page by page, as each page is committed
        try:
            result = _run(calendar, full, changes)
        except AuthRevoked as exc:
            mark_auth_revoked(calendar_id, str(exc))
            result = SyncResult(calendar_id, "disconnected", message=str(exc), changes=changes)
        except CalendarError as exc:
            db.session.rollback()
            calendar.last_error = str(exc)
            db.session.commit()
            log_event("calendar_sync_failed", logging.WARNING, calendar_id=calendar_id, error=type(exc).__name__,
                      message=str(exc))
            result = SyncResult(calendar_id, "failed", message=str(exc), changes=changes)
        else:
            calendar.last_synced_at = utcnow()
            calendar.last_error = None
            db.session.commit()
            log_event("calendar_synced", calendar_id=calendar_id, kind=result.kind, events=result.events,
                      created=len(changes.created), updated=len(changes.updated), deleted=len(changes.deleted))
    _notify(calendar_id, changes)
    return result


def _run(calendar: Calendar, full: bool, changes: EventChanges) -> SyncResult:
    stale = calendar.full_synced_at is None or calendar.full_synced_at < utcnow() - FULL_SYNC_EVERY
    with client_for(calendar) as client:
        if calendar.sync_cursor and not (full or stale):
            try:
                return _incremental(calendar, client, changes)
            except SyncStateGone as exc:
                db.session.rollback()
                log_event("calendar_sync_state_gone", calendar_id=calendar.id, message=str(exc))
                calendar.sync_cursor = None
                db.session.commit()
        return _full(calendar, client, changes)


def _pages(calendar: Calendar, client, cursor: str | None = None, start=None, end=None):
    """(events, next cursor or None) per page, for either provider."""
    if calendar.provider == "google":
        args = {"sync_token": cursor} if cursor else {"time_min": start, "time_max": end}
        for page in client.event_pages(GOOGLE_CALENDAR_ID, **args):
            yield [from_google(i) for i in page.get("items") or [] if isinstance(i, dict) and i.get("id")], \
                page.get("nextSyncToken")
    else:
        pages = client.delta_pages(cursor) if cursor else client.delta_pages(start=start, end=end)
        for page in pages:
            yield [from_microsoft(i) for i in page.get("value") or [] if isinstance(i, dict) and i.get("id")], \
                page.get("@odata.deltaLink")


def _incremental(calendar: Calendar, client, changes: EventChanges) -> SyncResult:
    start, end = window()
    stored, cursor = 0, None
    for events, next_cursor in _pages(calendar, client, cursor=calendar.sync_cursor):
        page = store_events(calendar, events, start, end, incremental=True)
        changes.add(page)
        stored += page.written
        cursor = next_cursor or cursor
    if cursor:
        calendar.sync_cursor = cursor
    db.session.commit()
    return SyncResult(calendar.id, "ok", "incremental", stored, changes=changes)


def _full(calendar: Calendar, client, changes: EventChanges) -> SyncResult:
    start, end = window()
    seen: set[str] = set()
    stored, cursor = 0, None
    for events, next_cursor in _pages(calendar, client, start=start, end=end):
        page = store_events(calendar, events, start, end, seen)
        changes.add(page)
        stored += page.written
        cursor = next_cursor or cursor
    changes.deleted += _mark_unlisted_deleted(calendar, seen, start, end)
    calendar.sync_cursor = cursor
    calendar.full_synced_at = utcnow()
    db.session.commit()
    return SyncResult(calendar.id, "ok", "full", stored, changes=changes)


@dataclass
class PageChanges(EventChanges):
    written: int = 0  # rows written, changed or not


def store_events(calendar: Calendar, events: list[EventData], start: datetime, end: datetime,
                 seen: set[str] | None = None, incremental: bool = False) -> PageChanges:
    """Upsert one page of events in one transaction; say which events it created, updated, deleted.

    Incremental pages also report changes outside the window: events we already have are
    updated (an event moved out of it), new ones are left for the sync that covers them. A
    full sync passes `seen`, which collects the ids it listed.
    """
    ids = [e.provider_event_id for e in events]
    existing = {row.provider_event_id: row for row in db.session.scalars(
        select(CalendarEvent).where(CalendarEvent.calendar_id == calendar.id,
                                    CalendarEvent.provider_event_id.in_(ids)))} if ids else {}
    created: list[CalendarEvent] = []
    updated: list[CalendarEvent] = []
    deleted: list[CalendarEvent] = []
    written = 0
    for event in events:
        if seen is not None:
            seen.add(event.provider_event_id)
        row = existing.get(event.provider_event_id)
        if incremental and row is not None and calendar.provider == "microsoft" and not event.is_deleted:
            event = _complete_microsoft_update(row, event)
        if event.is_deleted or (event.is_cancelled and event.start_at is None):
            # a removal, or Google's bare cancellation: only meaningful for events we know
            if row is not None:
                was_gone = row.is_deleted or row.is_cancelled
                row.is_deleted, row.is_cancelled = row.is_deleted or event.is_deleted, True
                row.raw = event.raw
                written += 1
                if not was_gone:
                    deleted.append(row)
            continue
        overlaps = event.start_at is not None and event.start_at < end and (event.end_at or event.start_at) > start
        if row is None and not overlaps:
            continue
        if row is None:
            row = CalendarEvent(calendar_id=calendar.id, provider_event_id=event.provider_event_id)
            db.session.add(row)
            existing[event.provider_event_id] = row
            bucket = None if event.is_cancelled else created  # first seen already cancelled: nothing to do
        else:
            was_live = not (row.is_deleted or row.is_cancelled)
            differs = row.is_deleted or any(getattr(row, name) != getattr(event, name) for name in TRACKED_FIELDS)
            if not differs:
                bucket = None
            elif event.is_cancelled:
                bucket = deleted if was_live else None
            else:
                bucket = updated
        for name in STORED_FIELDS:
            setattr(row, name, getattr(event, name))
        row.is_deleted = False
        written += 1
        if bucket is not None:
            bucket.append(row)
    db.session.commit()  # ids of new rows exist from here
    return PageChanges(created=[r.id for r in created], updated=[r.id for r in updated],
                       deleted=[r.id for r in deleted], written=written)


def _complete_microsoft_update(row: CalendarEvent, event: EventData) -> EventData:
    """Graph's delta may describe an updated event by its id and the changed properties only;
    what it leaves out is unchanged, so it is taken from the payload we stored."""
    stored = {k: v for k, v in (row.raw or {}).items() if k != "@removed"} if isinstance(row.raw, dict) else {}
    if not event.raw or not set(stored) - set(event.raw):
        return event
    return from_microsoft({**stored, **event.raw})


def _mark_unlisted_deleted(calendar: Calendar, seen: set[str], start: datetime, end: datetime) -> list[int]:
    """After a full sync: events in the window the provider no longer lists were deleted."""
    rows = db.session.scalars(select(CalendarEvent).where(
        CalendarEvent.calendar_id == calendar.id, CalendarEvent.is_deleted.is_(False),
        CalendarEvent.start_at >= start, CalendarEvent.start_at < end))
    gone = []
    for row in rows:
        if row.provider_event_id not in seen:
            if not row.is_cancelled:
                gone.append(row.id)
            row.is_deleted = True
    return gone
