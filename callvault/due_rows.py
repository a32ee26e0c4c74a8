"""Rows that stand for work still to do (an export to deliver, a call to enrich), picked up by a sweep.

Such a row is written in the caller's transaction and its job is queued once that commits
(`signals.send_after_commit`). If Redis was down then, or a try failed, the row stays pending or
failed with a `next_attempt_at`; the owner's periodic sweep leases what is due and queues it again.
"""
from sqlalchemy import select, update

from .extensions import db
from .models import utcnow


def lease_due_rows(id_column, *where, lease, limit: int, now=None) -> list:
    """At most `limit` ids of `id_column`'s model that are pending or failed with `next_attempt_at` come
    (oldest first; `where` narrows them), each leased first — its next_attempt_at moved `lease` ahead,
    committed — so the next sweep does not queue it again while its job waits its turn."""
    model = id_column.class_
    now = now or utcnow()
    ids = list(db.session.scalars(
        select(id_column)
        .where(model.status.in_(("pending", "failed")), model.next_attempt_at <= now, *where)
        .order_by(model.next_attempt_at).limit(limit)))
    if ids:
        db.session.execute(update(model).where(id_column.in_(ids)).values(next_attempt_at=now + lease))
        db.session.commit()
    return ids
