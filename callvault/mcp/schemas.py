"""The structured content of each tool's answer, as pydantic models: the SDK publishes them as the tools'
output schemas and checks every answer against them (see tools.py for what fills them)."""
from typing import Literal

from pydantic import BaseModel


class Person(BaseModel):
    name: str | None
    email: str | None


class Participant(Person):
    is_external: bool | None
    is_organizer: bool


class Line(BaseModel):
    start_ms: int | None
    time: str
    speaker: str | None
    text: str


class MeetingBrief(BaseModel):
    meeting_id: int
    title: str
    started_at: str
    duration_seconds: int | None
    source: str
    participants: list[str]


class SearchHit(MeetingBrief):
    matched_by: Literal["words", "meaning", "both"]
    best_passage: Line | None
    matching_lines: list[Line]
    more_matching_lines: int
    summary_excerpt: str | None


class SearchResult(BaseModel):
    query: str
    hits: list[SearchHit]
    total: int | None
    next_cursor: str | None
    note: str | None


class MeetingList(BaseModel):
    meetings: list[MeetingBrief]
    next_cursor: str | None


class MeetingActionItem(BaseModel):
    description: str
    assignee: Person
    completed: bool
    timestamp_ms: int | None


class MeetingLinks(BaseModel):
    callvault: str
    viewer: str | None
    recording: str | None
    share: str | None


class Meeting(BaseModel):
    meeting_id: int
    title: str
    source: str
    external_id: str
    started_at: str
    ended_at: str | None
    duration_seconds: int | None
    recorded_by: Person
    participants: list[Participant]
    summary_markdown: str | None
    action_items: list[MeetingActionItem]
    transcript_segments: int
    links: MeetingLinks


class Segment(BaseModel):
    index: int
    start_ms: int
    end_ms: int | None
    time: str
    speaker: str | None
    text: str


class Transcript(BaseModel):
    meeting_id: int
    title: str
    total_segments: int
    segments: list[Segment]
    next_start_segment: int | None


class ActionItemRow(BaseModel):
    meeting_id: int
    meeting_title: str
    meeting_started_at: str
    description: str
    assignee: Person
    completed: bool
    time: str | None


class ActionItemList(BaseModel):
    action_items: list[ActionItemRow]
    next_cursor: str | None
