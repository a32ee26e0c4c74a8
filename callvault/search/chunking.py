"""Cutting a call into passages for embeddings: speaker turns packed up to a length, with overlap.

Consecutive lines of one speaker form a turn; turns are packed into passages of at most
`max_chars`; a turn too long for one passage is split at sentence ends (or, failing that, between
words). Each passage after the first repeats the previous one's last lines, up to `overlap_chars`,
so a thought cut at a boundary is still whole in one of them. Passage 0 is the title and summary.
"""
import re
from dataclasses import dataclass

MAX_CHARS = 1200
OVERLAP_CHARS = 200
_SENTENCE_END = re.compile(r"(?<=[.!?…。！？])\s+")


@dataclass
class Chunk:
    position: int
    text: str
    speaker: str | None = None
    start_ms: int | None = None
    end_ms: int | None = None
    spoken: str | None = None  # what is embedded: the words without the speakers' names (None: `text`)

    @property
    def embedding_input(self) -> str:
        return self.spoken if self.spoken is not None else self.text


@dataclass
class _Line:
    speaker: str | None
    text: str
    start_ms: int
    end_ms: int | None

    def render(self) -> str:
        return f"{self.speaker or 'Unknown'}: {self.text}"


def chunk_call(title: str | None, summary: str | None, segments, max_chars: int = MAX_CHARS,
               overlap_chars: int = OVERLAP_CHARS) -> list[Chunk]:
    """`segments` are objects with speaker, text, start_ms and end_ms, in spoken order."""
    header = "\n\n".join(part.strip() for part in (title, summary) if part and part.strip())
    chunks = [Chunk(0, header[:max_chars * 4])] if header else []
    lines = [piece for turn in _turns(segments) for piece in _split(turn, max_chars)]
    current: list[_Line] = []
    for line in lines:
        if current and _size(current + [line]) > max_chars:
            chunks.append(_make(len(chunks), current))
            current = _overlap(current, overlap_chars, max_chars - len(line.render()) - 1)
        current.append(line)
    if current:
        chunks.append(_make(len(chunks), current))
    return chunks


def _turns(segments) -> list[_Line]:
    turns: list[_Line] = []
    for segment in segments:
        text = " ".join((segment.text or "").split())
        if not text:
            continue
        if turns and turns[-1].speaker == segment.speaker:
            turns[-1].text += " " + text
            turns[-1].end_ms = segment.end_ms if segment.end_ms is not None else turns[-1].end_ms
        else:
            turns.append(_Line(segment.speaker, text, segment.start_ms or 0, segment.end_ms))
    return turns


def _split(turn: _Line, max_chars: int) -> list[_Line]:
    """A turn as pieces that each fit in a passage, breaking at sentence ends where possible.

    The pieces keep the turn's start time: segments merged into a turn lose their own times.
    """
    room = max(40, max_chars - len(turn.render()) + len(turn.text))
    if len(turn.text) <= room:
        return [turn]
    units = [u for sentence in _SENTENCE_END.split(turn.text) for u in _words_within(sentence, room)]
    pieces, current = [], ""
    for unit in units:
        if current and len(current) + 1 + len(unit) > room:
            pieces.append(current)
            current = unit
        else:
            current = f"{current} {unit}" if current else unit
    pieces.append(current)
    return [_Line(turn.speaker, piece, turn.start_ms, turn.end_ms) for piece in pieces]


def _words_within(sentence: str, room: int) -> list[str]:
    if len(sentence) <= room:
        return [sentence]
    pieces, current = [], ""
    for word in sentence.split():
        while len(word) > room:  # one enormous "word": cut it
            if current:
                pieces.append(current)
                current = ""
            pieces.append(word[:room])
            word = word[room:]
        if current and len(current) + 1 + len(word) > room:
            pieces.append(current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    if current:
        pieces.append(current)
    return pieces


def _size(lines: list[_Line]) -> int:
    return sum(len(line.render()) + 1 for line in lines) - 1


def _overlap(lines: list[_Line], overlap_chars: int, room: int) -> list[_Line]:
    """The trailing lines of a passage that fit in `overlap_chars` (and leave room for the next line).

    When even the last line is too long (a monologue cut into pieces), its last words are repeated.
    """
    limit = min(overlap_chars, room)
    kept: list[_Line] = []
    for line in reversed(lines):
        if _size([line] + kept) > limit:
            break
        kept.insert(0, line)
    if not kept and lines:
        last = lines[-1]
        words, tail = last.text.split(), []
        budget = limit - len(last.render()) + len(last.text)
        while words and len(" ".join([words[-1]] + tail)) <= budget:
            tail.insert(0, words.pop())
        if tail and words:
            kept = [_Line(last.speaker, " ".join(tail), last.start_ms, last.end_ms)]
    return kept


def _make(position: int, lines: list[_Line]) -> Chunk:
    return Chunk(position=position, text="\n".join(line.render() for line in lines), speaker=lines[0].speaker,
                 start_ms=lines[0].start_ms, end_ms=lines[-1].end_ms, spoken="\n".join(line.text for line in lines))
