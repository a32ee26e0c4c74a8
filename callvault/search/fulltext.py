"""Full-text search over titles, summaries and transcript lines, on PostgreSQL and SQLite.

The query syntax is the web-search style people know: words must all appear, "quoted phrases"
appear as written, -word and -"a phrase" must not appear, and OR separates alternatives
(`pricing OR budget -draft`). Bare words of three letters or more also match as prefixes ("road"
finds "roadmap"), so results show up while a word is still being typed; quote a word to match it
exactly. Shorter words match only themselves: "on" as a prefix would match a large share of every
transcript ("one", "only", "onboarding") and make the query slow and its ranking noise.

A call matches when each wanted term appears somewhere in it (its title, its summary, who recorded
it or any transcript line; a phrase within one of them) and no excluded term appears anywhere in it.

User text never reaches the database as query syntax: `parse` keeps only words made of letters
and digits, and each term becomes one bound parameter (a quoted FTS5 phrase; a tsquery of quoted
lexemes), so no input can make a query fail.
"""
import math
import re
from dataclasses import dataclass
from functools import reduce

from sqlalchemy import Integer, String, bindparam, column, func, literal_column, select, table, text, union
from sqlalchemy.dialects.postgresql import ARRAY

from ..models import Call, TranscriptSegment

WORD = re.compile(r"[^\W_]+")
_ITEM = re.compile(r'(-?)"([^"]*)"?|([^\s"]+)')
MAX_TERMS = 16
MAX_COLLECTED_LINES = 20_000  # a term in more lines than this is "broad": see Finder
MAX_WORDS_PER_TERM = 16
MIN_PREFIX_LENGTH = 3


@dataclass(frozen=True)
class Term:
    words: tuple[str, ...]  # lower-cased
    prefix: bool  # the last word also matches longer words (bare words, not quoted phrases)


@dataclass(frozen=True)
class Group:
    """One alternative of an OR: every `include` term and none of the `exclude` terms."""

    include: tuple[Term, ...]
    exclude: tuple[Term, ...]


@dataclass(frozen=True)
class SearchQuery:
    groups: tuple[Group, ...]

    @property
    def terms(self) -> tuple[Term, ...]:
        """The wanted terms of every alternative: what ranks and highlights a hit."""
        return tuple(dict.fromkeys(term for group in self.groups for term in group.include))


def parse(text: str) -> SearchQuery:
    groups, include, exclude, count = [], [], [], 0

    def close_group():
        if include or exclude:
            groups.append(Group(tuple(include), tuple(exclude)))
        include.clear()
        exclude.clear()

    for phrase_minus, phrase, bare in _ITEM.findall(text or ""):
        if bare == "OR":
            close_group()
            continue
        if bare:
            words = WORD.findall(bare.lower())
            negated, prefix = bare.startswith("-"), bool(words) and len(words[-1]) >= MIN_PREFIX_LENGTH
        else:
            negated, words, prefix = bool(phrase_minus), WORD.findall(phrase.lower()), False
        if not words or count >= MAX_TERMS:
            continue
        count += 1
        (exclude if negated else include).append(Term(tuple(words[:MAX_WORDS_PER_TERM]), prefix))
    close_group()
    return SearchQuery(tuple(groups))


# --- matching calls ------------------------------------------------------------------------------

_SIMPLE = literal_column("'simple'::regconfig")
_calls_tsv = literal_column("calls.search_tsv")
_segments = table("transcript_segments", column("id"), column("call_id"), column("search_tsv"))
_fts_calls = table("search_fts_calls", column("rowid"))
_fts_segments = table("search_fts_segments", column("rowid"))


def _tsquery_text(term: Term) -> str:
    # Words hold letters and digits only, so quoting them needs no escaping.
    lexemes = [f"'{word}'" for word in term.words]
    if term.prefix:
        lexemes[-1] += ":*"
    return " <-> ".join(lexemes)


def _tsquery(terms):
    queries = [func.to_tsquery(_SIMPLE, bindparam(None, _tsquery_text(t), type_=String)) for t in terms]
    return reduce(lambda a, b: a.op("||")(b), queries)


def _fts_phrase(term: Term) -> str:
    phrase = '"' + " ".join(term.words).replace('"', '""') + '"'
    return phrase + "*" if term.prefix else phrase


def _fts_match(fts_table, terms):
    expression = " OR ".join(_fts_phrase(t) for t in terms)
    return literal_column(fts_table.name).op("MATCH")(bindparam(None, expression, type_=String))


# --- finding the matching calls --------------------------------------------------------------------
#
# One SQL filter (every term's calls, through the index) would be simple but slow at scale for a
# common word: PostgreSQL builds the set of every call with a line containing it (a million lines of
# 2.5 million). So the calls are found in two ways instead, chosen per term by how many lines contain
# it (`Finder.broad`):
# - Finder.find_calls: when every alternative has a selective term (in at most `cap` lines), collect
#   that term's calls through the index, then check the other terms only within them;
# - Finder.walk_newest: otherwise walk the visible calls newest first, in growing batches, checking each
#   batch's calls only (through the lines' call_id index); common words match early, so it stops soon.
# A term is judged broad from PostgreSQL's statistics of the index column (the most common words and
# their frequencies, kept by ANALYZE) when they say so, else by counting its lines up to `cap`.
# One Finder serves one search: it remembers which terms are broad.

class Finder:
    def __init__(self, session, cap: int):
        self.session, self.cap = session, cap
        self.postgres = session.get_bind().dialect.name == "postgresql"
        self._broad: dict[Term, bool] = {}
        self._stats = None
        if self.postgres:  # JIT compilation costs more than these short queries take
            session.execute(text("SET LOCAL jit = off"))

    def broad(self, term: Term) -> bool:
        """Whether `term` is in more than `cap` lines (of the whole vault)."""
        if term not in self._broad:
            estimate = self._estimate(term)
            self._broad[term] = estimate > self.cap if estimate is not None else self._count(term) > self.cap
        return self._broad[term]

    def _estimate(self, term: Term) -> float | None:
        """Lines containing `term` by the column statistics, when they show it is common; else None."""
        if not self.postgres:
            return None
        if self._stats is None:
            row = self.session.execute(text(
                "SELECT most_common_elems::text::text[], most_common_elem_freqs, "
                "(SELECT reltuples FROM pg_class WHERE oid = 'transcript_segments'::regclass) "
                "FROM pg_stats WHERE schemaname = current_schema() AND tablename = 'transcript_segments' "
                "AND attname = 'search_tsv'")).first()
            self._stats = (dict(zip(row[0], row[1])), row[2]) if row and row[0] and row[2] else ({}, 0)
        frequencies, lines = self._stats
        if not frequencies:
            return None
        words = [frequencies.get(word, 0.0) for word in term.words[:-1]]
        last = term.words[-1]
        words.append(sum(f for w, f in frequencies.items() if w.startswith(last)) if term.prefix
                     else frequencies.get(last, 0.0))
        estimate = min(words) * lines
        return estimate if estimate > self.cap else None

    def _count(self, term: Term) -> int:
        if self.postgres:
            lines = select(literal_column("1")).select_from(_segments).where(
                _segments.c.search_tsv.op("@@")(_tsquery([term])))
        else:
            lines = select(literal_column("1")).select_from(_fts_segments).where(_fts_match(_fts_segments, [term]))
        return self.session.scalar(select(func.count()).select_from(lines.limit(self.cap + 1).subquery()))

    def term_calls(self, term: Term, scope) -> set[int]:
        """The calls among `scope` (a SELECT of call ids, or a set of them) with `term` in their title, summary
        or a line. Within a set of calls a broad term is checked line by line (the call_id index), not
        through the full-text index, which would read every line containing it."""
        scope = sorted(scope) if isinstance(scope, (set, frozenset)) else scope
        if self.postgres and isinstance(scope, list) and self.broad(term):
            # Per call: its title and summary, then its lines until the first match (an index probe each).
            return set(self.session.scalars(text(
                "SELECT c.id FROM unnest(CAST(:ids AS integer[])) AS c(id) WHERE "
                "EXISTS (SELECT 1 FROM calls k WHERE k.id = c.id AND ts_match_vq(k.search_tsv, "
                "to_tsquery('simple'::regconfig, :query))) OR "
                "EXISTS (SELECT 1 FROM transcript_segments s WHERE s.call_id = c.id AND "
                "ts_match_vq(s.search_tsv, to_tsquery('simple'::regconfig, :query)))"),
                {"ids": scope, "query": _tsquery_text(term)}))
        everything = not isinstance(scope, list) and scope.whereclause is None  # an admin, no filters
        if self.postgres:
            query = _tsquery([term])
            lines = select(_segments.c.call_id).where(_segments.c.search_tsv.op("@@")(query))
            calls = select(Call.id).where(_calls_tsv.op("@@")(query))
            if not everything:
                lines, calls = lines.where(_segments.c.call_id.in_(scope)), calls.where(Call.id.in_(scope))
        else:
            lines = select(TranscriptSegment.call_id).where(
                TranscriptSegment.id.in_(select(_fts_segments.c.rowid).where(_fts_match(_fts_segments, [term]))),
                TranscriptSegment.call_id.in_(scope))
            calls = select(_fts_calls.c.rowid).where(_fts_match(_fts_calls, [term]), _fts_calls.c.rowid.in_(scope))
        return set(self.session.scalars(union(lines, calls)))

    def within(self, query: SearchQuery, ids: set[int]) -> set[int]:
        """The calls among `ids` that match `query`."""
        found: set[int] = set()
        for group in query.groups:
            chosen = set(ids) - found
            for term in group.include:
                chosen = self.term_calls(term, chosen) if chosen else chosen
            for term in group.exclude:
                chosen = chosen - self.term_calls(term, chosen) if chosen else chosen
            found |= chosen
        return found

    def find_calls(self, scope, query: SearchQuery) -> set[int] | None:
        """The ids of the calls among `scope` (a SELECT of call ids) that match `query`, or None when an
        alternative has no wanted term in at most `cap` lines (too broad to collect: use walk_newest)."""
        if not query.groups:
            return set()
        if not all(group.include for group in query.groups):
            return None
        found: set[int] = set()
        for group in query.groups:
            selective = next((term for term in group.include if not self.broad(term)), None)
            if selective is None:
                return None
            others = Group(tuple(t for t in group.include if t != selective), group.exclude)
            found |= self.within(SearchQuery((others,)), self.term_calls(selective, scope))
        return found

    def walk_newest(self, ordered, query: SearchQuery, count: int, batch: int = 200,
                    max_batch: int = 5000) -> list[int]:
        """The first `count` ids, in `ordered`'s order (a SELECT of calls, newest first), of the calls
        matching `query`."""
        if not query.groups:
            return []
        ordered = ordered.with_only_columns(Call.id)
        found: list[int] = []
        start = 0
        while len(found) < count:
            ids = list(self.session.scalars(ordered.offset(start).limit(batch)))
            if not ids:
                break
            matching = self.within(query, set(ids))
            found += [call_id for call_id in ids if call_id in matching]
            start += len(ids)
            batch = min(batch * 2, max_batch)
        return found[:count]


def newest_matching(session, ordered, query: SearchQuery, count: int, cap: int = MAX_COLLECTED_LINES) -> list[int]:
    """The first `count` ids of the calls in `ordered` (a SELECT of calls, in listing order) matching `query`."""
    finder = Finder(session, cap)
    ids = finder.find_calls(ordered.with_only_columns(Call.id).order_by(None), query)
    if ids is None:
        return finder.walk_newest(ordered, query, count)
    if not ids:
        return []
    return list(session.scalars(ordered.with_only_columns(Call.id).where(Call.id.in_(sorted(ids))).limit(count)))


# --- ranking and matching lines ------------------------------------------------------------------

def rank(session, candidates, query: SearchQuery) -> dict[int, float]:
    """A relevance score for each call among `candidates` (a SELECT of call ids) that contains a wanted term.

    Title and summary matches weigh double; among lines the best one counts, plus a little for
    each further matching line. Scores compare only within one backend.
    """
    terms = query.terms
    if not terms or (isinstance(candidates, (list, tuple, set, frozenset)) and not candidates):
        return {}
    if session.get_bind().dialect.name == "postgresql":
        any_term = _tsquery(terms)
        line_ids = _selective_lines(session, terms) if isinstance(candidates, (list, tuple, set, frozenset)) else None
        if line_ids is None:
            line_rows = session.execute(
                select(_segments.c.call_id, func.max(func.ts_rank(_segments.c.search_tsv, any_term)), func.count())
                .where(_segments.c.call_id.in_(candidates), _segments.c.search_tsv.op("@@")(any_term))
                .group_by(_segments.c.call_id))
            call_rows = session.execute(select(Call.id, func.ts_rank(_calls_tsv, any_term))
                                        .where(Call.id.in_(candidates), _calls_tsv.op("@@")(any_term)))
        else:  # the lines and calls found through the full-text indexes; the candidates' among them kept
            keep = set(candidates)
            line_rows = [row for row in session.execute(
                select(_segments.c.call_id, func.max(func.ts_rank(_segments.c.search_tsv, any_term)), func.count())
                .where(_segments.c.id == func.any(bindparam(None, line_ids, type_=ARRAY(Integer))))
                .group_by(_segments.c.call_id)) if row[0] in keep]
            call_rows = [row for row in session.execute(select(Call.id, func.ts_rank(_calls_tsv, any_term))
                                                         .where(_calls_tsv.op("@@")(any_term))) if row[0] in keep]
        sign = 1.0
    else:
        # FTS5's rank is bm25(): lower is better.
        line_rows = session.execute(
            select(TranscriptSegment.call_id, func.min(literal_column("search_fts_segments.rank")), func.count())
            .select_from(_fts_segments).join(TranscriptSegment, TranscriptSegment.id == _fts_segments.c.rowid)
            .where(_fts_match(_fts_segments, terms), TranscriptSegment.call_id.in_(candidates))
            .group_by(TranscriptSegment.call_id))
        call_rows = session.execute(
            select(_fts_calls.c.rowid, func.bm25(literal_column("search_fts_calls"), 10.0, 4.0, 2.0))
            .where(_fts_match(_fts_calls, terms), _fts_calls.c.rowid.in_(candidates)))
        sign = -1.0
    scores: dict[int, float] = {}
    for call_id, best, count in line_rows:
        scores[call_id] = sign * best * (1 + 0.25 * math.log(count))
    for call_id, score in call_rows:
        scores[call_id] = scores.get(call_id, 0.0) + 2 * sign * score
    return scores


def _selective_lines(session, terms) -> list[int] | None:
    """PostgreSQL: the ids of the lines containing any of `terms` when none is broad (each in at most
    MAX_COLLECTED_LINES lines), found through the full-text index one term at a time; None otherwise
    (then the candidates' lines are read by call_id).

    Left to one query, PostgreSQL misjudges how many lines match: for 2,500 candidate calls it read all
    their 170,000 lines by call_id (280 ms, where the index finds the 2,500 matching ones in 2 ms), and
    for an OR of two prefixes it scanned the whole table (600 ms)."""
    finder = Finder(session, MAX_COLLECTED_LINES)
    if any(finder.broad(term) for term in terms):
        return None
    return sorted(set(session.scalars(union(*(
        select(_segments.c.id).where(_segments.c.search_tsv.op("@@")(_tsquery([term]))) for term in terms)))))


def matching_lines(session, call_ids, query: SearchQuery, per_call: int = 3):
    """For each call, its first `per_call` lines containing a wanted term, and how many lines match in all."""
    terms = query.terms
    if not terms or not call_ids:
        return {}
    statement = select(TranscriptSegment).where(TranscriptSegment.call_id.in_(call_ids))
    if session.get_bind().dialect.name == "postgresql":
        statement = statement.where(literal_column("transcript_segments.search_tsv").op("@@")(_tsquery(terms)))
    else:
        statement = statement.where(TranscriptSegment.id.in_(
            select(_fts_segments.c.rowid).where(_fts_match(_fts_segments, terms))))
    found: dict[int, tuple[list, int]] = {}
    for segment in session.scalars(statement.order_by(TranscriptSegment.call_id, TranscriptSegment.position)):
        lines, total = found.get(segment.call_id, ([], 0))
        if len(lines) < per_call:
            lines.append(segment)
        found[segment.call_id] = (lines, total + 1)
    return found
