"""Jobs for rows written in a transaction are queued only once it commits, never for a rolled-back one.

The pattern behind the export outbox (exports/outbox.py) and search enrichment (search/enrichment.py):
inside the transaction the ids are `remember`ed in the session; after the commit they are handed to
the module's enqueue function, which queues one job per id with `enqueue_each`. If Redis is down then,
the rows stay due and the module's periodic sweep queues them later.
"""
import redis
from sqlalchemy import event

from .extensions import db
from .logs import log_event
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
