"""Search results for the library, the API and MCP: full-text hits fused with semantic ones.

`sort="relevance"` (the default): full-text relevance and passage similarity (search/vectors.py)
are fused by rank (semantic.fuse); the best MAX_RESULTS are paged with an offset cursor. Each hit
says whether it matched by words, by meaning or both, and carries its matching lines and its most
similar passage. A query whose alternatives include one with nothing wanted (only -words) cannot
be ranked, so it lists newest first; so does one whose words are each in more than
MAX_RANKED_LINES lines (counted cheaply, with a cap: see fulltext.Finder) unless its meaning finds
calls, as ranking reads every matching line and a single letter typed into the search box must
not read the whole vault. `sort="newest"`: the calls matching the words, newest first.

If the embedder fails, the word matches come back with a note saying so.
"""
import base64
import binascii
import json
from dataclasses import dataclass

import numpy as np
from sqlalchemy import and_, or_, select

from ..calls.queries import CallFilters, QueryError, filtered_calls
from ..extensions import db
from ..logs import log_event
from ..models import Call, TranscriptSegment, User
from . import embedders, fulltext, providers, semantic, vectors
from .highlight import fragments, has_match, plain_summary

MAX_RESULTS = 200
MAX_RANKED_LINES = fulltext.MAX_COLLECTED_LINES  # more lines than this: newest first (ranking reads them all)
MAX_EMBEDDED_QUERY_CHARS = 1000
SORTS = ("relevance", "newest")
BROAD_NOTE = "These words are in too many lines to rank by relevance, so the newest calls come first; " \
             "add a word or a \"quoted phrase\" to narrow it down."
NO_WORDS_NOTE = "The search has no words to look for (emoji and punctuation are not searched); type a word."
UNAVAILABLE_NOTE = "Matching by meaning is unavailable right now; showing calls that contain the words."
UNTIMED_PASSAGE_MS = 180_000  # how far a passage whose last line has no end time is taken to run
LINES_PER_HIT = 3
LINE_WIDTH = 240
SUMMARY_WIDTH = 220


@dataclass
class Line:
    start_ms: int | None
    speaker: str | None
    pieces: list[tuple[str, bool]]


@dataclass
class Hit:
    call: Call
    title: list[tuple[str, bool]]
    summary: list[tuple[str, bool]] | None
    lines: list[Line]
    more_lines: int  # matching lines not shown
    passage: Line | None  # the most similar passage (None when the call matched by words alone)
    match: str  # "words", "meaning" or "both"

    @property
    def best_line(self) -> Line | None:
        """What to show first: the most similar passage, else the first line with the words."""
        return self.passage or (self.lines[0] if self.lines else None)


@dataclass
class SearchPage:
    hits: list[Hit]
    next_cursor: str | None
    total: int | None  # None when the listing is not ranked (newest first)
    truncated: bool  # more than MAX_RESULTS matched
    semantic_note: str | None  # why matches by meaning are missing, if they are


def search_for(user: User, filters: CallFilters, config, cursor: str | None = None, limit: int = 25,
               sort: str = "relevance") -> SearchPage:
    """Search with the provider `config` describes (an app's config mapping)."""
    with providers.from_config(config) as provider:
        min_similarity = config.get("AI_SEMANTIC_MIN_SIMILARITY", 0.3) if provider.remote_embeddings \
            else embedders.MIN_SIMILARITY
        return search(user, filters, provider, cursor, limit, min_similarity,
                      config.get("SEARCH_MAX_RANKED_LINES", MAX_RANKED_LINES), sort)


def search(user: User, filters: CallFilters, provider, cursor: str | None = None, limit: int = 25,
           min_similarity: float = 0.3, max_ranked_lines: int = MAX_RANKED_LINES,
           sort: str = "relevance") -> SearchPage:
    if sort not in SORTS:
        raise QueryError(f"sort must be one of: {', '.join(SORTS)}")
    query = fulltext.parse(filters.q)
    offset = decode_offset(cursor)
    session = db.session
    visible = filtered_calls(user, filters)
    unranked = sort == "newest" or not query.groups or not all(group.include for group in query.groups)
    finder = fulltext.Finder(session, max_ranked_lines)
    found = None if unranked else finder.find_calls(visible.with_only_columns(Call.id), query)
    passages: dict[int, vectors.Passage] = {}
    note = None if query.groups else NO_WORDS_NOTE
    query_vector = None
    if not unranked:
        passages, query_vector, note = _by_meaning(session, visible, filters.q, provider, min_similarity)
    if found is None and passages:  # words too broad to rank: rank by meaning, and say which have the words
        found = finder.within(query, set(passages))
        scores = {call_id: passages[call_id].similarity for call_id in found}
    elif found is None:  # newest first
        ordered = finder.walk_newest(visible.order_by(Call.started_at.desc(), Call.id.desc()), query,
                                     offset + limit + 1)[offset:]
        more = len(ordered) > limit and offset + limit <= MAX_RESULTS  # offsets stop where ranked ones do
        return _page(session, query, ordered[:limit], set(ordered), {}, encode_offset(offset + limit)
                     if more else None, None, False, note or (None if unranked else BROAD_NOTE))
    else:
        scores = fulltext.rank(session, sorted(found), query)
    ordered = semantic.fuse(scores, {call_id: p.similarity for call_id, p in passages.items()})
    truncated, ordered = len(ordered) > MAX_RESULTS, ordered[:MAX_RESULTS]
    page_ids = ordered[offset:offset + limit]
    next_cursor = encode_offset(offset + limit) if offset + limit < len(ordered) else None
    best_lines = _pinpoint(session, [passages[i] for i in page_ids if i in passages], query_vector, provider)
    return _page(session, query, page_ids, set(found), passages, next_cursor, len(ordered), truncated, note,
                 best_lines)


def _by_meaning(session, visible, text: str, provider, min_similarity: float):
    """(the best passage of each call similar to `text`, the query's vector, a note if that could not be done)."""
    try:
        vector = provider.embed([text[:MAX_EMBEDDED_QUERY_CHARS]], interactive=True)[0]
    except providers.ProviderError as exc:
        log_event("semantic_search_unavailable", error=str(exc))
        return {}, None, UNAVAILABLE_NOTE
    everything = visible.whereclause is None  # an admin without filters: no call list to restrict to
    visible_ids = None if everything else list(session.scalars(visible.with_only_columns(Call.id)))
    found = vectors.best_passages(session, visible_ids, vector, provider.embedding_model, min_similarity)
    return found, vector, None


def _pinpoint(session, passages, query_vector, provider) -> dict[int, Line]:
    """The line most similar to the query within each passage shown (a passage spans a minute or more), with
    its own time. Only with a local model: a provider would cost a request per page. {} when not possible."""
    timed = [p for p in passages if p.start_ms is not None]
    if provider.remote_embeddings or query_vector is None or not timed:
        return {}
    segments = session.execute(
        select(TranscriptSegment.call_id, TranscriptSegment.speaker, TranscriptSegment.text, TranscriptSegment.start_ms)
        .where(or_(*[and_(TranscriptSegment.call_id == p.call_id, TranscriptSegment.start_ms >= p.start_ms,
                          TranscriptSegment.start_ms <= (p.end_ms if p.end_ms is not None
                                                         else p.start_ms + UNTIMED_PASSAGE_MS))
                     for p in timed]))
        .order_by(TranscriptSegment.call_id, TranscriptSegment.position)).all()
    segments = [s for s in segments if s.text and s.text.strip()]
    if not segments:
        return {}
    try:
        similarity = np.asarray(provider.embed([s.text for s in segments])) @ np.asarray(query_vector)
    except providers.ProviderError:
        return {}
    best: dict[int, tuple[float, object]] = {}
    for segment, score in zip(segments, similarity):
        if score > best.get(segment.call_id, (-2.0, None))[0]:
            best[segment.call_id] = (float(score), segment)
    return {call_id: Line(s.start_ms, s.speaker, [(_excerpt(s.text), False)]) for call_id, (_, s) in best.items()}


def _page(session, query, call_ids, word_matches, passages, next_cursor, total, truncated,
          semantic_note, best_lines=None) -> SearchPage:
    """`word_matches`: the calls that matched the words (the others matched by meaning alone: they show
    their most similar passage, not lines that merely share a word like "we"); `best_lines`: the most
    similar line within a call's passage, shown instead of the passage's beginning."""
    best_lines = best_lines or {}
    calls = {c.id: c for c in session.scalars(select(Call).where(Call.id.in_(call_ids)))}
    lines = fulltext.matching_lines(session, [i for i in call_ids if i in word_matches], query, LINES_PER_HIT)
    terms = query.terms
    hits = []
    for call_id in call_ids:
        call = calls[call_id]
        found, count = lines.get(call_id, ([], 0))
        summary = fragments(plain_summary(call.summary_markdown), terms, SUMMARY_WIDTH) if terms else []
        passage = passages.get(call_id)
        by_words = call_id in word_matches
        hits.append(Hit(
            call=call, title=fragments(call.title, terms),
            summary=summary if has_match(summary) else None,
            lines=[Line(s.start_ms, s.speaker, fragments(s.text, terms, LINE_WIDTH)) for s in found],
            more_lines=count - len(found),
            passage=best_lines.get(call_id) or (Line(passage.start_ms, passage.speaker, [(_excerpt(passage.text), False)])
                                                if passage else None),
            match="both" if by_words and passage else "words" if by_words else "meaning"))
    return SearchPage(hits, next_cursor, total, truncated, semantic_note)


def _excerpt(text: str) -> str:
    return text if len(text) <= LINE_WIDTH else text[:LINE_WIDTH].rsplit(" ", 1)[0] + " …"


def encode_offset(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode().rstrip("=")


def decode_offset(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        offset = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))["offset"]
    except (ValueError, TypeError, KeyError, binascii.Error):
        raise QueryError("cursor is not one this server gave out") from None
    if not isinstance(offset, int) or not 0 <= offset <= MAX_RESULTS:
        raise QueryError("cursor is not one this server gave out")
    return offset
