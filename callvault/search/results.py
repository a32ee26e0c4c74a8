"""The library's search results: full-text hits fused with semantic ones, each with its matching lines.

Full-text relevance and passage similarity are fused by rank (semantic.fuse); the best
MAX_RESULTS are paged with an offset cursor (the API's newest-first listing keeps its keyset
cursor). A query whose alternatives include one with nothing wanted (only -words) cannot be
ranked, so it lists newest first; so does one whose words are each in more than MAX_RANKED_LINES
lines (counted cheaply, with a cap: see fulltext.Finder), as ranking reads every matching line
and a single letter typed into the search box must not read the whole vault.
"""
import base64
import binascii
import json
from dataclasses import dataclass

from sqlalchemy import select

from ..calls.queries import CallFilters, QueryError, filtered_calls
from ..extensions import db
from ..models import Call, User
from . import fulltext, providers, semantic
from .highlight import fragments, has_match, plain_summary

MAX_RESULTS = 200
MAX_RANKED_LINES = fulltext.MAX_COLLECTED_LINES  # more lines than this: newest first (ranking reads them all)
BROAD_NOTE = "These words are in too many lines to rank by relevance, so the newest calls come first; " \
             "add a word or a \"quoted phrase\" to narrow it down."
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
    passage: Line | None  # the most similar passage, for a call found by meaning alone


@dataclass
class SearchPage:
    hits: list[Hit]
    next_cursor: str | None
    total: int | None  # None when the listing is not ranked (newest first)
    truncated: bool  # more than MAX_RESULTS matched
    semantic_note: str | None  # why semantic matches are missing, if they are


def search_for(user: User, filters: CallFilters, config, cursor: str | None = None, limit: int = 25) -> SearchPage:
    """Search with the provider `config` describes (an app's config mapping)."""
    with providers.from_config(config) as provider:
        return search(user, filters, provider, cursor, limit, config.get("AI_SEMANTIC_MIN_SIMILARITY", 0.3),
                      providers.semantic_off_reason(config),
                      config.get("SEARCH_MAX_RANKED_LINES", MAX_RANKED_LINES))


def search(user: User, filters: CallFilters, provider, cursor: str | None = None, limit: int = 25,
           min_similarity: float = 0.3, semantic_note: str | None = None,
           max_ranked_lines: int = MAX_RANKED_LINES) -> SearchPage:
    query = fulltext.parse(filters.q)
    offset = decode_offset(cursor)
    session = db.session
    visible = filtered_calls(user, filters)
    unranked = not query.groups or not all(group.include for group in query.groups)
    finder = fulltext.Finder(session, max_ranked_lines)
    found = None if unranked else finder.find_calls(visible.with_only_columns(Call.id), query)
    if found is None:  # newest first
        ordered = finder.walk_newest(visible.order_by(Call.started_at.desc(), Call.id.desc()), query,
                                     offset + limit + 1)[offset:]
        more = len(ordered) > limit and offset + limit <= MAX_RESULTS  # offsets stop where ranked ones do
        return _page(session, query, ordered[:limit], set(ordered), {}, encode_offset(offset + limit)
                     if more else None, None, False, None if unranked else BROAD_NOTE)

    scores = fulltext.rank(session, sorted(found), query)
    passages: dict[int, semantic.Passage] = {}
    if provider.embedding_model:
        try:
            vector = provider.embed([filters.q], interactive=True)[0]
        except providers.ProviderError:
            semantic_note = "Semantic search is unavailable right now (the AI provider did not answer); " \
                            "showing word matches only."
        else:
            passages = semantic.best_passages(session, visible.with_only_columns(Call.id), vector,
                                              provider.embedding_model, min_similarity)
    ordered = semantic.fuse(scores, {call_id: p.similarity for call_id, p in passages.items()})
    truncated, ordered = len(ordered) > MAX_RESULTS, ordered[:MAX_RESULTS]
    page_ids = ordered[offset:offset + limit]
    next_cursor = encode_offset(offset + limit) if offset + limit < len(ordered) else None
    return _page(session, query, page_ids, set(scores), passages, next_cursor, len(ordered), truncated,
                 semantic_note)


def _page(session, query, call_ids, word_matches, passages, next_cursor, total, truncated,
          semantic_note) -> SearchPage:
    """`word_matches`: the calls among `call_ids` that matched the words (the others matched by meaning
    alone: they show their most similar passage, not lines that merely share a word like "we")."""
    calls = {c.id: c for c in session.scalars(select(Call).where(Call.id.in_(call_ids)))}
    lines = fulltext.matching_lines(session, [i for i in call_ids if i in word_matches], query, LINES_PER_HIT)
    terms = query.terms
    hits = []
    for call_id in call_ids:
        call = calls[call_id]
        found, count = lines.get(call_id, ([], 0))
        summary = fragments(plain_summary(call.summary_markdown), terms, SUMMARY_WIDTH) if terms else []
        passage = passages.get(call_id)
        hits.append(Hit(
            call=call, title=fragments(call.title, terms),
            summary=summary if has_match(summary) else None,
            lines=[Line(s.start_ms, s.speaker, fragments(s.text, terms, LINE_WIDTH)) for s in found],
            more_lines=count - len(found),
            passage=Line(passage.start_ms, None, [(_excerpt(passage.text), False)])
            if passage and not found else None))
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
