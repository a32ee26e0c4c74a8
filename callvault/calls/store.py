"""Writing calls. Every source (Fathom sync, Fathom webhooks, bots) stores through `upsert_call`.

A call and all its children are written in one transaction, with whatever the receivers of
`signals.call_stored` record (export and enrichment intents), so a reader sees the old
transcript or the new one, never half of either. The (source, external_id) unique constraint
makes concurrent writers of the same meeting converge on one row.
"""
import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError

from .. import signals
from ..safe_urls import http_url
from ..extensions import db
from ..models import ActionItem, Call, Participant, TranscriptSegment, User


@dataclass
class ParticipantData:
    name: str | None = None
    email: str | None = None
    is_external: bool | None = None
    is_organizer: bool = False


@dataclass
class SegmentData:
    speaker: str | None
    text: str
    start_ms: int
    end_ms: int | None = None
    speaker_email: str | None = None


@dataclass
class ActionItemData:
    description: str
    assignee_name: str | None = None
    assignee_email: str | None = None
    completed: bool = False
    timestamp_ms: int | None = None


@dataclass
class CallData:
    source: str
    external_id: str
    title: str
    started_at: datetime
    ended_at: datetime | None = None
    recorded_by_name: str | None = None
    recorded_by_email: str | None = None
    recording_url: str | None = None
    share_url: str | None = None
    language: str | None = None
    summary_markdown: str | None = None
    participants: list[ParticipantData] = field(default_factory=list)
    segments: list[SegmentData] = field(default_factory=list)
    action_items: list[ActionItemData] = field(default_factory=list)

    def fingerprint(self) -> str:
        payload = json.dumps(_fields(self), default=str, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(payload.encode()).hexdigest()


def _fields(data) -> dict:
    """`dataclasses.asdict` for these flat dataclasses (a field is a scalar or a list of dataclasses of
    scalars), without its deep copies: the same dict, at a fraction of the cost on a long transcript."""
    return {name: [dict(vars(item)) for item in value] if isinstance(value, list) else value
            for name, value in vars(data).items()}


@dataclass
class UpsertResult:
    call: Call
    created: bool
    changed: bool


_SCALARS = ("title", "started_at", "ended_at", "recorded_by_name", "recorded_by_email", "recording_url",
            "share_url", "language", "summary_markdown")


def upsert_call(owner: User, data: CallData, commit: bool = True) -> UpsertResult:
    data.external_id = str(data.external_id)
    # Links from any source become an href: only http(s) is kept, anything else is stored as NULL.
    data.recording_url, data.share_url = http_url(data.recording_url), http_url(data.share_url)
    fingerprint = data.fingerprint()
    call, created = _claim_row(owner, data, fingerprint)
    if not created and call.content_hash == fingerprint:
        if commit:
            db.session.commit()
        return UpsertResult(call, created=False, changed=False)

    if not created:  # a new row was inserted with all of these already
        _set_scalars(call, data, fingerprint)
        db.session.flush()
    # A row this transaction inserted is its own until the commit on PostgreSQL: nothing can refer to it
    # yet. On SQLite the savepoint's release committed it (pysqlite opens no transaction before the
    # savepoint), so a concurrent writer of the same meeting may have used it since.
    fresh = created and db.session.get_bind().dialect.name != "sqlite"
    _replace_children(call.id, data, fresh)
    db.session.expire(call, ["participants", "action_items"])
    # In this same transaction: exports and search enrichment record their intents (queued after commit).
    signals.call_stored.send(None, call_id=call.id, content_hash=fingerprint, fresh=fresh)
    if commit:
        db.session.commit()
    return UpsertResult(call, created=created, changed=True)


def _claim_row(owner: User, data: CallData, fingerprint: str) -> tuple[Call, bool]:
    """The call row for (source, external_id), locked for this transaction; inserted (with all of
    `data`'s scalars: no UPDATE after the INSERT) if absent."""
    query = select(Call).filter_by(source=data.source, external_id=data.external_id).with_for_update()
    call = db.session.scalars(query).first()
    if call is not None:
        return call, False
    call = Call(owner_id=owner.id, source=data.source, external_id=data.external_id)
    _set_scalars(call, data, fingerprint)
    try:
        with db.session.begin_nested():
            db.session.add(call)
    except IntegrityError:
        # Another writer inserted it first; take theirs.
        return db.session.scalars(query.execution_options(populate_existing=True)).one(), False
    return call, True


def _set_scalars(call: Call, data: CallData, fingerprint: str) -> None:
    for name in _SCALARS:
        setattr(call, name, getattr(data, name))
    call.title = (data.title or "Untitled meeting")[:500]
    call.content_hash = fingerprint


def _replace_children(call_id: int, data: CallData, fresh: bool) -> None:
    """Write the call's children, deleting the ones it had; a `fresh` call (see upsert_call) has none
    (three DELETEs saved per new call, a fifth of a webhook's processing)."""
    if not fresh:
        for model in (TranscriptSegment, Participant, ActionItem):
            db.session.execute(delete(model).where(model.call_id == call_id))
    # Into the tables, not through the ORM's bulk insert: no objects are needed here, and its per-row
    # bookkeeping for a call's ~50 segments was a quarter of a webhook's processing (bench/webhooks.py).
    for model, items in ((Participant, data.participants), (TranscriptSegment, data.segments),
                         (ActionItem, data.action_items)):
        if items:
            db.session.execute(insert(model.__table__),
                               [{"call_id": call_id, "position": i, **vars(item)} for i, item in enumerate(items)])
