"""CallVault's MCP server: the five tools of tools.py on the official SDK's MCPServer.

One builder serves both transports: HTTP (`http.py` mounts it at POST /mcp, the user being the one
the bearer token names) and stdio (`flask mcp serve --user EMAIL`, one fixed user). A tool runs its
service in a worker thread inside an app context of its own (its own database session), as the
person `acting_user_id()` names, and answers a `CallToolResult` with readable text and structured
content checked against the schemas of schemas.py. Bad input never escapes as anything but a tool
error: the SDK refuses arguments that fail the input schema, a `ToolInputError` becomes a ToolError
with its message, and anything unexpected is logged and answered as a generic tool error.
"""
import time
from collections.abc import Callable
from typing import Annotated, Literal

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import Field

from ..extensions import db
from ..logs import log_event
from ..models import User
from . import schemas, tools

INSTRUCTIONS = (
    "CallVault holds the person's recorded meetings (transcripts, summaries, action items). "
    "Use search_meetings to find what was said, then get_meeting and get_transcript (paged) on a hit's "
    "meeting_id; list_meetings browses by date, person or source; list_action_items lists follow-ups. "
    "Dates are ISO 8601 (2026-11-01 or 2026-11-01T15:00:00Z).")
READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)

Since = Annotated[str | None, Field(description="Only meetings that started on or after this ISO 8601 date "
                                                "or date-time, e.g. 2026-11-01", max_length=40)]
Until = Annotated[str | None, Field(description="Only meetings that started before this ISO 8601 date or "
                                                "date-time", max_length=40)]
Person = Annotated[str | None, Field(description="An email address, or part of a person's name", max_length=320)]
Source = Annotated[Literal["fathom", "bot"] | None, Field(description="Where the recording came from")]
Cursor = Annotated[str | None, Field(description="next_cursor from the previous page", max_length=500)]
MeetingId = Annotated[int, Field(description="A meeting_id from search_meetings or list_meetings", ge=1,
                                 le=2**31 - 1)]


def build_server(app, acting_user_id: Callable[[], int | None], **auth) -> MCPServer:
    """The server for `app`; `auth` is the SDK's auth settings and token verifier (HTTP only)."""
    server = MCPServer("CallVault", instructions=INSTRUCTIONS, log_level="WARNING", **auth)

    async def answer(name: str, service, render, **arguments) -> CallToolResult:
        user_id = acting_user_id()
        if user_id is None:
            raise ToolError("no CallVault user: sign in again")
        return await anyio.to_thread.run_sync(lambda: _run(app, name, user_id, service, render, arguments))

    async def search_meetings(
        query: Annotated[str, Field(description="Words to find in titles, summaries and transcripts: every word "
                                                "must appear (a word also matches as a prefix), \"a phrase\" as "
                                                "written, -word must not appear, OR separates alternatives",
                                    min_length=1, max_length=500)],
        since: Since = None, until: Until = None, participant: Person = None, source: Source = None,
        limit: Annotated[int, Field(description="Meetings per page", ge=1, le=25)] = 10,
        cursor: Cursor = None,
    ) -> Annotated[CallToolResult, schemas.SearchResult]:
        """Search the meetings you may see, best match first: by the words and by what was meant (a question in
        your own words finds a meeting that said it differently). Each hit has the meeting's id, title and date,
        whether it matched by words, meaning or both, its best passage and matching transcript lines with their
        time offsets; read more with get_transcript."""
        return await answer("search_meetings", tools.search_meetings, tools.search_text, query=query, since=since,
                            until=until, participant=participant, source=source, limit=limit, cursor=cursor)

    async def list_meetings(
        since: Since = None, until: Until = None, participant: Person = None, source: Source = None,
        limit: Annotated[int, Field(description="Meetings per page", ge=1, le=50)] = 20,
        cursor: Cursor = None,
    ) -> Annotated[CallToolResult, schemas.MeetingList]:
        """List the meetings you may see, newest first, by date range, participant and source (paginated)."""
        return await answer("list_meetings", tools.list_meetings, tools.list_text, since=since, until=until,
                            participant=participant, source=source, limit=limit, cursor=cursor)

    async def get_meeting(meeting_id: MeetingId) -> Annotated[CallToolResult, schemas.Meeting]:
        """One meeting: its metadata, participants, summary, action items, how long its transcript is, and
        links (CallVault's page, a signed transcript-viewer link, the source's recording)."""
        return await answer("get_meeting", tools.get_meeting, tools.meeting_text, meeting_id=meeting_id)

    async def get_transcript(
        meeting_id: MeetingId,
        start_segment: Annotated[int, Field(description="First segment index (0 is the start); use "
                                                        "next_start_segment to read on", ge=0, le=2**31 - 1)] = 0,
        start_seconds: Annotated[float | None, Field(description="Only lines spoken at or after this many "
                                                                 "seconds into the meeting", ge=0, le=10**7)] = None,
        end_seconds: Annotated[float | None, Field(description="Only lines spoken before this many seconds "
                                                               "into the meeting", gt=0, le=10**7)] = None,
        max_segments: Annotated[int, Field(description="Segments per page (a page also stops at about 40,000 "
                                                       "characters)", ge=1, le=500)] = 200,
    ) -> Annotated[CallToolResult, schemas.Transcript]:
        """A page of a meeting's transcript, in spoken order, with speakers and time offsets. Page by segment
        index (start_segment) or by time (start_seconds / end_seconds)."""
        return await answer("get_transcript", tools.get_transcript, tools.transcript_text, meeting_id=meeting_id,
                            start_segment=start_segment, start_seconds=start_seconds, end_seconds=end_seconds,
                            max_segments=max_segments)

    async def list_action_items(
        since: Since = None, until: Until = None,
        assignee: Annotated[str | None, Field(description="An assignee's email address, or part of their name",
                                              max_length=320)] = None,
        open_only: Annotated[bool, Field(description="Only items not done yet")] = True,
        limit: Annotated[int, Field(description="Items per page", ge=1, le=100)] = 50,
        cursor: Cursor = None,
    ) -> Annotated[CallToolResult, schemas.ActionItemList]:
        """Action items from the meetings you may see, newest meeting first, each with its meeting's id."""
        return await answer("list_action_items", tools.list_action_items, tools.action_items_text, since=since,
                            until=until, assignee=assignee, open_only=open_only, limit=limit, cursor=cursor)

    for tool in (search_meetings, list_meetings, get_meeting, get_transcript, list_action_items):
        server.add_tool(tool, annotations=READ_ONLY)
    return server


def _run(app, name: str, user_id: int, service, render, arguments: dict) -> CallToolResult:
    started, outcome = time.monotonic(), "error"
    with app.app_context():
        try:
            user = db.session.get(User, user_id)
            if user is None or not user.is_active:
                outcome = "inactive"
                raise ToolError("this CallVault account is deactivated")
            try:
                data = service(user, **arguments)
            except tools.ToolInputError as exc:
                outcome = "bad_input"
                raise ToolError(str(exc)) from None
            outcome = "ok"
            return CallToolResult(content=[TextContent(type="text", text=render(data))], structured_content=data)
        finally:
            log_event("mcp_tool", tool=name, user_id=user_id, outcome=outcome,
                      ms=round((time.monotonic() - started) * 1000, 1))
