"""The JSON shape of a call, shared by the API, downloads and exports."""
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ..extensions import db
from ..models import Call, TranscriptSegment


def _iso(value):
    return value.isoformat().replace("+00:00", "Z") if value else None


def call_to_json(call: Call, segments: list[TranscriptSegment] | None = None) -> dict:
    data = {
        "id": call.id,
        "source": call.source,
        "external_id": call.external_id,
        "title": call.title,
        "started_at": _iso(call.started_at),
        "ended_at": _iso(call.ended_at),
        "duration_seconds": call.duration_seconds,
        "recorded_by": {"name": call.recorded_by_name, "email": call.recorded_by_email},
        "participants": [{"name": p.name, "email": p.email, "is_external": p.is_external,
                          "is_organizer": p.is_organizer} for p in call.participants],
        "summary_markdown": call.summary_markdown,
        "action_items": [{"description": a.description,
                          "assignee": {"name": a.assignee_name, "email": a.assignee_email},
                          "completed": a.completed, "timestamp_ms": a.timestamp_ms} for a in call.action_items],
        "recording_url": call.recording_url,
        "share_url": call.share_url,
        "created_at": _iso(call.created_at),
        "updated_at": _iso(call.updated_at),
    }
    if segments is not None:
        data["segments"] = [{"speaker": s.speaker, "text": s.text, "start_ms": s.start_ms, "end_ms": s.end_ms}
                            for s in segments]
    return data


def calls_to_json(calls: list[Call]) -> list[dict]:
    """A page of calls: their participants and action items read in two queries, not two per call."""
    if calls:
        db.session.scalars(select(Call).where(Call.id.in_([call.id for call in calls]))
                           .options(selectinload(Call.participants), selectinload(Call.action_items))).all()
    return [call_to_json(call) for call in calls]
