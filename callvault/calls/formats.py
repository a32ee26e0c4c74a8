"""Transcript downloads: json, txt, md, vtt and srt, from one list of segments."""
import json
import re

from ..models import Call, TranscriptSegment

FORMATS = {
    "json": "application/json",
    "txt": "text/plain; charset=utf-8",
    "md": "text/markdown; charset=utf-8",
    "vtt": "text/vtt; charset=utf-8",
    "srt": "application/x-subrip; charset=utf-8",
}
_LAST_CUE_MS = 5000


def clock(ms: int, sep: str = ".", hours_always: bool = True) -> str:
    ms = max(0, int(ms or 0))
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    if sep is None:
        return f"{hours:02d}:{minutes:02d}:{seconds:02d}" if hours or hours_always else f"{minutes:02d}:{seconds:02d}"
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}{sep}{millis:03d}"


def _cues(segments: list[TranscriptSegment]):
    """Each segment with an end time: its own, else the next segment's start."""
    for i, segment in enumerate(segments):
        end = segment.end_ms
        if end is None or end <= segment.start_ms:
            end = segments[i + 1].start_ms if i + 1 < len(segments) else segment.start_ms + _LAST_CUE_MS
            end = max(end, segment.start_ms + 1)
        yield segment, end


def file_stem(call: Call) -> str:
    """A call's files are named for people: "2026-12-03 Weekly product sync" (downloads and the zip)."""
    title = re.sub(r"[^\w .,()'&-]+", "_", call.title or "").strip(" ._")[:80] or "Untitled"
    return f"{call.started_at:%Y-%m-%d} {title}"


def _one_line(text: str) -> str:
    return " ".join((text or "").split())


def render(call: Call, segments: list[TranscriptSegment], fmt: str, call_json: dict | None = None) -> str:
    if fmt == "json":
        return json.dumps(call_json, ensure_ascii=False, indent=2)
    if fmt == "txt":
        lines = [call.title, call.started_at.strftime("%Y-%m-%d %H:%M UTC"), ""]
        lines += [f"[{clock(s.start_ms, None)}] {s.speaker or 'Unknown'}: {_one_line(s.text)}" for s in segments]
        return "\n".join(lines) + "\n"
    if fmt == "md":
        lines = [f"# {_one_line(call.title)}", "", f"*{call.started_at.strftime('%Y-%m-%d %H:%M UTC')}*", ""]
        if call.summary_markdown:
            lines += [call.summary_markdown.strip(), ""]
        lines += ["## Transcript", ""]
        lines += [f"**{s.speaker or 'Unknown'}** `{clock(s.start_ms, None, hours_always=False)}` {_one_line(s.text)}  "
                  for s in segments]
        return "\n".join(lines) + "\n"
    if fmt == "vtt":
        blocks = ["WEBVTT"]
        for segment, end in _cues(segments):
            speaker = (segment.speaker or "Unknown").replace(">", "")
            blocks.append(f"{clock(segment.start_ms)} --> {clock(end)}\n<v {speaker}>{_one_line(segment.text)}")
        return "\n\n".join(blocks) + "\n"
    if fmt == "srt":
        blocks = []
        for n, (segment, end) in enumerate(_cues(segments), start=1):
            blocks.append(f"{n}\n{clock(segment.start_ms, ',')} --> {clock(end, ',')}\n"
                          f"{segment.speaker or 'Unknown'}: {_one_line(segment.text)}")
        return "\n\n".join(blocks) + "\n"
    raise ValueError(f"unknown format {fmt}")
