"""Incoming webhooks from any source: log first, judge second, then claim and enqueue.

The order is what makes a 2xx safe to give:

1. The request becomes a webhook_deliveries row, committed before anything is judged: every
   request leaves exactly one row, whatever happens next. Nobody is known yet, so the row keeps
   only a bounded preview (headers redacted and capped at HEADERS_CAP characters, the body's
   first PREVIEW_CAP bytes): unsigned requests cannot fill the database.
2. The source's *judge* verifies the signature and checks the body. A refusal marks the row
   rejected and is answered 4xx (or 503 when our own configuration is at fault).
3. The webhook id is claimed by inserting a ProcessedWebhook row. Its unique constraint, not a
   check-then-insert, makes one of several simultaneous copies win on whichever process; the
   others are marked duplicate (keeping their preview) and answered 2xx too, since the sender
   only needs to stop. The winner's full body is written in the claim's transaction, so it is
   stored, committed synchronously, before the sender hears 2xx.
4. Only now is the sender answered 2xx, and `signals.delivery_accepted` queues the processing
   job (callvault/jobs/webhooks.py). If Redis is down the row stays pending and the periodic
   sweep queues it once Redis is back.

Processing runs the source's processor (registered by the source with `register_processor`) on
the stored body and records success or failure on the row; `replay` runs it again on demand.
The log is kept for WEBHOOK_RETENTION_DAYS (`expire`, a periodic job).
"""
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import islice
from typing import Callable, Mapping

from flask import current_app
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from .. import signals
from ..extensions import db
from ..logs import log_event
from ..models import GAVE_UP, Call, ProcessedWebhook, WebhookDelivery, utcnow

PREVIEW_CAP = 4 * 1024  # bytes kept of a body until its sender is verified (and of one over the size limit)
HEADERS_CAP = 8 * 1024  # characters of names and values kept of a request's headers
HEADER_VALUE_CAP = 2000
MAX_HEADERS = 100
ID_CAP = 200  # length of the webhook_id columns
ABANDONED_AFTER = timedelta(minutes=10)
SENSITIVE_HEADERS = {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key"}
SENSITIVE_WORDS = ("secret", "token", "signature", "password")
REDACTED = "[redacted]"
TRUNCATED_HEADERS = "(truncated)"


@dataclass(frozen=True)
class Verdict:
    """What a judge learnt from a request it accepts."""

    webhook_id: str
    user_id: int | None = None


class Rejected(Exception):
    """A judge refuses a request; `status`, `code` and the message go back to the sender."""

    def __init__(self, status: int, code: str, message: str, signature_valid: bool | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.signature_valid = status, code, message, signature_valid


class ProcessingFailed(Exception):
    """A verified delivery cannot be processed as things stand; replay it once the cause is fixed."""


class ReplayRefused(Exception):
    """The delivery does not exist or was never verified; the message is safe to show."""


@dataclass(frozen=True)
class Answer:
    status: int
    code: str
    message: str
    delivery_id: int | None = None


Judge = Callable[[Mapping[str, str], bytes], Verdict]
# Takes a locked WebhookDelivery and returns the (unsaved) Call or None; raises ProcessingFailed when
# the delivery cannot be processed as things stand.
Processor = Callable[[WebhookDelivery], Call | None]
_processors: dict[str, Processor] = {}


def register_processor(source: str, processor: Processor) -> None:
    """A source's processor for its stored deliveries (each source registers in its init_app)."""
    _processors[source] = processor


def receive(source: str, endpoint: str, headers: Mapping[str, str], body: bytes, judge: Judge) -> Answer:
    """Log, judge, claim and enqueue one request (see the module docstring for why in this order).

    The log row and the claim are written with Core statements on one pooled connection: the
    intake is the hot path of a webhook burst, and the ORM's unit of work and a pool checkout
    (with its pre-ping) per transaction were most of its cost.
    """
    try:
        with db.engine.connect() as connection:
            delivery_id = _log(source, endpoint, headers, body, PREVIEW_CAP, connection=connection, durable=False)
            try:
                verdict = judge(headers, body)
                if len(verdict.webhook_id) > ID_CAP or "\x00" in verdict.webhook_id:
                    raise Rejected(400, "bad_webhook_id", f"webhook-id must be at most {ID_CAP} printable characters",
                                   signature_valid=True)
            except Rejected as exc:
                _set(connection, delivery_id, status="rejected", error_message=exc.message,
                     signature_valid=exc.signature_valid)
                connection.commit()
                return Answer(exc.status, exc.code, exc.message, delivery_id)
            duplicate = _claim(connection, source, delivery_id, verdict, body)
    except SQLAlchemyError as exc:
        db.session.rollback()
        log_event("webhook_intake_database_error", logging.ERROR, source=source, error=type(exc).__name__)
        return Answer(503, "unavailable", "the database is unavailable; retry later")
    if duplicate:
        return Answer(200, "duplicate", duplicate, delivery_id)
    signals.delivery_accepted.send(None, delivery_id=delivery_id)
    return Answer(202, "accepted", "stored; it is processed in the background", delivery_id)


def reject_oversized(source: str, endpoint: str, headers: Mapping[str, str], preview: bytes,
                     size: int | None) -> Answer:
    """Log a request whose body is over MAX_CONTENT_LENGTH: its headers, size and first bytes."""
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    message = (f"the body is {size} bytes; the limit is {limit}" if size
               else f"the body is larger than the limit of {limit} bytes")
    try:
        delivery_id = _log(source, endpoint, headers, preview, PREVIEW_CAP, size=size or limit + 1,
                           status="rejected", error_message=message)
    except SQLAlchemyError as exc:
        db.session.rollback()
        log_event("webhook_intake_database_error", logging.ERROR, source=source, error=type(exc).__name__)
        delivery_id = None
    return Answer(413, "too_large", message, delivery_id)


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Headers fit to store and show: secrets and signatures replaced, sizes capped."""
    kept: dict[str, str] = {}
    room = HEADERS_CAP
    for name, value in islice(headers.items(), MAX_HEADERS):
        lowered = name.lower()
        if lowered in SENSITIVE_HEADERS or any(word in lowered for word in SENSITIVE_WORDS):
            value = REDACTED
        name, value = _clean(name, 200), _clean(value, HEADER_VALUE_CAP)
        room -= len(name) + len(value)
        if room < 0:
            kept[TRUNCATED_HEADERS] = "further headers were not stored"
            break
        kept[name] = f"{kept[name]}, {value}" if name in kept else value
    return kept


def process(delivery_id: int, replay: bool = False) -> WebhookDelivery | None:
    """Run the source's processor on a stored delivery and record the outcome on its row.

    Without `replay` only a pending delivery is processed, so a job that was queued twice
    (by the web process and by the sweeper) does the work once.
    """
    query = (select(WebhookDelivery).where(WebhookDelivery.id == delivery_id).with_for_update()
             .execution_options(populate_existing=True))
    delivery = db.session.scalars(query).first()
    if delivery is None or (not replay and delivery.status != "pending"):
        db.session.rollback()
        return delivery
    try:
        call = _processors[delivery.source](delivery)
    except ProcessingFailed as exc:
        return _record_failure(delivery_id, str(exc))
    except Exception as exc:  # anything a sender put in a body must end as "failed", not stuck pending
        log_event("webhook_processing_error", logging.ERROR, delivery_id=delivery_id, error=type(exc).__name__)
        return _record_failure(delivery_id, f"unexpected error: {_describe(exc)}")
    delivery.status, delivery.error_message = "success", None
    if call is not None:  # a bot state change stores no call
        delivery.call_id, delivery.user_id = call.id, call.owner_id
    delivery.attempts += 1
    delivery.processed_at = utcnow()
    db.session.commit()  # the call and the delivery's success in one transaction
    return delivery


def replay(delivery_id: int) -> WebhookDelivery:
    """Process a stored delivery again now, whatever its status, if its signature was verified."""
    delivery = db.session.get(WebhookDelivery, delivery_id)
    if delivery is None:
        raise ReplayRefused(f"there is no webhook delivery {delivery_id}")
    if not delivery.signature_valid:
        raise ReplayRefused(f"delivery {delivery_id} was {delivery.status} without a verified signature, "
                            "so it cannot be replayed")
    if delivery.body_truncated:
        raise ReplayRefused(f"delivery {delivery_id} was {delivery.status}: only its first {delivery.body_cap} bytes "
                            "were kept, so it cannot be replayed" + (f" ({delivery.error_message})"
                                                                    if delivery.error_message else ""))
    return process(delivery_id, replay=True)


def claimed_pending(limit: int = 500) -> list[int]:
    """Claimed (signature-verified) deliveries still pending: their job never ran (Redis was down), is
    waiting its turn, or died. The sweep job requeues those whose job is not alive in Redis."""
    return list(db.session.scalars(
        select(WebhookDelivery.id).where(WebhookDelivery.status == "pending", WebhookDelivery.signature_valid.is_(True))
        .order_by(WebhookDelivery.id).limit(limit)))


def lost_attempt(delivery_id: int) -> bool:
    """A pending delivery's job was lost (its worker died mid-job): count the attempt. True if it may
    be queued again, False once WEBHOOK_MAX_ATTEMPTS were lost and it is given up as failed (listed
    on the dashboard; replay it once the cause is fixed)."""
    limit = current_app.config["WEBHOOK_MAX_ATTEMPTS"]
    pending = (WebhookDelivery.id == delivery_id, WebhookDelivery.status == "pending")
    db.session.execute(update(WebhookDelivery).where(*pending).values(attempts=WebhookDelivery.attempts + 1))
    attempts = db.session.scalar(select(WebhookDelivery.attempts).where(WebhookDelivery.id == delivery_id))
    if attempts is None or attempts < limit:
        db.session.commit()
        return attempts is not None
    db.session.execute(update(WebhookDelivery).where(*pending).values(
        status="failed", processed_at=utcnow(),
        error_message=f"{GAVE_UP}its processing was cut off {attempts} times (the worker was killed, or ran out "
                      "of memory); replay it once the cause is fixed"))
    db.session.commit()
    log_event("webhook_delivery_gave_up", logging.WARNING, delivery_id=delivery_id, attempts=attempts)
    return False


def sweep(requeued: int = 0, gave_up: int = 0) -> dict:
    """Fail deliveries abandoned before they were judged: a row still unjudged after ABANDONED_AFTER
    belongs to a request that crashed before its 2xx, and the sender has retried it."""
    abandoned = db.session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.status == "pending", WebhookDelivery.signature_valid.is_(None),
               WebhookDelivery.received_at < utcnow() - ABANDONED_AFTER)
        .values(status="failed", error_message="abandoned before it was judged; the sender will have retried it")
    ).rowcount
    db.session.commit()
    if requeued or abandoned or gave_up:
        log_event("webhook_sweep", requeued=requeued, abandoned=abandoned, gave_up=gave_up)
    return {"requeued": requeued, "abandoned": abandoned, "gave_up": gave_up}


# Senders retry a message under its same webhook id for a while (Svix, behind Standard Webhooks,
# for about a day and a half): a claim must outlive that, or a late retry would be processed again.
CLAIMS_KEPT_AT_LEAST = timedelta(days=7)
EXPIRE_BATCH = 2000


def expire(now: datetime | None = None) -> dict:
    """Delete deliveries received more than WEBHOOK_RETENTION_DAYS ago, in batches, and webhook-id
    claims as old, but never younger than CLAIMS_KEPT_AT_LEAST. How many of each."""
    now = now or utcnow()
    retention = timedelta(days=current_app.config["WEBHOOK_RETENTION_DAYS"])
    deleted = 0
    while True:
        ids = list(db.session.scalars(select(WebhookDelivery.id).where(WebhookDelivery.received_at < now - retention)
                                      .order_by(WebhookDelivery.id).limit(EXPIRE_BATCH)))
        if not ids:
            break
        db.session.execute(update(ProcessedWebhook).where(ProcessedWebhook.delivery_id.in_(ids))
                           .values(delivery_id=None).execution_options(synchronize_session=False))
        deleted += db.session.execute(delete(WebhookDelivery).where(WebhookDelivery.id.in_(ids))
                                      .execution_options(synchronize_session=False)).rowcount
        db.session.commit()
    claims = db.session.execute(delete(ProcessedWebhook).where(
        ProcessedWebhook.claimed_at < now - max(retention, CLAIMS_KEPT_AT_LEAST))
        .execution_options(synchronize_session=False)).rowcount
    db.session.commit()
    if deleted or claims:
        log_event("webhook_log_expired", deliveries=deleted, claims=claims)
    return {"deliveries": deleted, "claims": claims}


# --- helpers -------------------------------------------------------------------------------------

def _log(source, endpoint, headers, body: bytes, cap: int, size: int | None = None, connection=None,
         durable: bool = True, **state) -> int:
    """Insert and commit the delivery's row; returns its id. Core applies the model's column
    defaults (received_at, status "pending", attempts), as the ORM would.

    With durable=False (PostgreSQL) the commit does not wait for the WAL flush. Nothing is lost by
    that: every answer is given only after a later synchronous commit on the same server (the
    rejection, the duplicate mark or the claim), and PostgreSQL flushes the WAL in order, so the
    row is on disk before the sender hears anything. A crash in between loses a row whose sender
    got no answer and will retry.
    """
    if connection is None:
        with db.engine.connect() as own:
            return _log(source, endpoint, headers, body, cap, size, connection=own, durable=durable, **state)
    values = dict(source=source, endpoint=_clean(endpoint, 200),
                  webhook_id=_clean(headers.get("webhook-id"), ID_CAP), headers=redact_headers(headers),
                  body=_clean(body[:cap].decode("utf-8", errors="replace")),
                  body_size=len(body) if size is None else size, body_cap=cap, **state)
    if not durable and connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
    table = WebhookDelivery.__table__
    delivery_id = connection.execute(insert(table).values(**values).returning(table.c.id)).scalar_one()
    connection.commit()
    return delivery_id


def _claim(connection, source: str, delivery_id: int, verdict: Verdict, body: bytes) -> str | None:
    """Claim the webhook id for this delivery, storing its full body with the claim: None if it won,
    else why it is a duplicate (a duplicate keeps its preview; the original has the body)."""
    accepted = {"webhook_id": verdict.webhook_id, "user_id": verdict.user_id, "signature_valid": True}
    try:
        _set(connection, delivery_id, body=_clean(body.decode("utf-8", errors="replace")), body_cap=len(body),
             **accepted)
        connection.execute(insert(ProcessedWebhook.__table__).values(
            source=source, webhook_id=verdict.webhook_id, delivery_id=delivery_id))
        connection.commit()
        return None
    except IntegrityError:
        connection.rollback()
    original = connection.scalar(select(ProcessedWebhook.delivery_id)
                                 .filter_by(source=source, webhook_id=verdict.webhook_id))
    message = f"already received as delivery {original}" if original else "already received"
    _set(connection, delivery_id, status="duplicate", error_message=message, **accepted)
    connection.commit()
    return message


def _set(connection, delivery_id: int, **values) -> None:
    connection.execute(update(WebhookDelivery.__table__).where(WebhookDelivery.__table__.c.id == delivery_id)
                       .values(**values))


def _update(delivery_id: int, **values) -> None:
    db.session.execute(update(WebhookDelivery).where(WebhookDelivery.id == delivery_id).values(**values))
    db.session.commit()


def _record_failure(delivery_id: int, message: str) -> WebhookDelivery:
    db.session.rollback()
    _update(delivery_id, status="failed", error_message=message, attempts=WebhookDelivery.attempts + 1,
            processed_at=utcnow())
    return db.session.get(WebhookDelivery, delivery_id, populate_existing=True)


def _describe(exc: Exception) -> str:
    first_line = (str(exc).splitlines() or [""])[0]
    return f"{type(exc).__name__}: {first_line}"[:500]


def _clean(value: str | None, limit: int | None = None) -> str | None:
    """PostgreSQL text cannot hold NUL characters; columns have lengths."""
    if value is None:
        return None
    return value.replace("\x00", "\ufffd")[:limit]
