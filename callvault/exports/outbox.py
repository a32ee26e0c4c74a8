"""The export outbox: intents recorded with the call, queued after commit, retried until delivered.

`record_export_intent` receives `signals.call_stored` inside `upsert_call`'s transaction, so a stored
call always has its CallExport rows. `signals.exports_due` is sent only after the commit (a job must
never see a row that is rolled back); if Redis is down then, the rows simply stay due and the periodic
retry (`lease_due_exports`) queues them later.
"""
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import or_, select, update

from .. import signals
from ..due_rows import lease_due_rows
from ..extensions import db
from ..models import Call, CallExport, utcnow

QUEUED_LEASE = timedelta(minutes=10)  # how long a queued export is left alone by the periodic retry
QUEUE_BATCH = 500  # exports queued per periodic tick


MISSING_TARGETS = "Exports are not configured: set EXPORT_DATABASE_URL and/or EXPORT_WEBHOOK_URL."


def configured_targets() -> list[str]:
    return [target for target, setting in (("database", "EXPORT_DATABASE_URL"), ("webhook", "EXPORT_WEBHOOK_URL"))
            if current_app.config.get(setting)]


def record_export_intent(_sender, call_id: int, content_hash: str, fresh: bool) -> None:
    """Mark a stored call due at every configured target (receives `signals.call_stored`)."""
    targets = configured_targets()
    if not targets:
        return
    existing = {} if fresh else {
        e.target: e for e in db.session.scalars(select(CallExport).where(CallExport.call_id == call_id))}
    grace = utcnow() + timedelta(seconds=current_app.config["EXPORT_RETRY_BASE_SECONDS"])
    rows = []
    for target in targets:
        export = existing.get(target) or CallExport(call_id=call_id, target=target)
        db.session.add(export)
        _make_due(export, content_hash, grace)
        rows.append(export)
    db.session.flush()
    signals.send_after_commit(signals.exports_due, export_ids=sorted(e.id for e in rows))


def _make_due(export: CallExport, fingerprint: str | None, when: datetime) -> None:
    export.status = "pending"
    export.fingerprint = fingerprint
    export.attempts = 0
    export.last_error = None
    export.next_attempt_at = when


def queue_exports(export_ids) -> int:
    """Queue delivery of these exports now; returns how many were queued (fewer if Redis is down:
    the rest stay due for the periodic retry)."""
    return signals.request(signals.exports_due, export_ids=list(export_ids)) or 0


def lease_due_exports(limit: int = QUEUE_BATCH) -> list[int]:
    """Exports whose retry time has come (for the periodic job), leased so the next tick leaves them
    alone while they wait their turn; one a worker holds (locked_until) is left to it."""
    now = utcnow()
    return lease_due_rows(CallExport.id, or_(CallExport.locked_until.is_(None), CallExport.locked_until < now),
                          lease=QUEUED_LEASE, limit=limit, now=now)


def make_due(call_ids: list[int] | None = None, since: datetime | None = None, targets: list[str] | None = None,
             include_done: bool = False) -> list[int]:
    """Mark exports due now and return their ids: every pending and failed one, or those of the given calls.

    With `call_ids` or `since` each matching call gets a row per target, created if missing (backfill);
    `include_done` also re-pushes calls the target already holds.
    """
    targets = [t for t in (targets or configured_targets()) if t in configured_targets()]
    if not targets:
        return []
    now = utcnow()
    if call_ids is None and since is None:
        undelivered = (CallExport.status.in_(("pending", "failed")), CallExport.target.in_(targets))
        ids = sorted(db.session.scalars(select(CallExport.id).where(*undelivered)))
        db.session.execute(update(CallExport).where(*undelivered).values(next_attempt_at=now))
        db.session.commit()
        return ids
    chosen = [Call.id.in_(call_ids)] if call_ids is not None else []
    if since is not None:
        chosen.append(Call.started_at >= since)
    calls = dict(db.session.execute(select(Call.id, Call.content_hash).where(*chosen)).all())
    existing = {(e.call_id, e.target): e for e in db.session.scalars(
        select(CallExport).where(CallExport.call_id.in_(select(Call.id).where(*chosen)),
                                 CallExport.target.in_(targets)))}
    due = []
    for call_id, fingerprint in calls.items():
        for target in targets:
            export = existing.get((call_id, target))
            if export is None:
                export = CallExport(call_id=call_id, target=target)
                db.session.add(export)
            elif export.status == "done" and export.exported_fingerprint == fingerprint and not include_done:
                continue
            _make_due(export, fingerprint, now)
            due.append(export)
    db.session.commit()
    return sorted(e.id for e in due)
