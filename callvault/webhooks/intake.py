"""Incoming webhooks from any source: judge, keep durably with the verdict, answer; record and process later.

What makes a 2xx safe to give:

1. The source's *judge* verifies the signature and checks the body, in memory (a personal
   webhook's judge reads its key's row). A refusal is answered 4xx (or 503 when our own
   configuration is at fault); a judge that raises is answered 503 (the sender retries).
2. Whatever the verdict, the request is kept *before* any answer, as one log entry: until the sender
   is verified only a bounded preview (headers redacted and capped at HEADERS_CAP characters, the
   body's first PREVIEW_CAP bytes), so unsigned requests cannot fill anything; a verified one with
   its whole body. Every request leaves exactly one entry, and every entry becomes exactly one
   webhook_deliveries row (its `receipt` is unique).
3. Where it is kept (WEBHOOK_INTAKE):
   - *redis* (with REDIS_URL): one MULTI … EXEC puts the entry on the Redis inbox stream and claims
     the webhook id (SET NX): the copy that wins is answered 202, the others 200 "duplicate"
     (`inbox.py`). The workers' `drain_inbox` records the entries oldest first in batches, one
     transaction per batch (rows and claims), deletes them from the stream only after the commit,
     then processes the batch's accepted deliveries in one more transaction.
   - *database* (the in-process queue, and whenever Redis cannot take the entry): the row and the
     claim in one transaction, committed before the answer; `signals.delivery_accepted` then queues
     the processing job (if Redis is down the row stays pending and the periodic sweep queues it).
   Either way the claim in processed_webhooks (a unique constraint, not a check-then-insert) is the
   authority: of several copies, across processes and across both ways, exactly one is processed.

Processing runs the source's processor (registered by the source with `register_processor`) on
the stored body and records success or failure on the row; `replay` runs it again on demand.
The log is kept for WEBHOOK_RETENTION_DAYS (`expire`, a periodic job).
"""
import logging
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import islice
from typing import Callable, Mapping

import redis
from flask import current_app
from sqlalchemy import delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from .. import signals
from ..extensions import db
from ..logs import log_event
from ..models import GAVE_UP, Call, ProcessedWebhook, User, WebhookDelivery, utcnow
from ..queues import redis_lock
from . import inbox

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
# Senders retry a message under its same webhook id for a while (Svix, behind Standard Webhooks,
# for about a day and a half): a claim must outlive that, or a late retry would be processed again.
CLAIMS_KEPT_AT_LEAST = timedelta(days=7)
RECORDER_LEASE_SECONDS = 120  # a recorder that died holding the inbox lets the next one in after this
RECORDER_WAIT_SECONDS = 30


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
    delivery_id: int | None = None  # known when the row was written on the request path
    receipt: str | None = None      # always: the log row's `receipt`


@dataclass(frozen=True)
class Recorded:
    """What recording one entry made of it: its row's id and status."""

    delivery_id: int
    status: str
    message: str | None = None


Judge = Callable[[Mapping[str, str], bytes], Verdict]
# Takes a locked WebhookDelivery and returns the (unsaved) Call or None; raises ProcessingFailed when
# the delivery cannot be processed as things stand. It must not commit: the intake commits its work
# with the delivery's outcome (several deliveries in one transaction, each in a savepoint).
Processor = Callable[[WebhookDelivery], Call | None]
_processors: dict[str, Processor] = {}


def register_processor(source: str, processor: Processor) -> None:
    """A source's processor for its stored deliveries (each source registers in its init_app)."""
    _processors[source] = processor


def receive(source: str, endpoint: str, headers: Mapping[str, str], body: bytes, judge: Judge) -> Answer:
    """Judge one request, keep it with its verdict, answer (see the module docstring for why in this order)."""
    try:
        verdict = judge(headers, body)
        if len(verdict.webhook_id) > ID_CAP or "\x00" in verdict.webhook_id:
            raise Rejected(400, "bad_webhook_id", f"webhook-id must be at most {ID_CAP} printable characters",
                           signature_valid=True)
    except Rejected as exc:
        entry = _entry(source, endpoint, headers, body, PREVIEW_CAP, status="rejected", error_message=exc.message,
                       signature_valid=exc.signature_valid)
        return _keep(entry, Answer(exc.status, exc.code, exc.message))
    except Exception as exc:  # a judge's bug or an unreachable database: logged all the same, and retried
        db.session.rollback()
        log_event("webhook_judge_error", logging.ERROR, source=source, error=type(exc).__name__)
        entry = _entry(source, endpoint, headers, body, PREVIEW_CAP, status="failed",
                       error_message=f"it could not be judged ({_describe(exc)}); the sender was asked to retry")
        return _keep(entry, Answer(503, "unavailable", "the request could not be judged now; retry later"))
    entry = _entry(source, endpoint, headers, body, len(body), status="pending", signature_valid=True,
                   webhook_id=verdict.webhook_id, user_id=verdict.user_id)
    return _keep(entry, None)


def uses_inbox() -> bool:
    """Whether judged requests go to the Redis inbox (WEBHOOK_INTAKE) rather than straight to the database."""
    intake = current_app.config["WEBHOOK_INTAKE"]
    return intake == "redis" or (intake == "auto" and not current_app.config["INPROCESS_QUEUE"])


def _keep(entry: dict, judged: Answer | None) -> Answer:
    """Keep the entry (the inbox, else the database) and give the answer: `judged` for a refusal, else
    202 for the copy that claimed the webhook id and 200 "duplicate" for the others."""
    if uses_inbox():
        claim = (entry["source"], entry["webhook_id"]) if judged is None else None
        try:
            won, drain_due = inbox.push(entry, claim, int(CLAIMS_KEPT_AT_LEAST.total_seconds()))
        except redis.RedisError as exc:  # nothing is lost: the database takes it, as without Redis
            log_event("webhook_inbox_unavailable", logging.WARNING, source=entry["source"], error=type(exc).__name__)
        else:
            if drain_due:
                signals.webhook_inbox_due.send(None)
            if judged is not None:
                return _with(judged, receipt=entry["receipt"])
            if won:
                return _accepted(None, entry["receipt"])
            return Answer(200, "duplicate", "already received", receipt=entry["receipt"])
    try:
        [recorded] = record([entry])
    except SQLAlchemyError as exc:
        db.session.rollback()
        log_event("webhook_intake_database_error", logging.ERROR, source=entry["source"], error=type(exc).__name__)
        return Answer(503, "unavailable", "the database is unavailable; retry later")
    if judged is not None:
        return _with(judged, delivery_id=recorded.delivery_id, receipt=entry["receipt"])
    if recorded.status == "duplicate":
        return Answer(200, "duplicate", recorded.message, recorded.delivery_id, entry["receipt"])
    signals.delivery_accepted.send(None, delivery_id=recorded.delivery_id)
    return _accepted(recorded.delivery_id, entry["receipt"])


def _accepted(delivery_id: int | None, receipt: str) -> Answer:
    """The 202 for the copy that claimed its webhook id (no delivery id yet on the inbox way)."""
    return Answer(202, "accepted", "stored; it is processed in the background", delivery_id, receipt)


def _with(answer: Answer, **fields) -> Answer:
    return Answer(**{**answer.__dict__, **fields})


def record(entries: list[dict]) -> list[Recorded]:
    """Write the entries as webhook_deliveries rows, claiming the verified ones' webhook ids, in one
    committed transaction. An entry whose receipt already has a row (recorded before a crash kept it
    in the inbox) is not written again. Of several copies, the first to claim is pending and keeps its
    body; the others are duplicates and keep their preview."""
    table, claims = WebhookDelivery.__table__, ProcessedWebhook.__table__
    receipts = [entry["receipt"] for entry in entries]
    named = {entry["user_id"] for entry in entries if entry.get("user_id") is not None}
    # A personal webhook's user deleted since the request was judged: the row names nobody (its
    # processing then says so) rather than the batch failing on the foreign key for ever.
    users = set(db.session.scalars(select(User.id).where(User.id.in_(named)))) if named else set()
    known = {receipt: (delivery_id, status) for receipt, delivery_id, status in db.session.execute(
        select(table.c.receipt, table.c.id, table.c.status).where(table.c.receipt.in_(receipts)))}
    recorded = []
    for entry in entries:
        if entry["receipt"] in known:
            delivery_id, status = known[entry["receipt"]]
            recorded.append(Recorded(delivery_id, status))
            continue
        values = _row_values(entry)
        if values.get("user_id") not in users:
            values["user_id"] = None
        delivery_id = db.session.execute(insert(table).values(**values).returning(table.c.id)).scalar_one()
        status, message = values["status"], values.get("error_message")
        if status == "pending":
            claimed = db.session.execute(_insert_claim(source=values["source"], webhook_id=values["webhook_id"],
                                                       delivery_id=delivery_id)).scalar()
            if claimed is None:
                original = db.session.scalar(select(claims.c.delivery_id).where(
                    claims.c.source == values["source"], claims.c.webhook_id == values["webhook_id"]))
                status = "duplicate"
                message = f"already received as delivery {original}" if original else "already received"
                db.session.execute(update(table).where(table.c.id == delivery_id).values(
                    status=status, error_message=message, body=values["body"][:PREVIEW_CAP],
                    body_cap=PREVIEW_CAP))
        recorded.append(Recorded(delivery_id, status, message))
    db.session.commit()
    return recorded


def drain_inbox(batch_size: int | None = None) -> dict:
    """Record the inbox's entries oldest first, a batch at a time, and process each batch's accepted
    deliveries. The processing of a batch runs outside the recorder's lock, beside the next batch's
    recording by another worker (asked to join when entries remain). How many of each outcome."""
    batch_size = batch_size or current_app.config["WEBHOOK_DRAIN_BATCH"]
    inbox.drain_started()
    counts = Counter()
    while (recorded := record_from_inbox(batch_size)) or _more_arrive(current_app.config["WEBHOOK_DRAIN_LINGER_SECONDS"]):
        counts["recorded"] += len(recorded)
        counts.update(process_many([r.delivery_id for r in recorded if r.status == "pending"]))
    return dict(counts)


def _more_arrive(seconds: float, poll_seconds: float = 0.05) -> bool:
    """Whether requests reach the empty inbox within `seconds`: during a burst the drain stays on the
    inbox rather than handing its worker to slower queued work (a search enrichment) between requests."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if inbox.waiting():
            return True
        time.sleep(poll_seconds)
    return False


def record_from_inbox(batch_size: int) -> list[Recorded]:
    """Record the inbox's oldest `batch_size` entries (one transaction) and only then delete them from
    it; [] when it is empty. One recorder at a time, so copies are recorded in the order Redis claimed
    them (the winner of SET NX was appended first)."""
    with redis_lock(inbox.INBOX_LOCK, RECORDER_LEASE_SECONDS, RECORDER_WAIT_SECONDS) as held:
        entries = inbox.read(batch_size) if held else []
        if not entries:
            return []
        recorded = _record_entries(entries)
        inbox.remove([entry_id for entry_id, _ in entries])
        more = inbox.waiting() > 0
    if more and inbox.request_drain():
        signals.webhook_inbox_due.send(None)  # another worker records the next batch meanwhile
    return recorded


def _record_entries(entries: list[tuple[str, dict | None]]) -> list[Recorded]:
    """`record` the batch in one transaction; if that fails, entry by entry, and an entry that fails on
    its own while the database answers is set aside (inbox.set_aside, logged): left in the inbox it
    would stop every entry behind it, for ever. A database that does not answer raises: the entries
    stay in the inbox for a later drain."""
    readable = []
    for entry_id, entry in entries:
        if entry is None:
            _set_aside(entry_id, "the inbox entry is not a JSON object")
        else:
            readable.append((entry_id, entry))
    if not readable:
        return []
    try:
        return record([entry for _, entry in readable])
    except Exception:  # which entry, if any, is at fault is found one at a time
        db.session.rollback()
    recorded = []
    for entry_id, entry in readable:
        try:
            recorded += record([entry])
        except Exception as exc:
            db.session.rollback()
            db.session.execute(select(1))  # raises if the database is away: nothing is set aside then
            _set_aside(entry_id, _describe(exc))
    return recorded


def _set_aside(entry_id: str, error: str) -> None:
    inbox.set_aside(entry_id, error)
    log_event("webhook_inbox_entry_set_aside", logging.ERROR, entry_id=entry_id, error=error,
              kept_in=inbox.DEAD_LETTERS)


def waiting_in_inbox() -> int | None:
    """Requests answered but not yet recorded as rows (None without the inbox, or when Redis is unreachable)."""
    if not uses_inbox():
        return None
    try:
        return inbox.waiting()
    except redis.RedisError:
        return None


def reject_oversized(source: str, endpoint: str, headers: Mapping[str, str], preview: bytes,
                     size: int | None) -> Answer:
    """Log a request whose body is over MAX_CONTENT_LENGTH: its headers, size and first bytes."""
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    message = (f"the body is {size} bytes; the limit is {limit}" if size
               else f"the body is larger than the limit of {limit} bytes")
    entry = _entry(source, endpoint, headers, preview, PREVIEW_CAP, size=size or limit + 1, status="rejected",
                   error_message=message)
    return _keep(entry, Answer(413, "too_large", message))


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
    _succeeded(delivery, call)
    db.session.commit()  # the call and the delivery's success in one transaction
    return delivery


def process_many(delivery_ids: list[int]) -> Counter:
    """Process several accepted deliveries in one transaction: their calls and their successes commit
    together. If one of them cannot be processed, that transaction is rolled back and each is processed
    on its own (`process`), so a failure is recorded on its delivery only. (A savepoint per delivery
    would isolate failures too, at two more round trips each for the common case that none fails.)
    Deliveries another job holds are skipped: it processes them. How many ended in each status."""
    if not delivery_ids:
        return Counter()
    query = (select(WebhookDelivery).where(WebhookDelivery.id.in_(delivery_ids), WebhookDelivery.status == "pending")
             .order_by(WebhookDelivery.id).with_for_update(skip_locked=True)
             .execution_options(populate_existing=True))
    deliveries = db.session.scalars(query).all()
    locked = [delivery.id for delivery in deliveries]
    try:
        for delivery in deliveries:
            _succeeded(delivery, _processors[delivery.source](delivery))
    except Exception:  # ProcessingFailed, or anything a sender put in a body: one at a time, to record it
        db.session.rollback()
        return Counter(getattr(process(delivery_id), "status", None) for delivery_id in locked)
    counts = Counter(delivery.status for delivery in deliveries)  # before the commit expires them
    db.session.commit()  # the calls and their deliveries' outcomes
    return counts


def _succeeded(delivery: WebhookDelivery, call: Call | None) -> None:
    delivery.status, delivery.error_message = "success", None
    if call is not None:  # a bot state change stores no call
        delivery.call_id, delivery.user_id = call.id, call.owner_id
    delivery.attempts += 1
    delivery.processed_at = utcnow()


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
    waiting its turn, or died. The sweep job requeues those whose job is not alive in Redis. Rows another
    transaction holds are being processed (a drain's batch has no job per delivery): skipped, or each
    requeued job would wait on its row's lock for the batch to commit, its worker idle meanwhile."""
    pending = list(db.session.scalars(
        select(WebhookDelivery.id).where(WebhookDelivery.status == "pending", WebhookDelivery.signature_valid.is_(True))
        .order_by(WebhookDelivery.id).limit(limit).with_for_update(skip_locked=True)))
    db.session.commit()  # the locks go: each job takes its own
    return pending


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

def _entry(source: str, endpoint: str, headers: Mapping[str, str], body: bytes, cap: int, size: int | None = None,
           **state) -> dict:
    """The log entry of one request: what its row will hold (JSON-ready), the body cut at `cap` bytes."""
    fields = {"webhook_id": _clean(headers.get("webhook-id"), ID_CAP), **state}
    return {"receipt": uuid.uuid4().hex, "received_at": utcnow().isoformat(), "source": source,
            "endpoint": _clean(endpoint, 200), "headers": redact_headers(headers),
            "body": _clean(body[:cap].decode("utf-8", errors="replace")),
            "body_size": len(body) if size is None else size, "body_cap": cap,
            **fields}


def _row_values(entry: dict) -> dict:
    return {**entry, "received_at": datetime.fromisoformat(entry["received_at"])}


def _insert_claim(**values):
    """INSERT a claim returning its id, or nothing when the webhook id is claimed already."""
    dialect = postgresql if db.session.get_bind().dialect.name == "postgresql" else sqlite
    table = ProcessedWebhook.__table__
    return (dialect.insert(table).values(**values)
            .on_conflict_do_nothing(index_elements=["source", "webhook_id"]).returning(table.c.id))


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
