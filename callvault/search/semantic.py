"""Semantic search: cosine similarity between a query's embedding and the stored passages a user may see.

Ranked in Python over the vectors in the database (unit length, so cosine is a dot product):
fine for one person's or one team's calls, tens of thousands of passages. Beyond that a vector
index (pgvector) is the next step. `fuse` combines this ranking with the full-text one.
"""
from collections import defaultdict
from dataclasses import dataclass
from operator import mul

from sqlalchemy import select

from ..models import TranscriptChunk
from .enrichment import unpack

RRF_K = 60  # reciprocal-rank fusion's usual constant: damps the weight of the very top ranks


@dataclass
class Passage:
    call_id: int
    similarity: float
    text: str
    speaker: str | None
    start_ms: int | None


def best_passages(session, candidates, query_vector: list[float], model: str, min_similarity: float,
                  limit: int = 200) -> dict[int, Passage]:
    """For the `limit` most similar calls among `candidates` (a SELECT of call ids), each one's best passage."""
    best: dict[int, tuple[float, int]] = {}
    rows = session.execute(select(TranscriptChunk.id, TranscriptChunk.call_id, TranscriptChunk.embedding)
                           .where(TranscriptChunk.call_id.in_(candidates), TranscriptChunk.embedding_model == model,
                                  TranscriptChunk.embedding.is_not(None)))
    for chunk_id, call_id, data in rows:
        similarity = sum(map(mul, query_vector, unpack(data)))
        if similarity >= min_similarity and similarity > best.get(call_id, (-2.0, 0))[0]:
            best[call_id] = (similarity, chunk_id)
    top = sorted(best.items(), key=lambda item: (-item[1][0], -item[0]))[:limit]
    chunks = {c.id: c for c in session.scalars(
        select(TranscriptChunk).where(TranscriptChunk.id.in_([chunk_id for _, (_, chunk_id) in top])))}
    return {call_id: Passage(call_id, similarity, chunks[chunk_id].text, chunks[chunk_id].speaker,
                             chunks[chunk_id].start_ms) for call_id, (similarity, chunk_id) in top}


def fuse(*rankings: dict[int, float]) -> list[int]:
    """Call ids ordered by reciprocal-rank fusion of score maps (higher is better in each).

    Only ranks count, so full-text scores and cosine similarities need no common scale.
    """
    fused: dict[int, float] = defaultdict(float)
    for scores in rankings:
        for position, call_id in enumerate(sorted(scores, key=lambda c: (-scores[c], -c))):
            fused[call_id] += 1.0 / (RRF_K + position + 1)
    return sorted(fused, key=lambda c: (-fused[c], -c))
