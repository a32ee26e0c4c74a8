"""The viewer's transcript, read in one query however long it is (a 3-hour call has ~5,000 segments)."""
from dataclasses import dataclass

from sqlalchemy import select

from ..calls.render import SPEAKER_COLOURS
from ..extensions import db
from ..models import TranscriptSegment


@dataclass(frozen=True, slots=True)
class Line:
    speaker: str
    text: str
    start_ms: int
    colour: int


def transcript_lines(call_id: int) -> list[Line]:
    rows = db.session.connection().execute(  # Core rows: no ORM bookkeeping for thousands of tuples
        select(TranscriptSegment.speaker, TranscriptSegment.text, TranscriptSegment.start_ms)
        .where(TranscriptSegment.call_id == call_id).order_by(TranscriptSegment.position))
    colours: dict[str | None, int] = {}
    lines = []
    for speaker, text, start_ms in rows:
        if speaker not in colours:  # in order of first words: up to SPEAKER_COLOURS speakers never share one
            colours[speaker] = len(colours) % SPEAKER_COLOURS
        lines.append(Line(speaker or "Unknown", text or "", start_ms or 0, colours[speaker]))
    return lines
