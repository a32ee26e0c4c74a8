"""The viewer's transcript, read in one query however long it is (a 3-hour call has ~5,000 segments)."""
from dataclasses import dataclass

from markupsafe import Markup, escape
from sqlalchemy import select

from ..calls.formats import clock
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


PART_LINES = 100


def transcript_items(lines: list[Line], recording: str | None = None) -> Markup:
    """The transcript's lines as HTML (the `transcript` macro in transcripts/_blocks.html), built here in
    one pass: a 3-hour call's 5,000 lines through a Jinja loop spent most of the viewer's time escaping
    and calling filters.

    Each line is an `<li class="seg">`; a line's anchor (#t<ms>) is its first one at that time. The
    lines come in `<ol class="transcript-part">` of PART_LINES each, and the CSS lets Chromium skip laying
    out the parts away from the screen (content-visibility): one such box per line made the browser
    keep 5,000 of them, and the 5,000-line viewer's DOM-ready took ~340 ms against ~160 ms with parts
    (bench/dashboard.py's Chromium timing, same page and machine).

    `recording`: a share link that takes ?timestamp=<seconds> (Fathom's): each time links to the
    recording there. viewer.js opens those links in a new tab without an opener and gives them their
    tooltip: written on each of 5,000 lines, `target`, `rel` and `title` were a fifth of the page and
    cost Chromium ~100 ms to parse."""
    if recording:
        link = f'<a class="ts" href="{escape(recording)}{"&amp;" if "?" in recording else "?"}timestamp='
    parts, previous = [], None
    for number, line in enumerate(lines):
        if number % PART_LINES == 0:
            parts.append(("\n</ol>" if number else "") + f'\n<ol class="transcript-part" start="{number + 1}">')
        time = clock(line.start_ms, None, hours_always=False)
        anchor = f' id="t{line.start_ms}"' if line.start_ms != previous else ""
        previous = line.start_ms
        stamp = f'{link}{line.start_ms // 1000}">{time}</a>' if recording else f'<span class="ts">{time}</span>'
        parts.append(f'\n  <li class="seg"{anchor}>{stamp}<span class="speaker c{line.colour}">{escape(line.speaker)}'
                     f'</span><span class="text">{escape(line.text)}</span></li>')
    if lines:
        parts.append("\n</ol>")
    return Markup("".join(parts))
