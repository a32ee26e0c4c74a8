"""Bulk export: a zip of one user's calls in the formats they chose, built by a job with progress.

The zip is stored in the database in 1 MiB chunks, so the web process that serves the download
need not share a disk with the worker that built it. Bundles expire after EXPORT_BUNDLE_TTL_DAYS.
A bundle is tracked work (`callvault/tracked_work.py`): the job claims it, heartbeats with every
batch of calls and every chunk, and finishes it; recovery fails it if the job's worker dies, so
the page stops waiting.
"""
import tempfile
import zipfile
from datetime import timedelta

import redis
from flask import current_app
from sqlalchemy import delete, func, select
from sqlalchemy.orm import selectinload

from .. import signals, tracked_work
from ..calls import formats
from ..calls.serialize import call_to_json
from ..extensions import db
from ..logs import log_event
from ..models import Call, ExportBundle, ExportBundleChunk, User, WorkStatus, utcnow

CHUNK_BYTES = 1024 * 1024
BATCH = 50


class BundleError(ValueError):
    """A bundle request that cannot be honoured; the message is safe to show."""


def owned_count(user: User) -> int:
    """How many calls a zip of `user`'s would hold."""
    return db.session.scalar(select(func.count()).select_from(Call).where(Call.owner_id == user.id))


def start(user: User, chosen_formats) -> ExportBundle:
    chosen = [f for f in formats.FORMATS if f in set(chosen_formats or ())]
    if not chosen:
        raise BundleError(f"choose at least one format: {', '.join(formats.FORMATS)}")
    if not owned_count(user):
        raise BundleError("you own no calls yet, so a zip would be empty")
    bundle = ExportBundle(user_id=user.id, formats=chosen, status=WorkStatus.QUEUED)
    db.session.add(bundle)
    db.session.commit()
    try:
        bundle.rq_job_id = signals.request(signals.bundle_requested, bundle_id=bundle.id).id
    except redis.RedisError:
        tracked_work.fail(bundle, "the job queue is unreachable; try again in a minute")
        return bundle
    db.session.commit()
    return bundle


def _filename(call: Call, fmt: str) -> str:
    return f"{fmt}/{formats.file_stem(call)} [{call.id}].{fmt}"


def build(bundle_id: int) -> str:
    bundle = db.session.get(ExportBundle, bundle_id)
    if bundle is None:
        return "missing"
    user_id, chosen = bundle.user_id, list(bundle.formats)
    total = db.session.scalar(select(func.count()).select_from(Call).where(Call.owner_id == user_id))
    if not tracked_work.claim(bundle, done=0, total=total):
        return bundle.status  # already built, failed or being built by another run
    try:
        with tempfile.SpooledTemporaryFile(max_size=32 * CHUNK_BYTES) as spool:
            _write_zip(spool, bundle, user_id, chosen)
            size = _store_chunks(spool, bundle)
    except tracked_work.WorkLost:
        db.session.rollback()  # recovery failed the bundle meanwhile; what the page shows stands
        log_event("bundle_abandoned", bundle_id=bundle_id)
        return WorkStatus.FAILED
    except Exception as exc:  # recorded for the user, then re-raised for the job log
        db.session.rollback()
        tracked_work.fail(bundle, f"the export failed ({type(exc).__name__}); try again")
        raise
    expires_at = utcnow() + timedelta(days=current_app.config["EXPORT_BUNDLE_TTL_DAYS"])
    tracked_work.finish(bundle, WorkStatus.SUCCEEDED, size_bytes=size, expires_at=expires_at)
    log_event("bundle_built", bundle_id=bundle_id, bytes=size)
    return WorkStatus.SUCCEEDED


def _write_zip(spool, bundle: ExportBundle, user_id: int, chosen: list[str]) -> None:
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
            tracked_work.heartbeat(bundle, done=done)
            db.session.commit()


def _store_chunks(spool, bundle: ExportBundle) -> int:
    bundle_id = bundle.id
    db.session.execute(delete(ExportBundleChunk).where(ExportBundleChunk.bundle_id == bundle_id))
    spool.seek(0)
    size, seq = 0, 0
    while chunk := spool.read(CHUNK_BYTES):
        piece = ExportBundleChunk(bundle_id=bundle_id, seq=seq, data=chunk)
        db.session.add(piece)
        db.session.flush()
        db.session.expunge(piece)  # one chunk in memory at a time
        size, seq = size + len(chunk), seq + 1
    tracked_work.heartbeat(bundle)
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
