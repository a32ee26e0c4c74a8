"""Which parts of a text a search matched, as (text, matched) fragments.

Templates render the fragments with autoescaping and wrap matched ones in <mark>, so the user's
text and the transcript are never injected as HTML. Words are found with the same rule the
query parser uses (runs of letters and digits), which is also how both databases split words.
"""
import re

from .fulltext import WORD, Term

_MARKDOWN = re.compile(r"[#*_>`~|]+|\[|\]\([^)]*\)")


def _marked_spans(text: str, terms: tuple[Term, ...]) -> list[tuple[int, int]]:
    words = [(m.start(), m.end(), m.group().lower()) for m in WORD.finditer(text)]
    spans = []
    for term in terms:
        size = len(term.words)
        for i in range(len(words) - size + 1):
            window = words[i:i + size]
            if all(w[2] == t for w, t in zip(window[:-1], term.words[:-1])) and (
                    window[-1][2].startswith(term.words[-1]) if term.prefix else window[-1][2] == term.words[-1]):
                spans.append((window[0][0], window[-1][1]))
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def fragments(text: str, terms: tuple[Term, ...], width: int | None = None) -> list[tuple[str, bool]]:
    """`text` split into matched and unmatched pieces; with `width`, only about that many characters
    around the first match, cut at word boundaries and marked with ellipses."""
    text = text or ""
    spans = _marked_spans(text, terms)
    start, end = 0, len(text)
    if width and len(text) > width:
        first_start, first_end = spans[0] if spans else (0, 0)
        start = max(0, first_start - width // 3)
        if start > 0:
            start = min(_word_boundary(text, start), first_start)
        end = min(len(text), start + width)
        if end < len(text):
            end = max(_word_boundary(text, end, backwards=True), first_end, start + 1)
    pieces: list[tuple[str, bool]] = [("… ", False)] if start > 0 else []
    cursor = start
    for span_start, span_end in spans:
        if span_end <= start or span_start >= end:
            continue
        span_start, span_end = max(span_start, start), min(span_end, end)
        if span_start > cursor:
            pieces.append((text[cursor:span_start], False))
        pieces.append((text[span_start:span_end], True))
        cursor = span_end
    if cursor < end:
        pieces.append((text[cursor:end], False))
    if end < len(text):
        pieces.append((" …", False))
    return pieces


def _word_boundary(text: str, index: int, backwards: bool = False) -> int:
    space = text.rfind(" ", 0, index) if backwards else text.find(" ", index)
    return index if space == -1 else (space if backwards else space + 1)


def has_match(pieces: list[tuple[str, bool]]) -> bool:
    return any(matched for _, matched in pieces)


def plain_summary(markdown: str | None) -> str:
    """A summary's words without Markdown punctuation, on one line (for an excerpt)."""
    return " ".join(_MARKDOWN.sub(" ", markdown or "").split())
