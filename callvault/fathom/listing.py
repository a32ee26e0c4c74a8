"""The fetch page's side of Fathom: a page of the user's meetings with each one's sync status
(decided by our database), a preview fetched and not stored, and the listings remembered for the
jobs that follow.

Meetings the user has just seen are remembered (in Redis, for an hour, without their content):
a sync job of those meetings needs no listing over OAuth, and for an API key the remembered dates
narrow the pages it has to read (see `sync.py`).
"""
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

import redis
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ..calls.store import CallData
from ..extensions import db
from ..logs import log_event
from ..models import Call, User
from ..queues import get_redis
from .credentials import client_for, get_connection
from .mapping import NotAMeeting, meeting_to_call_data, meetings_to_call_data, recording_id_of

LISTING_TTL_SECONDS = 3600
CONTENT_FIELDS = ("transcript", "default_summary", "action_items", "crm_matches")
SYNCED, NOT_SYNCED, CHANGED = "synced", "not_synced", "changed"


class SyncError(Exception):
    """A sync request that cannot be honoured; the message is safe to show."""


def require_connection(user: User):
    connection = get_connection(user)
    if connection is None or not (connection.has_oauth or connection.has_api_key):
        raise SyncError("Fathom is not connected: add an API key or connect with OAuth in Settings")
    return connection


def parse_day(value: str | None, name: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise SyncError(f"{name} must be a date like 2025-03-31") from None


def day_range(since: date | None, until: date | None) -> tuple[datetime | None, datetime | None]:
    """Whole UTC days, `until` included, as Fathom's created_after / created_before."""
    if since and until and since > until:
        raise SyncError("the start date is after the end date")
    after = datetime.combine(since, time.min, timezone.utc) - timedelta(seconds=1) if since else None
    before = datetime.combine(until + timedelta(days=1), time.min, timezone.utc) if until else None
    return after, before


# --- remembered listings -------------------------------------------------------------------------

def _listing_key(user_id: int, recording_id: str) -> str:
    return f"callvault:fathom:listed:{user_id}:{recording_id}"


def remember_listing(user_id: int, meetings: list[dict]) -> None:
    """Keep the metadata of listed meetings (not their content) for the jobs that follow."""
    try:
        with get_redis().pipeline(transaction=False) as pipe:
            for meeting in meetings:
                try:
                    key = _listing_key(user_id, recording_id_of(meeting))
                except NotAMeeting:
                    continue
                light = {k: v for k, v in meeting.items() if k not in CONTENT_FIELDS}
                pipe.set(key, json.dumps(light), ex=LISTING_TTL_SECONDS)
            pipe.execute()
    except redis.RedisError:
        log_event("fathom_listing_cache_unavailable")  # only costs extra listing calls


def remembered_listing(user_id: int, recording_ids: list[str]) -> dict[str, dict]:
    if not recording_ids:
        return {}
    try:
        values = get_redis().mget([_listing_key(user_id, rid) for rid in recording_ids])
    except redis.RedisError:
        return {}
    return {rid: json.loads(v) for rid, v in zip(recording_ids, values) if v is not None}


# --- the fetch page ------------------------------------------------------------------------------

@dataclass
class ListedMeeting:
    recording_id: str
    title: str
    started_at: datetime
    duration_seconds: int | None
    recorded_by: str
    invitees: int
    status: str
    call_id: int | None


def _signature(title, started_at, ended_at, recorded_by_email, people) -> tuple:
    """What a listing shows of a meeting; a stored call whose signature differs has changed."""
    return (title, started_at, ended_at, (recorded_by_email or "").lower(),
            tuple(sorted((p.name or "", (p.email or "").lower()) for p in people)))


def sync_statuses(meetings: list[CallData]) -> dict[str, tuple[str, int | None]]:
    """recording id → (synced | not_synced | changed, call id), decided by our database."""
    datas = {data.external_id: data for data in meetings}
    calls = db.session.scalars(select(Call).options(selectinload(Call.participants)).where(
        Call.source == "fathom", Call.external_id.in_(list(datas)))).all() if datas else []
    stored = {c.external_id: c for c in calls}
    statuses = {}
    for rid, data in datas.items():
        call = stored.get(rid)
        if call is None:
            statuses[rid] = (NOT_SYNCED, None)
            continue
        listed = _signature(data.title, data.started_at, data.ended_at, data.recorded_by_email, data.participants)
        synced = _signature(call.title, call.started_at, call.ended_at, call.recorded_by_email, call.participants)
        statuses[rid] = (SYNCED if listed == synced else CHANGED, call.id)
    return statuses


def unchanged_calls(meetings: list[CallData]) -> dict[str, int]:
    """recording id → call id of the meetings stored already and unchanged since."""
    return {rid: call_id for rid, (status, call_id) in sync_statuses(meetings).items() if status == SYNCED}


def fetch_meetings(user: User, since: date | None = None, until: date | None = None, cursor: str | None = None,
                   mine_only: bool = False) -> tuple[list[ListedMeeting], str | None]:
    """One page of the user's Fathom meetings (10, newest first) and the cursor of the next."""
    connection = require_connection(user)
    after, before = day_range(since, until)
    recorded_by = [h.email for h in user.host_emails] if mine_only else []
    with client_for(connection) as client:
        page = client.meetings_page(cursor=cursor, created_after=after, created_before=before,
                                    recorded_by=recorded_by)
    remember_listing(user.id, page["items"])
    datas = meetings_to_call_data(page["items"])
    statuses = sync_statuses(datas)
    listed = []
    for data in datas:
        status, call_id = statuses[data.external_id]
        duration = int((data.ended_at - data.started_at).total_seconds()) if data.ended_at else None
        listed.append(ListedMeeting(
            recording_id=data.external_id, title=data.title, started_at=data.started_at,
            duration_seconds=duration, recorded_by=data.recorded_by_name or data.recorded_by_email or "—",
            invitees=len(data.participants), status=status, call_id=call_id))
    return listed, page["next_cursor"]


def status_dom_id(recording_id: str) -> str:
    """The HTML id of a listed meeting's status cell (a recording id may hold any character)."""
    if re.fullmatch(r"[A-Za-z0-9_-]{1,64}", recording_id):
        return f"fathom-status-{recording_id}"
    return "fathom-status-h" + hashlib.sha256(recording_id.encode()).hexdigest()[:16]


def statuses_now(user: User, recording_ids: list[str]) -> dict[str, tuple[str, int | None]]:
    """The sync status of meetings the user listed a moment ago (the rows a finished job flips),
    from the remembered listing; one no longer remembered counts as synced once it is stored."""
    ids = list(dict.fromkeys(r for r in recording_ids if r))[:200]
    listed = remembered_listing(user.id, ids)
    datas = meetings_to_call_data(listed.values())
    known = sync_statuses(datas)
    stored = dict(db.session.execute(select(Call.external_id, Call.id).where(
        Call.source == "fathom", Call.external_id.in_([rid for rid in ids if rid not in known])))
        .all()) if len(known) < len(ids) else {}
    return {rid: known.get(rid) or ((SYNCED, stored[rid]) if rid in stored else (NOT_SYNCED, None)) for rid in ids}


@dataclass
class RangeCount:
    total: int
    unchanged: int

    @property
    def to_sync(self) -> int:
        return self.total - self.unchanged


def count_in_range(user: User, since: date | None = None, until: date | None = None,
                   mine_only: bool = False) -> RangeCount:
    """How many meetings a range sync would see, and how many of them it would skip as unchanged
    (the confirm step before "Sync all in range"). Lists the range without content."""
    connection = require_connection(user)
    after, before = day_range(since, until)
    recorded_by = [h.email for h in user.host_emails] if mine_only else []
    total = unchanged = 0
    with client_for(connection) as client:
        for page in client.iter_meeting_pages(created_after=after, created_before=before, recorded_by=recorded_by,
                                              include_content=False):
            remember_listing(user.id, page["items"])
            datas = meetings_to_call_data(page["items"])
            total += len(datas)
            unchanged += len(unchanged_calls(datas))
    return RangeCount(total, unchanged)


def preview(user: User, recording_id: str) -> CallData:
    """A meeting with its transcript and summary, fetched now and not stored."""
    connection = require_connection(user)
    meeting = remembered_listing(user.id, [recording_id]).get(recording_id) or {"recording_id": recording_id}
    with client_for(connection) as client:
        transcript, summary = client.transcript(recording_id), client.summary(recording_id)
    return meeting_to_call_data(meeting, transcript=transcript, summary=summary)
