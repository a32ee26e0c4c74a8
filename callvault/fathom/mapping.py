"""Turning a Fathom meeting payload (from /meetings, /recordings/… or a webhook) into CallData.

Fathom is loose with types (recording ids arrive as ints or strings, timestamps as "HH:MM:SS"),
so everything is read defensively; a payload without a recording id is rejected.
"""
from datetime import datetime, timedelta, timezone

from ..calls.store import ActionItemData, CallData, ParticipantData, SegmentData
from ..timeutil import parse_instant


class NotAMeeting(ValueError):
    """The payload is not a Fathom meeting we can store; the message says why."""


def recording_id_of(payload) -> str:
    if not isinstance(payload, dict):
        raise NotAMeeting("the body is not a JSON object")
    value = payload.get("recording_id")
    if isinstance(value, bool) or value in (None, ""):
        raise NotAMeeting("the meeting has no recording_id")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, (int, str)):  # an object, a list, NaN…
        raise NotAMeeting("recording_id is not a usable id")
    text = str(value).strip()
    if not text or len(text) > 128:
        raise NotAMeeting("recording_id is not a usable id")
    return text


def timestamp_to_ms(value) -> int:
    """Fathom transcript timestamps are "HH:MM:SS" (sometimes "MM:SS" or seconds)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return max(0, int(value * 1000))
    if not isinstance(value, str):
        return 0
    try:
        parts = [float(p) for p in value.strip().split(":")]
    except ValueError:
        return 0
    seconds = 0.0
    for part in parts:
        seconds = seconds * 60 + part
    return max(0, int(seconds * 1000))


def _text(value, limit=None) -> str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    return text[:limit] if limit else text


def _dict(value) -> dict:
    return value if isinstance(value, dict) else {}


def _list(value) -> list:
    return value if isinstance(value, list) else []


def transcript_segments(transcript) -> list[SegmentData]:
    segments = []
    for entry in _list(transcript):
        entry = _dict(entry)
        speaker = _dict(entry.get("speaker"))
        segments.append(SegmentData(
            speaker=_text(speaker.get("display_name"), 200),
            speaker_email=_text(speaker.get("matched_calendar_invitee_email"), 320),
            text=_text(entry.get("text")) or "",
            start_ms=timestamp_to_ms(entry.get("timestamp"))))
    return segments


def summary_markdown(summary) -> str | None:
    return _text(_dict(summary).get("markdown_formatted"))


def action_items(items) -> list[ActionItemData]:
    result = []
    for item in _list(items):
        item = _dict(item)
        if not item.get("description"):
            continue
        assignee = _dict(item.get("assignee"))
        result.append(ActionItemData(
            description=_text(item["description"]), assignee_name=_text(assignee.get("name"), 200),
            assignee_email=_text(assignee.get("email"), 320), completed=bool(item.get("completed")),
            timestamp_ms=timestamp_to_ms(item["recording_timestamp"]) if item.get("recording_timestamp") else None))
    return result


def meeting_to_call_data(meeting: dict, transcript=None, summary=None, items=None) -> CallData:
    """Map a meeting; `transcript`/`summary`/`items` override what the meeting itself carries
    (OAuth apps fetch them from /recordings/{id}/… separately)."""
    external_id = recording_id_of(meeting)
    recorded_by = _dict(meeting.get("recorded_by"))
    started = (parse_instant(meeting.get("recording_start_time"))
               or parse_instant(meeting.get("scheduled_start_time"))
               or parse_instant(meeting.get("created_at")) or datetime.now(timezone.utc))
    ended = parse_instant(meeting.get("recording_end_time")) or parse_instant(meeting.get("scheduled_end_time"))
    segments = transcript_segments(meeting.get("transcript") if transcript is None else transcript)
    if ended is None and segments:
        ended = started + timedelta(milliseconds=segments[-1].start_ms)
    participants = [ParticipantData(name=_text(_dict(i).get("name"), 200), email=_text(_dict(i).get("email"), 320),
                                    is_external=_dict(i).get("is_external"))
                    for i in _list(meeting.get("calendar_invitees"))]
    return CallData(
        source="fathom", external_id=external_id,
        title=_text(meeting.get("title") or meeting.get("meeting_title"), 500) or "Untitled meeting",
        started_at=started, ended_at=ended,
        recorded_by_name=_text(recorded_by.get("name"), 200), recorded_by_email=_text(recorded_by.get("email"), 320),
        recording_url=_text(meeting.get("url"), 2000), share_url=_text(meeting.get("share_url"), 2000),
        language=_text(meeting.get("transcript_language"), 16),
        summary_markdown=summary_markdown(meeting.get("default_summary") if summary is None else summary),
        participants=participants, segments=segments,
        action_items=action_items(meeting.get("action_items") if items is None else items))


def meetings_to_call_data(meetings) -> list[CallData]:
    """Listed meetings as call data, leaving out items that are not meetings."""
    datas = []
    for meeting in meetings:
        try:
            datas.append(meeting_to_call_data(meeting))
        except NotAMeeting:
            continue
    return datas
