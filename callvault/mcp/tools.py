"""What the MCP tools answer: the vault as one person may see it, as structured data plus readable text.

Every function takes the person asking (`user`) and finds calls only through `calls.queries`
(visible_calls / get_call_for / filtered_calls) and the library's services (search.listing,
search.results), so a member's tools see that member's calls and an admin's everyone's — the JSON
API's rules. Another person's meeting id is answered like a missing one. A `ToolInputError` carries
a message for the caller; `server.py` turns it into a tool error.
"""
import base64
import binascii
import json
from datetime import datetime

from flask import current_app
from sqlalchemy import and_, func, or_, select

from ..calls.queries import (CallFilters, QueryError, encode_cursor, decode_cursor, filtered_calls, get_call_for,
                             parse_filters, person_matches)
from ..calls.serialize import call_to_json
from ..extensions import db
from ..models import ActionItem, Call, TranscriptSegment, User
from ..search import fulltext, listing, results
from ..transcripts import links

MAX_TRANSCRIPT_CHARS = 40_000  # one page of a transcript: about 10,000 tokens, whatever max_segments says


class ToolInputError(ValueError):
    """An argument the tool cannot use; the message says what to send instead."""


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def clock(ms: int | None) -> str:
    """A time offset as h:mm:ss or m:ss."""
    seconds = max(0, (ms or 0) // 1000)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def _filters(q=None, since=None, until=None, participant=None, source=None) -> CallFilters:
    try:
        return parse_filters(q, source, since, until, participant)
    except QueryError as exc:
        raise ToolInputError(str(exc)) from None


def _meeting_brief(call: Call) -> dict:
    return {"meeting_id": call.id, "title": call.title, "started_at": _iso(call.started_at),
            "duration_seconds": call.duration_seconds, "source": call.source,
            "participants": [p.name or p.email for p in call.participants if p.name or p.email]}


def _visible_call(user: User, meeting_id: int) -> Call:
    call = get_call_for(user, meeting_id)
    if call is None:
        raise ToolInputError(f"there is no meeting {meeting_id} that you can see; find ids with search_meetings "
                             "or list_meetings")
    return call


# --- search_meetings ---------------------------------------------------------------------------------

def search_meetings(user: User, query: str, since=None, until=None, participant=None, source=None,
                    limit: int = 10, cursor: str | None = None) -> dict:
    filters = _filters(query, since, until, participant, source)
    if not fulltext.parse(filters.q).groups:
        raise ToolInputError("the query has no words to search for: send words, \"a phrase\", -word or "
                             "a OR b (to list meetings without words, use list_meetings)")
    try:
        page = results.search_for(user, filters, current_app.config, cursor, limit)
    except QueryError as exc:
        raise ToolInputError(str(exc)) from None
    hits = []
    for hit in page.hits:
        lines = [_line_json(line) for line in hit.lines]
        best = hit.best_line
        hits.append({**_meeting_brief(hit.call), "matched_by": hit.match,
                     "best_passage": _line_json(best) if best else None,
                     "matching_lines": lines, "more_matching_lines": hit.more_lines,
                     "summary_excerpt": "".join(text for text, _ in hit.summary) if hit.summary else None})
    return {"query": filters.q, "hits": hits, "total": page.total, "next_cursor": page.next_cursor,
            "note": page.semantic_note}


def _line_json(line) -> dict:
    return {"start_ms": line.start_ms, "time": clock(line.start_ms), "speaker": line.speaker,
            "text": "".join(text for text, _ in line.pieces)}


def search_text(data: dict) -> str:
    if not data["hits"]:
        return f"No meetings match {data['query']!r}." + (f" {data['note']}" if data["note"] else "")
    count = f"{data['total']} meetings match" if data["total"] is not None else "Newest matching meetings"
    out = [f"{count} {data['query']!r}" + (f" ({data['note']})" if data["note"] else "") + ":"]
    for hit in data["hits"]:
        out.append(f"\n## {hit['title']} — meeting {hit['meeting_id']}, {hit['started_at'][:16].replace('T', ' ')}")
        if hit["summary_excerpt"]:
            out.append(f"Summary: {hit['summary_excerpt']}")
        out.append(f"Matched by {hit['matched_by']}.")
        lines = hit["matching_lines"] or ([hit["best_passage"]] if hit["best_passage"] else [])
        for line in lines:
            out.append(f"[{line['time']}] {line['speaker'] + ': ' if line['speaker'] else ''}{line['text']}")
        if hit["more_matching_lines"]:
            out.append(f"(+{hit['more_matching_lines']} more matching lines)")
    if data["next_cursor"]:
        out.append(f"\nMore results: call again with cursor={data['next_cursor']!r}.")
    return "\n".join(out)


# --- list_meetings -------------------------------------------------------------------------------------

def list_meetings(user: User, since=None, until=None, participant=None, source=None, limit: int = 20,
                  cursor: str | None = None) -> dict:
    filters = _filters(None, since, until, participant, source)
    try:
        calls, next_cursor = listing.list_calls(user, filters, cursor, limit)
    except QueryError as exc:
        raise ToolInputError(str(exc)) from None
    return {"meetings": [_meeting_brief(call) for call in calls], "next_cursor": next_cursor}


def list_text(data: dict) -> str:
    if not data["meetings"]:
        return "No meetings found."
    out = [f"{len(data['meetings'])} meetings, newest first:"]
    for m in data["meetings"]:
        minutes = f", {m['duration_seconds'] // 60} min" if m["duration_seconds"] is not None else ""
        out.append(f"- {m['started_at'][:16].replace('T', ' ')}  {m['title']} (meeting {m['meeting_id']}"
                   f"{minutes}; {', '.join(m['participants'][:6]) or 'no participants listed'})")
    if data["next_cursor"]:
        out.append(f"More: call again with cursor={data['next_cursor']!r}.")
    return "\n".join(out)


# --- get_meeting ---------------------------------------------------------------------------------------

def get_meeting(user: User, meeting_id: int) -> dict:
    call = _visible_call(user, meeting_id)
    data = call_to_json(call)
    segments = db.session.scalar(select(func.count()).where(TranscriptSegment.call_id == call.id))
    config = current_app.config
    try:
        viewer_link = links.make_link(call, user.email)
    except (links.LinkError, links.LinkConfigError):  # an admin outside the meeting, or no link secret
        viewer_link = None
    return {
        "meeting_id": call.id, "title": call.title, "source": call.source, "external_id": call.external_id,
        "started_at": data["started_at"], "ended_at": data["ended_at"], "duration_seconds": data["duration_seconds"],
        "recorded_by": data["recorded_by"], "participants": data["participants"],
        "summary_markdown": call.summary_markdown, "action_items": data["action_items"],
        "transcript_segments": segments,
        "links": {"callvault": f"{config['PUBLIC_BASE_URL']}/calls/{call.id}", "viewer": viewer_link,
                  "recording": call.recording_url, "share": call.share_url},
    }


def meeting_text(data: dict) -> str:
    out = [f"# {data['title']}", f"Meeting {data['meeting_id']} ({data['source']}), {data['started_at']}"
           + (f", {data['duration_seconds'] // 60} min" if data["duration_seconds"] is not None else "")]
    who = data["recorded_by"]
    if who["name"] or who["email"]:
        out.append(f"Recorded by: {who['name'] or ''} {('<' + who['email'] + '>') if who['email'] else ''}".strip())
    if data["participants"]:
        out.append("Participants: " + ", ".join(
            f"{p['name'] or p['email']}" + (f" <{p['email']}>" if p["name"] and p["email"] else "")
            for p in data["participants"]))
    out.append(f"\n## Summary\n{data['summary_markdown'] or '(no summary)'}")
    if data["action_items"]:
        out.append("\n## Action items")
        for item in data["action_items"]:
            who = item["assignee"]["name"] or item["assignee"]["email"]
            out.append(f"- [{'x' if item['completed'] else ' '}] {item['description']}" + (f" ({who})" if who else ""))
    out.append(f"\nTranscript: {data['transcript_segments']} segments (read them with get_transcript).")
    out.append("Links: " + ", ".join(f"{name}: {url}" for name, url in data["links"].items() if url))
    return "\n".join(out)


# --- get_transcript --------------------------------------------------------------------------------------

def get_transcript(user: User, meeting_id: int, start_segment: int = 0, start_seconds: float | None = None,
                   end_seconds: float | None = None, max_segments: int = 200) -> dict:
    """One page of a transcript: from `start_segment` (and `start_seconds`), before `end_seconds`, at most
    `max_segments` segments and MAX_TRANSCRIPT_CHARS characters (always at least one segment)."""
    call = _visible_call(user, meeting_id)
    if start_seconds is not None and end_seconds is not None and end_seconds <= start_seconds:
        raise ToolInputError("end_seconds must be after start_seconds")
    query = select(TranscriptSegment).where(TranscriptSegment.call_id == call.id,
                                            TranscriptSegment.position >= start_segment)
    if start_seconds is not None:
        query = query.where(TranscriptSegment.start_ms >= int(start_seconds * 1000))
    if end_seconds is not None:
        query = query.where(TranscriptSegment.start_ms < int(end_seconds * 1000))
    rows = list(db.session.scalars(query.order_by(TranscriptSegment.position).limit(max_segments + 1)))
    total = db.session.scalar(select(func.count()).where(TranscriptSegment.call_id == call.id))
    segments, size = [], 0
    for row in rows[:max_segments]:
        size += len(row.text or "")
        if segments and size > MAX_TRANSCRIPT_CHARS:
            break
        segments.append(row)
    more = len(segments) < len(rows)
    return {
        "meeting_id": call.id, "title": call.title, "total_segments": total,
        "segments": [{"index": s.position, "start_ms": s.start_ms, "end_ms": s.end_ms, "time": clock(s.start_ms),
                      "speaker": s.speaker, "text": s.text} for s in segments],
        "next_start_segment": rows[len(segments)].position if more else None,
    }


def transcript_text(data: dict) -> str:
    segments = data["segments"]
    if not segments:
        return f"No transcript lines of meeting {data['meeting_id']} in that range ({data['total_segments']} in all)."
    out = [f"{data['title']} (meeting {data['meeting_id']}): segments {segments[0]['index']}–{segments[-1]['index']}"
           f" of {data['total_segments']}"]
    out += [f"[{s['time']}] {s['speaker'] or 'Unknown'}: {s['text']}" for s in segments]
    if data["next_start_segment"] is not None:
        out.append(f"(continues: call again with start_segment={data['next_start_segment']})")
    return "\n".join(out)


# --- list_action_items -------------------------------------------------------------------------------------

def _encode_item_cursor(started_at: datetime, call_id: int, item_id: int) -> str:
    return base64.urlsafe_b64encode(json.dumps([encode_cursor(started_at, call_id), item_id]).encode()) \
        .decode().rstrip("=")


def _decode_item_cursor(cursor: str) -> tuple[datetime, int, int]:
    try:
        call_cursor, item_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        started_at, call_id = decode_cursor(call_cursor)
        return started_at, call_id, int(item_id)
    except (ValueError, TypeError, binascii.Error, QueryError):
        raise ToolInputError("cursor is not one this server gave out") from None


def list_action_items(user: User, since=None, until=None, assignee=None, open_only: bool = True,
                      limit: int = 50, cursor: str | None = None) -> dict:
    """Action items of the meetings `user` may see, newest meeting first, in each meeting's order."""
    query = (filtered_calls(user, _filters(None, since, until))
             .join(ActionItem, ActionItem.call_id == Call.id)
             .with_only_columns(ActionItem, Call.title, Call.started_at))
    if open_only:
        query = query.where(ActionItem.completed.is_(False))
    if assignee and assignee.strip():
        query = query.where(person_matches(ActionItem.assignee_name, ActionItem.assignee_email, assignee[:320]))
    if cursor:
        started, call_id, item_id = _decode_item_cursor(cursor)
        query = query.where(or_(Call.started_at < started,
                                and_(Call.started_at == started, Call.id < call_id),
                                and_(Call.started_at == started, Call.id == call_id, ActionItem.id > item_id)))
    rows = db.session.execute(query.order_by(Call.started_at.desc(), Call.id.desc(), ActionItem.id)
                              .limit(limit + 1)).all()
    items = [{"meeting_id": item.call_id, "meeting_title": title, "meeting_started_at": _iso(started),
              "description": item.description, "assignee": {"name": item.assignee_name, "email": item.assignee_email},
              "completed": item.completed, "time": clock(item.timestamp_ms) if item.timestamp_ms is not None else None}
             for item, title, started in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last, _, started = rows[limit - 1]
        next_cursor = _encode_item_cursor(started, last.call_id, last.id)
    return {"action_items": items, "next_cursor": next_cursor}


def action_items_text(data: dict) -> str:
    if not data["action_items"]:
        return "No action items found."
    out = []
    for item in data["action_items"]:
        who = item["assignee"]["name"] or item["assignee"]["email"]
        out.append(f"- [{'x' if item['completed'] else ' '}] {item['description']}" + (f" — {who}" if who else "")
                   + f" (meeting {item['meeting_id']}: {item['meeting_title']}, {item['meeting_started_at'][:10]})")
    if data["next_cursor"]:
        out.append(f"More: call again with cursor={data['next_cursor']!r}.")
    return "\n".join(out)
