"""Delivering one CallExport to its target and recording what happened."""
import json
import secrets
from datetime import timedelta

from flask import current_app
from sqlalchemy import or_, select, update

from ..calls.serialize import call_to_json
from ..extensions import db
from ..logs import log_event
from ..models import Call, CallExport, OutgoingWebhook, utcnow
from . import ExportError, hub, webhooks

LEASE = timedelta(minutes=15)  # longer than the slowest delivery; a crashed worker's lease lapses
MAX_BACKOFF = timedelta(hours=6)


def retry_delay(attempts: int) -> timedelta:
    """1, 2, 4 … × EXPORT_RETRY_BASE_SECONDS, at most six hours."""
    base = timedelta(seconds=current_app.config["EXPORT_RETRY_BASE_SECONDS"])
    return min(base * 2 ** max(0, attempts - 1), MAX_BACKOFF)


def _claim(export_id: int) -> bool:
    now = utcnow()
    result = db.session.execute(
        update(CallExport)
        .where(CallExport.id == export_id, or_(CallExport.locked_until.is_(None), CallExport.locked_until < now))
        .values(locked_until=now + LEASE))
    db.session.commit()
    return result.rowcount == 1


def run_export(export_id: int) -> str | None:
    """Deliver the call to the export's target unless it already holds this content.

    Returns the export's status afterwards, or None when another worker holds it. If the call
    changes while it is being delivered, it is delivered again with the new content.
    """
    if not _claim(export_id):
        return None
    try:
        for _ in range(3):
            export = db.session.get(CallExport, export_id)
            if export is None:
                return None
            call = export.call
            if export.status == "done" and export.exported_fingerprint == call.content_hash:
                return "done"
            if _deliver_and_record(export, call):
                return export.status
        return export.status
    finally:
        db.session.rollback()
        db.session.execute(update(CallExport).where(CallExport.id == export_id).values(locked_until=None))
        db.session.commit()


def _deliver_and_record(export: CallExport, call: Call) -> bool:
    """One delivery. False when the call changed meanwhile (its outcome is then not recorded)."""
    fingerprint, target, first = call.content_hash, export.target, export.exported_at is None
    owner_email = call.owner.email
    meeting = call_to_json(call, call.segments.all())
    db.session.commit()  # end the read transaction: the delivery may take a while
    now = utcnow()
    try:
        if target == "database":
            hub.upsert_meeting(current_app.config["EXPORT_DATABASE_URL"], meeting, owner_email, fingerprint)
        else:
            _send_webhook(call.id, fingerprint, "call.created" if first else "call.updated", meeting)
        error = None
    except ExportError as exc:
        error = str(exc)
    export = db.session.get(CallExport, export.id)
    if error is None:
        superseded = db.session.execute(
            update(CallExport).where(CallExport.id == export.id, CallExport.fingerprint == fingerprint)
            .values(status="done", exported_fingerprint=fingerprint, exported_at=now, last_attempt_at=now,
                    attempts=0, last_error=None, next_attempt_at=None)).rowcount == 0
        if superseded:  # the target holds the call now: the newer content goes as call.updated
            db.session.execute(update(CallExport).where(CallExport.id == export.id, CallExport.exported_at.is_(None))
                               .values(exported_at=now))
        db.session.commit()
        log_event("export_delivered", target=target, call_id=export.call_id, superseded=superseded)
        return not superseded
    export.status = "failed"
    export.attempts += 1
    export.last_error = error[:1000]
    export.last_attempt_at = now
    export.next_attempt_at = now + retry_delay(export.attempts)
    db.session.commit()
    log_event("export_failed", target=target, call_id=export.call_id, attempts=export.attempts, error=error[:200])
    return True


def _send_webhook(call_id: int, fingerprint: str, event_type: str, meeting: dict) -> None:
    """Send one event, logged in OutgoingWebhook. A retry of the same content reuses its message id."""
    config = current_app.config
    url = config["EXPORT_WEBHOOK_URL"]
    delivery = db.session.scalars(
        select(OutgoingWebhook).where(OutgoingWebhook.call_id == call_id, OutgoingWebhook.fingerprint == fingerprint,
                                      OutgoingWebhook.event_type == event_type,
                                      OutgoingWebhook.status != "success")
        .order_by(OutgoingWebhook.id.desc())).first()
    if delivery is None:
        delivery = OutgoingWebhook(message_id="msg_" + secrets.token_hex(12), call_id=call_id,
                                   event_type=event_type, fingerprint=fingerprint)
        db.session.add(delivery)
    delivery.endpoint = webhooks.public_endpoint(url)
    delivery.status = "pending"
    db.session.commit()
    body = json.dumps({"type": event_type, "timestamp": utcnow().isoformat().replace("+00:00", "Z"),
                       "data": meeting}, ensure_ascii=False)

    def log_attempt(attempt: webhooks.Attempt) -> None:
        delivery.attempts += 1
        delivery.response_code = attempt.status_code
        delivery.error = attempt.error
        delivery.last_attempt_at = utcnow()
        delivery.status = "success" if attempt.ok else "failed"
        if attempt.ok:
            delivery.delivered_at = delivery.last_attempt_at
        db.session.commit()

    try:
        attempt = webhooks.post(url, config["EXPORT_WEBHOOK_SECRET"], delivery.message_id, body,
                                attempts=config["EXPORT_WEBHOOK_ATTEMPTS"],
                                backoff=config["EXPORT_WEBHOOK_BACKOFF_SECONDS"],
                                timeout=config["EXPORT_WEBHOOK_TIMEOUT_SECONDS"], on_attempt=log_attempt)
    except ExportError as exc:
        delivery.status, delivery.error = "failed", str(exc)
        db.session.commit()
        raise
    if not attempt.ok:
        raise ExportError(f"webhook: {attempt.error}")
