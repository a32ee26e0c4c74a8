"""Jobs for rows written in a transaction are queued only once it commits, never for a rolled-back one.

The pattern behind the export outbox (exports/outbox.py) and search enrichment (search/enrichment.py):
inside the transaction the ids are `remember`ed in the session; after the commit they are handed to
the module's enqueue function, which queues one job per id with `enqueue_each`. If Redis is down then,
the rows stay due and the module's periodic sweep (`queue_due_rows`) queues them later.
"""
import redis
from sqlalchemy import event, select, update

from .extensions import db
from .logs import log_event
from .models import utcnow
from .queues import enqueue


def enqueue_after_commit(key: str, enqueue_ids) -> None:
    """Hand the ids `remember`ed under `key` to `enqueue_ids(sorted_ids)` after each commit; drop them on rollback."""

    @event.listens_for(db.session, "after_commit")
    def _enqueue_recorded(session):
        ids = session.info.pop(key, None)
        if ids:
            enqueue_ids(sorted(ids))

    @event.listens_for(db.session, "after_rollback")
    def _forget_recorded(session):
        session.info.pop(key, None)


def remember(key: str, *ids) -> None:
    """Queue jobs for `ids` once the current transaction commits (see enqueue_after_commit)."""
    db.session.info.setdefault(key, set()).update(ids)


def enqueue_each(queue_name: str, job: str, ids, failure_event: str, **job_options) -> int:
    """Queue `job` once per id. Returns how many were queued; stops quietly (logging `failure_event`)
    if Redis is down."""
    queued = 0
    for item_id in ids:
        try:
            enqueue(queue_name, job, item_id, **job_options)
        except redis.RedisError as exc:
            log_event(failure_event, error=type(exc).__name__, pending=len(ids) - queued)
            break
        queued += 1
    return queued


def queue_due_rows(id_column, enqueue_ids, *where, lease, limit: int, now=None) -> int:
    """The periodic sweep: hand to `enqueue_ids(ids)` at most `limit` rows of `id_column`'s model that are
    pending or failed with `next_attempt_at` come (oldest first; `where` narrows them). Each is leased
    first (its next_attempt_at moved `lease` ahead, committed) so the next sweep does not queue it again
    while its job waits its turn. Returns what `enqueue_ids` returns, or 0 if nothing was due."""
    model = id_column.class_
    now = now or utcnow()
    ids = list(db.session.scalars(
        select(id_column)
        .where(model.status.in_(("pending", "failed")), model.next_attempt_at <= now, *where)
        .order_by(model.next_attempt_at).limit(limit)))
    if not ids:
        return 0
    db.session.execute(update(model).where(id_column.in_(ids)).values(next_attempt_at=now + lease))
    db.session.commit()
    return enqueue_ids(ids)
