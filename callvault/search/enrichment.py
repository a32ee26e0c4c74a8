"""Enrichment after a call lands: passages, their embeddings, and a title and summary for calls lacking one.

`record_enrichment_intent` receives `signals.call_stored` inside `upsert_call`'s transaction (a
CallEnrichment row goes pending); `signals.enrichment_due` queues the job after the commit. If Redis
is down then, storing the call still succeeds and the periodic sweep (or `flask search reindex`)
queues it later.

`enrich_call` is idempotent, keyed on `Call.content_hash`: a call whose enrichment is current is
left alone, and unchanged passages keep their vectors. Slow provider calls happen outside any
transaction; the results are written only if the call still has the content they were made from.
A provider failure marks the row failed with a backoff (honouring Retry-After); what did work is kept.
"""
from datetime import timedelta

import numpy as np

from sqlalchemy import delete, insert, select

from .. import signals
from ..due_rows import lease_due_rows
from ..extensions import db
from ..logs import log_event
from ..models import Call, CallEnrichment, TranscriptChunk, TranscriptSegment, utcnow
from .chunking import chunk_call
from .providers import ProviderError
from .vectors import code_of

PLACEHOLDER_TITLES = {"", "untitled meeting", "untitled"}
PENDING_GRACE = timedelta(minutes=2)  # the queued job normally finishes first; the sweep waits this long
QUEUED_LEASE = timedelta(minutes=10)  # a swept row is left alone this long while its job waits
RETRY_BASE = timedelta(minutes=5)
MAX_BACKOFF = timedelta(hours=6)


def record_enrichment_intent(_sender, call_id: int, content_hash: str, fresh: bool) -> None:
    """Mark a stored call due for enrichment (receives `signals.call_stored`)."""
    state = (None if fresh else db.session.get(CallEnrichment, call_id)) or CallEnrichment(call_id=call_id)
    db.session.add(state)
    state.status, state.attempts, state.last_error = "pending", 0, None
    state.next_attempt_at = utcnow() + PENDING_GRACE
    signals.send_after_commit(signals.enrichment_due, call_ids=[call_id])


def lease_due(limit: int = 500) -> list[int]:
    """Pending and failed enrichments whose time has come (for the periodic sweep), leased."""
    return lease_due_rows(CallEnrichment.call_id, lease=QUEUED_LEASE, limit=limit)


def needs_enrichment(state: CallEnrichment | None, content_hash: str | None, embedding_model: str | None) -> bool:
    if state is None or state.fingerprint != content_hash or state.status == "failed":
        return True
    return bool(embedding_model) and state.embedding_model != embedding_model


def enrich_call(call_id: int, provider, embed: bool = True) -> str | None:
    """Bring one call's enrichment up to date. Returns its status, or None if the call is gone or changed
    meanwhile (its newer content has its own job). With `embed=False` missing vectors are left to the workers."""
    call = db.session.get(Call, call_id)
    if call is None:
        return None
    state = call.enrichment
    if not needs_enrichment(state, call.content_hash, provider.embedding_model if embed else None):
        if state.status != "done" and embed:  # not a deferred embedding
            state.status, state.next_attempt_at = "done", None
            db.session.commit()
        return state.status
    fingerprint, title, summary = call.content_hash, call.title, call.summary_markdown
    ours_title = state.generated_title if state else None
    ours_summary = state.generated_summary if state else None
    segments = db.session.execute(
        select(TranscriptSegment.speaker, TranscriptSegment.text, TranscriptSegment.start_ms, TranscriptSegment.end_ms)
        .where(TranscriptSegment.call_id == call_id).order_by(TranscriptSegment.position)).all()
    transcript = "\n".join(f"{s.speaker or 'Unknown'}: {s.text}" for s in segments if s.text)
    stored = {c.text: c.embedding for c in db.session.scalars(
        select(TranscriptChunk).where(TranscriptChunk.call_id == call_id,
                                      TranscriptChunk.embedding_model == provider.embedding_model))}
    db.session.rollback()  # no transaction stays open while the provider is working

    errors: list[ProviderError] = []
    lacks_title = title.strip().lower() in PLACEHOLDER_TITLES or title == ours_title
    lacks_summary = not (summary or "").strip() or summary == ours_summary
    new_title = new_summary = None
    if (lacks_title or lacks_summary) and transcript:
        try:
            generated = provider.title_and_summary(transcript)
            new_title = generated.title if lacks_title else None
            new_summary = generated.summary if lacks_summary else None
        except ProviderError as exc:
            errors.append(exc)
    chunks = chunk_call(new_title or title, new_summary or summary, segments)
    vectors = {c.position: stored[c.text] for c in chunks if c.text in stored}
    missing = [c for c in chunks if c.position not in vectors]
    if embed and missing:
        try:
            for chunk, vector in zip(missing, provider.embed([c.embedding_input for c in missing])):
                vectors[chunk.position] = pack(vector)
        except ProviderError as exc:
            errors.append(exc)

    call = db.session.get(Call, call_id, with_for_update=True)
    if call is None or call.content_hash != fingerprint:
        db.session.rollback()
        return None
    if new_title and call.title == title:
        call.title = new_title[:500]
    if new_summary and call.summary_markdown == summary:
        call.summary_markdown = new_summary
    _replace_chunks(call_id, chunks, vectors, provider.embedding_model)
    state = call.enrichment or CallEnrichment(call_id=call_id)
    db.session.add(state)
    state.fingerprint = fingerprint
    state.generated_title = call.title if call.title in (new_title, ours_title) else None
    state.generated_summary = call.summary_markdown if call.summary_markdown in (new_summary, ours_summary) else None
    all_embedded = len(vectors) == len(chunks)
    state.embedding_model = provider.embedding_model if all_embedded else None
    if errors:
        _record_failure(state, errors[0])
    else:
        state.status = "done" if all_embedded else "pending"
        state.attempts, state.last_error = 0, None
        state.next_attempt_at = utcnow() if state.status == "pending" else None
    db.session.commit()
    log_event("call_enriched", call_id=call_id, status=state.status, chunks=len(chunks),
              embedded=len(vectors), title_generated=bool(new_title), summary_generated=bool(new_summary))
    return state.status


def _replace_chunks(call_id: int, chunks, vectors: dict[int, bytes], model: str | None) -> None:
    db.session.execute(delete(TranscriptChunk).where(TranscriptChunk.call_id == call_id))
    if chunks:
        db.session.execute(insert(TranscriptChunk), [
            {"call_id": call_id, "position": c.position, "speaker": c.speaker, "start_ms": c.start_ms,
             "end_ms": c.end_ms, "text": c.text, "embedding": vectors.get(c.position),
             "embedding_code": code_of(unpack(vectors[c.position])) if c.position in vectors else None,
             "embedding_model": model if c.position in vectors else None} for c in chunks])


def _record_failure(state: CallEnrichment, error: ProviderError) -> None:
    state.status = "failed"
    state.attempts = (state.attempts or 0) + 1
    state.last_error = str(error)[:1000]
    delay = min(RETRY_BASE * 2 ** (state.attempts - 1), MAX_BACKOFF)
    if error.retry_after:
        delay = max(delay, timedelta(seconds=error.retry_after))
    state.next_attempt_at = utcnow() + delay
    log_event("call_enrichment_failed", call_id=state.call_id, attempts=state.attempts, error=state.last_error)


def pack(vector) -> bytes:
    """A vector as little-endian float32 bytes (how TranscriptChunk.embedding stores it)."""
    return np.asarray(vector, dtype="<f4").tobytes()


def unpack(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype="<f4")
