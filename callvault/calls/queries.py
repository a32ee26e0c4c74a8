"""Finding calls: who may see what, filters, and keyset (cursor) pagination."""
import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select

from ..extensions import db
from ..ids import MAX_ID, parse_id
from ..models import SOURCES, Call, Participant, User
from ..timeutil import EARLIEST, LATEST, as_utc

MAX_CURSOR_LENGTH = 200  # the cursors this server gives out are about 60 characters


class QueryError(ValueError):
    """A filter or cursor that cannot be understood; the message is safe to show."""


@dataclass
class CallFilters:
    q: str = ""
    source: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    participant: str | None = None  # an email address (exact) or part of a name


def visible_calls(user: User):
    """Admins see every call; members only their own."""
    query = select(Call)
    if not user.is_admin:
        query = query.where(Call.owner_id == user.id)
    return query


def get_call_for(user: User, call_id) -> Call | None:
    """The call if it exists and `user` may see it; None otherwise (no existence leak)."""
    call_id = parse_id(call_id)
    if call_id is None:
        return None
    return db.session.scalars(visible_calls(user).where(Call.id == call_id)).first()


def parse_filters(q=None, source=None, since=None, until=None, participant=None) -> CallFilters:
    if source and source not in SOURCES:
        raise QueryError(f"source must be one of: {', '.join(SOURCES)}")
    filters = CallFilters(q=(q or "").strip()[:500], source=source or None,
                          since=parse_datetime(since, "since"), until=parse_datetime(until, "until"),
                          participant=(participant or "").strip()[:320] or None)
    if filters.since and filters.until and filters.since > filters.until:
        raise QueryError("the From date (since) is after the To date (until): swap them or clear one")
    return filters


def parse_datetime(value, name: str) -> datetime | None:
    """A filter's date or date-time as aware UTC (naive is taken as UTC); QueryError if unreadable or
    outside the years 0001…9999 once in UTC."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise QueryError(f"{name} must be an ISO 8601 date or date-time, e.g. 2026-11-01") from None
    moment = as_utc(parsed)
    if moment is None:
        raise QueryError(f"{name} must be between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d} (in UTC)")
    return moment


def filtered_calls(user: User, filters: CallFilters):
    """SELECT of the calls `user` may see that pass `filters` other than `q` (unordered). The words of
    `q` are no single SQL filter: see search.listing and search.results."""
    query = visible_calls(user)
    if filters.source:
        query = query.where(Call.source == filters.source)
    if filters.since:
        query = query.where(Call.started_at >= filters.since)
    if filters.until:
        query = query.where(Call.started_at < filters.until)
    if filters.participant:
        query = query.where(Call.id.in_(select(Participant.call_id).where(person_matches(
            Participant.name, Participant.email, filters.participant))))
    return query


def has_calls_after(user: User, filters: CallFilters, after_id: int) -> bool:
    """Whether a call `user` may see that passes `filters` was stored after the call `after_id` (ids
    only grow): the library's cheap poll for new meetings."""
    query = filtered_calls(user, filters).with_only_columns(Call.id).where(Call.id > after_id).limit(1)
    return db.session.scalar(query) is not None


def latest_call_id(user: User, filters: CallFilters) -> int:
    """The highest id of the calls `user` may see that pass `filters` (0 for none)."""
    query = filtered_calls(user, filters).with_only_columns(func.max(Call.id))
    return db.session.scalar(query) or 0


def person_matches(name_column, email_column, text: str):
    """A person named by `text`: their email address (any case), or a part of their name."""
    text = text.strip().lower()
    if "@" in text:
        return func.lower(email_column) == text
    pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    return or_(func.lower(name_column).like(pattern, escape="\\"), func.lower(email_column).like(pattern, escape="\\"))


def encode_cursor(moment: datetime, row_id: int) -> str:
    """The keyset cursor after a row of a newest-first page ordered by (moment, id); decode_cursor reads it."""
    raw = json.dumps([moment.isoformat(), row_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    """(moment, row id) of a cursor encode_cursor made; QueryError for anything else (too long, nested,
    a naive or out-of-range moment, an id no row can have)."""
    refused = QueryError("cursor is not one this server gave out")
    if len(cursor) > MAX_CURSOR_LENGTH:
        raise refused
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        moment, row_id = json.loads(raw)
        moment = datetime.fromisoformat(moment)
    except (ValueError, TypeError, binascii.Error, RecursionError):
        raise refused from None
    if moment.tzinfo is None or as_utc(moment) is None or type(row_id) is not int or not 0 <= row_id <= MAX_ID:
        raise refused
    return as_utc(moment), row_id
