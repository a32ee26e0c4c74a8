"""A call as a source hands it to the store, with sensible defaults (the `make_call` fixture stores one)."""
from datetime import datetime, timedelta, timezone

from callvault.calls.store import CallData, ParticipantData, SegmentData


def sample_call(external_id="1001", title="Quarterly planning", started_at=None, segments=3, source="fathom",
                summary="## Summary\nWe planned the quarter.", **extra) -> CallData:
    started_at = started_at or datetime(2026, 11, 2, 15, 0, tzinfo=timezone.utc)
    return CallData(
        source=source, external_id=external_id, title=title, started_at=started_at,
        ended_at=started_at + timedelta(minutes=30), recorded_by_name="Max Member",
        recorded_by_email="member@example.com", summary_markdown=summary,
        participants=[ParticipantData(name="Max Member", email="member@example.com", is_organizer=True),
                      ParticipantData(name="Guest Person", email="guest@outside.example", is_external=True)],
        segments=[SegmentData(speaker=("Max Member", "Guest Person")[i % 2], text=f"Line number {i}",
                              start_ms=i * 5000) for i in range(segments)],
        **extra)
