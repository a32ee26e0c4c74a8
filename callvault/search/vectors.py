"""The semantic index a web process holds: every embedded passage's sign bits, shortlisted by Hamming distance.

Each passage (TranscriptChunk) stores its float32 vector and its sign bits (`embedding_code`, 32
bytes for 256 dimensions). A process keeps only the codes, its passage ids and call ids in numpy
arrays (~40 bytes a passage: ~20 MB for 500,000), loaded on first use and then brought up to date
before each query by reading the passages whose id is above the highest one it holds (enrichment
replaces a call's passages with new rows, so new vectors always have new ids): an index probe
when nothing changed. A query then
1. picks the rows to scan: all of them for an admin without filters; otherwise the rows of the
   visible calls only, found by binary search in the call ids' sorted order (a member's query
   never touches everyone's vectors);
2. keeps the PRESELECT rows nearest by Hamming distance between sign bits (XOR + popcount), then
   the SHORTLIST of those whose sign bits score best against the query's own float values (a
   lookup table per code byte: far closer to the true cosine than Hamming alone);
3. reads just those passages from the database, by primary key, and ranks them by exact cosine
   similarity on their stored vectors, checking each one's call against the visible set again.
A row whose passage was deleted (its call re-enriched or removed) is dropped when step 3 misses
it; when too many rows are dead, or the table shrank, the index is reloaded.
"""
import threading
import time
import weakref
from dataclasses import dataclass

import numpy as np
from sqlalchemy import func, select

from ..models import TranscriptChunk

PRESELECT = 4000  # passages kept by Hamming distance
SHORTLIST = 300  # of those, passages re-ranked exactly per query (read from the database)
_BYTE_SIGNS = np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1).astype(np.float32) * 2 - 1
LOAD_BATCH = 50_000
SCAN_BLOCK = 65_536  # codes XORed at a time
RECOUNT_SECONDS = 300  # how often a process checks whether it holds many deleted passages
_indexes: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_registry_lock = threading.Lock()


@dataclass
class Passage:
    call_id: int
    similarity: float
    text: str
    speaker: str | None
    start_ms: int | None
    end_ms: int | None = None


def code_of(vector) -> bytes:
    """The sign bits of a vector, as stored in TranscriptChunk.embedding_code."""
    return np.packbits(np.asarray(vector, dtype=np.float32) > 0).tobytes()


def _words(codes: np.ndarray) -> np.ndarray:
    """uint8 codes (n × bytes) as uint64 words (n × words), zero-padded to whole words."""
    pad = (-codes.shape[1]) % 8
    if pad:
        codes = np.pad(codes, ((0, 0), (0, pad)))
    return np.ascontiguousarray(codes).view(np.uint64)


class VectorIndex:
    """The codes of one embedding model's passages in one database."""

    def __init__(self, model: str):
        self.model = model
        self.lock = threading.Lock()
        self._reset()

    def _reset(self) -> None:
        self.chunk_ids = np.zeros(0, dtype=np.int64)
        self.call_ids = np.zeros(0, dtype=np.int64)
        self.codes = np.zeros((0, 0), dtype=np.uint64)
        self.alive = np.zeros(0, dtype=bool)
        self.last_id = 0
        self.dead = 0
        self.counted_at = time.monotonic()
        self._order = self._sorted_calls = None

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.chunk_ids, self.call_ids, self.codes, self.alive)) + \
            (self._order.nbytes * 2 if self._order is not None else 0)

    def __len__(self) -> int:
        return len(self.chunk_ids)

    def refresh(self, session) -> None:
        """Read the passages added since the last refresh (everything, the first time)."""
        with self.lock:
            highest = session.scalar(select(func.max(TranscriptChunk.id))) or 0
            stale = self.dead > max(1000, len(self) // 4)
            if highest < self.last_id or stale or self._shrunk(session):
                self._reset()
            while highest > self.last_id:
                rows = session.execute(
                    select(TranscriptChunk.id, TranscriptChunk.call_id, TranscriptChunk.embedding_code)
                    .where(TranscriptChunk.id > self.last_id, TranscriptChunk.id <= highest,
                           TranscriptChunk.embedding_model == self.model, TranscriptChunk.embedding_code.is_not(None))
                    .order_by(TranscriptChunk.id).limit(LOAD_BATCH)).all()
                if not rows:
                    self.last_id = highest
                    break
                self._append(rows)

    def _shrunk(self, session) -> bool:
        if time.monotonic() - self.counted_at < RECOUNT_SECONDS or not len(self):
            return False
        self.counted_at = time.monotonic()
        stored = session.scalar(select(func.count()).select_from(TranscriptChunk)
                                .where(TranscriptChunk.embedding_model == self.model))
        return len(self) - self.dead > stored * 1.1

    def _append(self, rows) -> None:
        codes = _words(np.frombuffer(b"".join(r.embedding_code for r in rows), dtype=np.uint8)
                       .reshape(len(rows), -1))
        if len(self) and codes.shape[1] != self.codes.shape[1]:
            codes = codes[:, :self.codes.shape[1]]  # a mixed-width model would be a bug; never crash a query
        self.chunk_ids = np.concatenate([self.chunk_ids, np.fromiter((r.id for r in rows), np.int64, len(rows))])
        self.call_ids = np.concatenate([self.call_ids, np.fromiter((r.call_id for r in rows), np.int64, len(rows))])
        self.codes = codes if not len(self.codes) else np.concatenate([self.codes, codes])
        self.alive = np.concatenate([self.alive, np.ones(len(rows), dtype=bool)])
        self.last_id = rows[-1].id
        self._order = self._sorted_calls = None

    def rows_of(self, call_ids: np.ndarray) -> np.ndarray:
        """The row numbers of the passages of `call_ids` (binary search in the call ids' sorted order)."""
        if self._order is None:
            self._order = np.argsort(self.call_ids, kind="stable")
            self._sorted_calls = self.call_ids[self._order]
        starts = np.searchsorted(self._sorted_calls, call_ids, "left")
        ends = np.searchsorted(self._sorted_calls, call_ids, "right")
        counts = ends - starts
        total = int(counts.sum())
        if not total:
            return np.zeros(0, dtype=np.int64)
        # concatenated ranges [start, end) without a Python loop
        offsets = np.repeat(starts - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts)
        return self._order[np.arange(total) + offsets]

    def shortlist(self, query: np.ndarray, call_ids: np.ndarray | None, size: int = SHORTLIST,
                  preselect: int = PRESELECT) -> np.ndarray:
        """Passage ids of the `size` rows nearest to `query` among `call_ids`' passages (None: all)."""
        with self.lock:
            if not len(self) or self.codes.shape[1] * 64 < len(query):
                return np.zeros(0, dtype=np.int64)
            query = np.pad(query, (0, self.codes.shape[1] * 64 - len(query)))
            query_code = np.packbits(query > 0).view(np.uint64)
            rows = np.arange(len(self)) if call_ids is None else self.rows_of(call_ids)
            if self.dead:
                rows = rows[self.alive[rows]]
            if not len(rows):
                return np.zeros(0, dtype=np.int64)
            codes = self.codes if call_ids is None and not self.dead else self.codes[rows]
            if len(rows) > preselect:
                distance = np.empty(len(codes), dtype=np.int32)
                for start in range(0, len(codes), SCAN_BLOCK):  # bounded temporaries, however many passages
                    block = codes[start:start + SCAN_BLOCK]
                    distance[start:start + len(block)] = np.bitwise_count(block ^ query_code).sum(axis=1)
                nearest = np.argpartition(distance, preselect - 1)[:preselect]
                rows, codes = rows[nearest], codes[nearest]
            table = query.reshape(-1, 8) @ _BYTE_SIGNS.T  # (code bytes × 256): each byte value's signed sum
            scores = table[np.arange(table.shape[0]), codes.view(np.uint8)].sum(axis=1)
            if len(rows) > size:
                rows = rows[np.argpartition(-scores, size - 1)[:size]]
            return self.chunk_ids[rows]

    def forget(self, chunk_ids) -> None:
        """Mark passages the database no longer has."""
        if not len(chunk_ids):
            return
        with self.lock:
            positions = np.searchsorted(self.chunk_ids, np.asarray(sorted(chunk_ids), dtype=np.int64))
            positions = positions[positions < len(self)]
            positions = positions[self.alive[positions]]
            self.alive[positions] = False
            self.dead += len(positions)


def index_for(session, model: str) -> VectorIndex:
    engine = session.get_bind().engine
    with _registry_lock:
        by_model = _indexes.setdefault(engine, {})
        if model not in by_model:
            by_model.clear()  # a process searches with one model: a previous model's index is let go
            by_model[model] = VectorIndex(model)
        return by_model[model]


def best_passages(session, visible_ids: list[int] | None, query_vector, model: str, min_similarity: float,
                  limit: int = 200) -> dict[int, Passage]:
    """For the `limit` calls most similar to `query_vector` among `visible_ids` (None: every call), each
    call's best passage at least `min_similarity` similar."""
    index = index_for(session, model)
    index.refresh(session)
    query = np.asarray(query_vector, dtype=np.float32)
    visible = None if visible_ids is None else np.unique(np.asarray(visible_ids, dtype=np.int64))
    shortlist = index.shortlist(query, visible)
    if not len(shortlist):
        return {}
    rows = session.execute(
        select(TranscriptChunk.id, TranscriptChunk.call_id, TranscriptChunk.embedding, TranscriptChunk.text,
               TranscriptChunk.speaker, TranscriptChunk.start_ms, TranscriptChunk.end_ms)
        .where(TranscriptChunk.id.in_(shortlist.tolist()), TranscriptChunk.embedding_model == model)).all()
    index.forget(set(shortlist.tolist()) - {r.id for r in rows})
    allowed = None if visible is None else set(visible.tolist())
    best: dict[int, Passage] = {}
    for row in rows:
        if allowed is not None and row.call_id not in allowed:
            continue
        vector = np.frombuffer(row.embedding, dtype="<f4")
        if vector.shape != query.shape:
            continue
        similarity = float(vector @ query)
        if similarity >= min_similarity and similarity > best.get(row.call_id, Passage(0, -2.0, "", None, None)).similarity:
            best[row.call_id] = Passage(row.call_id, similarity, row.text, row.speaker, row.start_ms,
                                          row.end_ms)
    top = sorted(best.values(), key=lambda p: (-p.similarity, -p.call_id))[:limit]
    return {p.call_id: p for p in top}
