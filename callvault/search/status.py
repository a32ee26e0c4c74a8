"""Embedding progress, and marking calls whose vectors come from another model for re-embedding.

When the embedding model changes (AI_EMBEDDING_MODEL set, changed or removed), every call's
passages must be embedded again. `mark_stale_embeddings` (a periodic job) marks a batch of such
calls pending at a time and the enrichment jobs re-embed them in the background; search keeps
working meanwhile (words always; meaning over the calls already re-embedded).
"""
from dataclasses import dataclass

from sqlalchemy import func, or_, select

from .. import signals
from ..extensions import db
from ..logs import log_event
from ..models import Call, CallEnrichment, utcnow

STALE_BATCH = 500


@dataclass
class EmbeddingProgress:
    model: str
    embedded: int
    total: int

    @property
    def percent(self) -> int:
        return 100 if not self.total else int(100 * self.embedded / self.total)


def embedding_progress(model: str) -> EmbeddingProgress:
    total = db.session.scalar(select(func.count()).select_from(Call))
    embedded = db.session.scalar(select(func.count()).select_from(CallEnrichment)
                                 .where(CallEnrichment.embedding_model == model))
    return EmbeddingProgress(model, embedded, total)


def mark_stale_embeddings(model: str, limit: int = STALE_BATCH) -> list[int]:
    """Mark up to `limit` calls that are done but embedded with another model (or none) pending, and
    queue them. Calls already pending or failed are the sweep's."""
    call_ids = list(db.session.scalars(
        select(CallEnrichment.call_id).where(
            CallEnrichment.status == "done",
            or_(CallEnrichment.embedding_model.is_(None), CallEnrichment.embedding_model != model))
        .order_by(CallEnrichment.call_id).limit(limit)))
    if not call_ids:
        return []
    for state in db.session.scalars(select(CallEnrichment).where(CallEnrichment.call_id.in_(call_ids))):
        state.status, state.attempts, state.next_attempt_at = "pending", 0, utcnow()
    signals.send_after_commit(signals.enrichment_due, call_ids=call_ids)
    db.session.commit()
    progress = embedding_progress(model)
    log_event("embeddings_stale_queued", model=model, queued=len(call_ids), embedded=progress.embedded,
              total=progress.total)
    return call_ids
