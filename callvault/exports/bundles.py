"""Bulk export: a zip of one user's calls in the formats they chose, built by a job with progress.

The zip is stored in the database in 1 MiB chunks, so the web process that serves the download
need not share a disk with the worker that built it. Bundles expire after EXPORT_BUNDLE_TTL_DAYS.
"""
import re
import tempfile
import zipfile
from datetime import timedelta

import redis
from flask import current_app
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import selectinload

from .. import signals
from ..calls import formats
from ..calls.serialize import call_to_json
from ..extensions import db
from ..logs import log_event
from ..models import Call, ExportBundle, ExportBundleChunk, User, utcnow

CHUNK_BYTES = 1024 * 1024
BATCH = 50


class BundleError(ValueError):
    """A bundle request that cannot be honoured; the message is safe to show."""


def start(user: User, chosen_formats) -> ExportBundle:
    chosen = [f for f in formats.FORMATS if f in set(chosen_formats or ())]
    if not chosen:
        raise BundleError(f"choose at least one format: {', '.join(formats.FORMATS)}")
    bundle = ExportBundle(user_id=user.id, formats=chosen, status="queued")
    db.session.add(bundle)
    db.session.commit()
    try:
        bundle.rq_job_id = signals.request(signals.bundle_requested, bundle_id=bundle.id).id
    except redis.RedisError:
        bundle.status, bundle.error = "failed", "the job queue is unreachable; try again in a minute"
    db.session.commit()
    return bundle


def _filename(call: Call, fmt: str) -> str:
    title = re.sub(r"[^\w .,()'&-]+", "_", call.title).strip(" ._")[:80] or "Untitled"
    return f"{fmt}/{call.started_at:%Y-%m-%d} {title} [{call.id}].{fmt}"


def build(bundle_id: int) -> str:
    bundle = db.session.get(ExportBundle, bundle_id)
    if bundle is None or bundle.status not in ("queued", "running"):
        return bundle.status if bundle else "missing"
    user_id, chosen = bundle.user_id, list(bundle.formats)
    bundle.status, bundle.done, bundle.error = "running", 0, None
    bundle.total = db.session.scalar(select(func.count()).select_from(Call).where(Call.owner_id == user_id))
    db.session.commit()
    try:
        with tempfile.SpooledTemporaryFile(max_size=32 * CHUNK_BYTES) as spool:
            _write_zip(spool, bundle_id, user_id, chosen)
            size = _store_chunks(spool, bundle_id)
    except Exception as exc:  # recorded for the user, then re-raised for the job log
        db.session.rollback()
        db.session.execute(update(ExportBundle).where(ExportBundle.id == bundle_id).values(
            status="failed", error=f"the export failed ({type(exc).__name__}); try again", finished_at=utcnow()))
        db.session.commit()
        raise
    now = utcnow()
    db.session.execute(update(ExportBundle).where(ExportBundle.id == bundle_id).values(
        status="done", size_bytes=size, finished_at=now,
        expires_at=now + timedelta(days=current_app.config["EXPORT_BUNDLE_TTL_DAYS"])))
    db.session.commit()
    log_event("bundle_built", bundle_id=bundle_id, bytes=size)
    return "done"


def _write_zip(spool, bundle_id: int, user_id: int, chosen: list[str]) -> None:
    done, last_id = 0, 0
    query = select(Call).where(Call.owner_id == user_id).order_by(Call.id).limit(BATCH)
    if "json" in chosen:  # call_to_json reads these: two queries a batch rather than two a call
        query = query.options(selectinload(Call.participants), selectinload(Call.action_items))
    with zipfile.ZipFile(spool, "w", zipfile.ZIP_DEFLATED) as archive:
        while True:
            calls = list(db.session.scalars(query.where(Call.id > last_id)))
            if not calls:
                break
            for call in calls:
                segments = call.segments.all()
                for fmt in chosen:
                    body = formats.render(call, segments, fmt,
                                          call_to_json(call, segments) if fmt == "json" else None)
                    archive.writestr(_filename(call, fmt), body)
            done += len(calls)
            last_id = calls[-1].id
            db.session.execute(update(ExportBundle).where(ExportBundle.id == bundle_id).values(done=done))
            db.session.commit()


def _store_chunks(spool, bundle_id: int) -> int:
    db.session.execute(delete(ExportBundleChunk).where(ExportBundleChunk.bundle_id == bundle_id))
    spool.seek(0)
    size, seq = 0, 0
    while chunk := spool.read(CHUNK_BYTES):
        db.session.add(ExportBundleChunk(bundle_id=bundle_id, seq=seq, data=chunk))
        db.session.flush()
        db.session.expunge_all()
        size, seq = size + len(chunk), seq + 1
    db.session.commit()
    return size


def stream(bundle_id: int):
    """The zip's bytes, one chunk (one query) at a time."""
    seq = 0
    while True:
        data = db.session.scalar(select(ExportBundleChunk.data).where(
            ExportBundleChunk.bundle_id == bundle_id, ExportBundleChunk.seq == seq))
        if data is None:
            return
        yield bytes(data)
        seq += 1


def delete_expired() -> int:
    expired = list(db.session.scalars(select(ExportBundle.id).where(ExportBundle.expires_at < utcnow())))
    if expired:
        db.session.execute(delete(ExportBundleChunk).where(ExportBundleChunk.bundle_id.in_(expired)))
        db.session.execute(delete(ExportBundle).where(ExportBundle.id.in_(expired)))
        db.session.commit()
    return len(expired)
