"""The MCP server at POST /mcp, driven by the official SDK's client over HTTP on a live server."""
import json

import httpx2
import pytest

from tests.support.mcp import over_http, store_call

TOOLS = {"search_meetings", "list_meetings", "get_meeting", "get_transcript", "list_action_items"}


def test_lists_the_five_tools_with_schemas(mcp_server, member, token_for):
    tools = over_http(mcp_server.url, token_for(member), lambda c: c.list_tools())
    by_name = {tool.name: tool for tool in tools.tools}
    assert set(by_name) == TOOLS
    for tool in by_name.values():
        assert tool.description and tool.input_schema["type"] == "object"
        assert tool.output_schema["type"] == "object"
        assert tool.annotations.read_only_hint is True
    assert by_name["search_meetings"].input_schema["required"] == ["query"]
    assert by_name["get_transcript"].input_schema["properties"]["max_segments"]["maximum"] == 500


def test_search_then_read_the_transcript(app, mcp_server, member, token_for):
    store_call(app, member, ["Hello all", "Acme asked about pricing tiers", "We promised a 10% discount on pricing"],
               external_id="1", title="Pricing with Acme", summary="We agreed a discount.")
    store_call(app, member, external_id="2", title="Hiring sync")

    async def work(client):
        found = await client.call_tool("search_meetings", {"query": "pricing"})
        hit = found.structured_content["hits"][0]
        transcript = await client.call_tool("get_transcript", {"meeting_id": hit["meeting_id"]})
        return found, transcript

    found, transcript = over_http(mcp_server.url, token_for(member), work)
    assert not found.is_error
    hits = found.structured_content["hits"]
    assert [h["title"] for h in hits] == ["Pricing with Acme"]
    assert [line["text"] for line in hits[0]["matching_lines"]][:2] == ["Acme asked about pricing tiers",
                                                                       "We promised a 10% discount on pricing"]
    assert hits[0]["matching_lines"][0]["time"] == "0:05"
    assert "Pricing with Acme" in found.content[0].text
    segments = transcript.structured_content["segments"]
    assert [s["text"] for s in segments] == ["Hello all", "Acme asked about pricing tiers",
                                             "We promised a 10% discount on pricing"]
    assert transcript.structured_content["next_start_segment"] is None
    assert "[0:05] Guest Person: Acme asked about pricing tiers" in transcript.content[0].text



def test_members_see_only_their_own_meetings_admins_everyones(app, mcp_server, admin, member, other_member,
                                                               token_for):
    mine = store_call(app, member, ["our roadmap is ready"], external_id="m1", title="Member roadmap",
                      action_items=[{"description": "Send the roadmap", "assignee_email": "member@example.com"}])
    theirs = store_call(app, other_member, ["the secret roadmap of Olga"], external_id="o1", title="Olga roadmap",
                        action_items=[{"description": "Olga's private follow-up"}])

    async def everything(client):
        answers = {}
        answers["search"] = await client.call_tool("search_meetings", {"query": "roadmap"})
        answers["list"] = await client.call_tool("list_meetings", {})
        answers["items"] = await client.call_tool("list_action_items", {})
        answers["meeting"] = await client.call_tool("get_meeting", {"meeting_id": theirs})
        answers["transcript"] = await client.call_tool("get_transcript", {"meeting_id": theirs})
        return answers

    seen = over_http(mcp_server.url, token_for(member), everything)
    assert [h["meeting_id"] for h in seen["search"].structured_content["hits"]] == [mine]
    assert [m["meeting_id"] for m in seen["list"].structured_content["meetings"]] == [mine]
    assert [i["description"] for i in seen["items"].structured_content["action_items"]] == ["Send the roadmap"]
    for refused in (seen["meeting"], seen["transcript"]):
        assert refused.is_error and f"no meeting {theirs} that you can see" in refused.content[0].text
        assert "Olga" not in refused.content[0].text

    seen = over_http(mcp_server.url, token_for(admin), everything)
    assert {h["meeting_id"] for h in seen["search"].structured_content["hits"]} == {mine, theirs}
    assert not seen["meeting"].is_error and seen["meeting"].structured_content["title"] == "Olga roadmap"
    assert seen["transcript"].structured_content["segments"][0]["text"] == "the secret roadmap of Olga"


def test_without_a_valid_token_401_names_the_resource_metadata(mcp_server, member, token_for):
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    for auth in ({}, {"Authorization": "Bearer cv_not-a-token"}, {"Authorization": "Basic abc"}):
        response = httpx2.post(mcp_server.url + "/mcp", json=body, headers={**headers, **auth})
        assert response.status_code == 401
        assert (f'resource_metadata="{mcp_server.url}/.well-known/oauth-protected-resource/mcp"'
                in response.headers["www-authenticate"])
    metadata = httpx2.get(mcp_server.url + "/.well-known/oauth-protected-resource/mcp").json()
    assert metadata["resource"] == mcp_server.url + "/mcp"
    assert metadata["authorization_servers"] in ([mcp_server.url], [mcp_server.url + "/"])
    server = httpx2.get(mcp_server.url + "/.well-known/oauth-authorization-server").json()
    assert server["issuer"] == mcp_server.url
    assert server["code_challenge_methods_supported"] == ["S256"]
    assert server["registration_endpoint"] == mcp_server.url + "/oauth/register"
    ok = httpx2.post(mcp_server.url + "/mcp", json=body, headers={**headers,
                                                                 "Authorization": f"Bearer {token_for(member)}"})
    assert ok.status_code == 200 and {t["name"] for t in ok.json()["result"]["tools"]} == TOOLS


def test_a_deactivated_members_token_stops_working(app, mcp_server, member, token_for):
    token = token_for(member)
    with app.app_context():
        from callvault.extensions import db
        from callvault.models import User
        db.session.get(User, member).is_active = False
        db.session.commit()
    response = httpx2.post(mcp_server.url + "/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                           headers={"Accept": "application/json, text/event-stream",
                                    "Authorization": f"Bearer {token}"})
    assert response.status_code == 401


BAD_INPUT = [
    ("no_such_tool", {}, "Unknown tool: no_such_tool"),
    ("get_meeting", {"meeting_id": "not a number"}, "meeting_id"),
    ("get_meeting", {}, "meeting_id"),
    ("get_meeting", {"meeting_id": 99999999}, "no meeting 99999999 that you can see"),
    ("get_meeting", {"meeting_id": 10 ** 30}, "meeting_id"),
    ("list_meetings", {"limit": 1_000_000}, "limit"),
    ("list_meetings", {"limit": -1}, "limit"),
    ("list_meetings", {"since": "last tuesday"}, "since must be an ISO 8601 date"),
    ("list_meetings", {"cursor": "garbage!"}, "cursor is not one this server gave out"),
    ("list_meetings", {"source": "zoom"}, "source"),
    ("search_meetings", {"query": ""}, "query"),
    ("search_meetings", {"query": '- OR -- "" ,,'}, "the query has no words to search for"),
    ("search_meetings", {"query": "x" * 10_000}, "query"),
    ("search_meetings", {"query": "pricing", "cursor": "eyJvZmZzZXQiOiAtNX0"}, "cursor is not one"),
    ("get_transcript", {"meeting_id": 1, "max_segments": 100_000}, "max_segments"),
    ("get_transcript", {"meeting_id": 1, "start_seconds": 60, "end_seconds": 30}, "end_seconds must be after"),
    ("get_transcript", {"meeting_id": 1, "start_segment": -3}, "start_segment"),
    ("list_action_items", {"open_only": "perhaps"}, "open_only"),
    ("list_action_items", {"cursor": "W1siMjAyNiJdXQ"}, "cursor is not one this server gave out"),
]


def test_bad_input_is_a_tool_error_with_a_clear_message(app, mcp_server, member, token_for):
    store_call(app, member, ["pricing talk"], external_id="b1")

    async def work(client):
        answers = []
        for name, arguments, _ in BAD_INPUT:
            answers.append(await client.call_tool(name, arguments))
        answers.append(await client.call_tool("list_meetings", {}))  # the server is still fine
        return answers

    answers = over_http(mcp_server.url, token_for(member), work)
    for (name, arguments, message), bad in zip(BAD_INPUT, answers):
        assert bad.is_error, (name, arguments)
        assert message in bad.content[0].text, (name, arguments, bad.content[0].text)
    assert not answers[-1].is_error and len(answers[-1].structured_content["meetings"]) == 1


@pytest.mark.parametrize("method, headers, body", [
    ("POST", {"Content-Type": "application/json"}, b"{not json"),
    ("POST", {"Content-Type": "text/plain"}, b"hello"),
    ("POST", {"Content-Type": "application/json"}, b'{"jsonrpc": "2.0", "id": 1, "method": "no/such"}'),
    ("POST", {"Content-Type": "application/json"}, b"[1, 2, 3]"),
    ("GET", {}, b""),
    ("DELETE", {}, b""),
])
def test_malformed_requests_get_a_4xx_never_a_500(mcp_server, member, token_for, method, headers, body):
    response = httpx2.request(method, mcp_server.url + "/mcp", content=body, headers={
        "Accept": "application/json, text/event-stream", "Authorization": f"Bearer {token_for(member)}", **headers})
    assert response.status_code < 500
    assert response.status_code >= 400 or "error" in response.json()


def test_a_foreign_host_header_is_refused(mcp_server, member, token_for):
    response = httpx2.post(mcp_server.url + "/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                           headers={"Accept": "application/json, text/event-stream", "Host": "evil.example",
                                    "Authorization": f"Bearer {token_for(member)}"})
    assert response.status_code in (400, 421)


def test_list_filters_pages_and_meeting_details(app, mcp_server, member, token_for):
    from datetime import datetime, timezone
    first = store_call(app, member, ["a"], external_id="p1", title="Early call",
                       started_at=datetime(2026, 10, 1, 9, tzinfo=timezone.utc))
    second = store_call(app, member, ["b"], external_id="p2", title="Bot call", source="bot",
                        started_at=datetime(2026, 11, 5, 9, tzinfo=timezone.utc),
                        action_items=[{"description": "Book the venue", "assignee_name": "Guest Person"},
                                      {"description": "Already done", "completed": True}])
    third = store_call(app, member, ["c"], external_id="p3", title="Late call",
                       started_at=datetime(2026, 11, 20, 9, tzinfo=timezone.utc))

    async def work(client):
        out = {}
        out["page1"] = await client.call_tool("list_meetings", {"limit": 2})
        out["page2"] = await client.call_tool("list_meetings", {"limit": 2,
                                                                "cursor": out["page1"].structured_content["next_cursor"]})
        out["range"] = await client.call_tool("list_meetings", {"since": "2026-11-01", "until": "2026-11-10"})
        out["bot"] = await client.call_tool("list_meetings", {"source": "bot"})
        out["guest"] = await client.call_tool("list_meetings", {"participant": "GUEST@outside.example"})
        out["nobody"] = await client.call_tool("list_meetings", {"participant": "nobody"})
        out["meeting"] = await client.call_tool("get_meeting", {"meeting_id": second})
        out["open"] = await client.call_tool("list_action_items", {})
        out["all"] = await client.call_tool("list_action_items", {"open_only": False, "assignee": "guest"})
        return out

    out = over_http(mcp_server.url, token_for(member), work)
    ids = lambda result: [m["meeting_id"] for m in result.structured_content["meetings"]]  # noqa: E731
    assert ids(out["page1"]) == [third, second] and ids(out["page2"]) == [first]
    assert out["page2"].structured_content["next_cursor"] is None
    assert ids(out["range"]) == [second] and ids(out["bot"]) == [second]
    assert ids(out["guest"]) == [third, second, first] and ids(out["nobody"]) == []
    meeting = out["meeting"].structured_content
    assert meeting["title"] == "Bot call" and meeting["transcript_segments"] == 1
    assert meeting["links"]["viewer"].startswith(mcp_server.url + f"/dashboard/transcripts/{second}/?token=")
    assert [p["email"] for p in meeting["participants"]] == ["member@example.com", "guest@outside.example"]
    assert "## Action items" in out["meeting"].content[0].text
    assert [i["description"] for i in out["open"].structured_content["action_items"]] == ["Book the venue"]
    assert [i["description"] for i in out["all"].structured_content["action_items"]] == ["Book the venue"]


def test_a_long_transcript_comes_in_pages(app, mcp_server, member, token_for):
    call = store_call(app, member, [f"line {i} " + "word " * 40 for i in range(1200)], external_id="long")

    async def work(client):
        pages, start = [], 0
        while start is not None:
            page = await client.call_tool("get_transcript", {"meeting_id": call, "start_segment": start,
                                                             "max_segments": 500})
            pages.append(page.structured_content)
            start = page.structured_content["next_start_segment"]
        by_time = await client.call_tool("get_transcript", {"meeting_id": call, "start_seconds": 60,
                                                            "end_seconds": 90})
        return pages, by_time

    pages, by_time = over_http(mcp_server.url, token_for(member), work)
    assert all(sum(len(s["text"]) for s in page["segments"]) <= 40_000 for page in pages)
    assert len(pages) > 3  # the character cap, not only max_segments
    assert [s["index"] for page in pages for s in page["segments"]] == list(range(1200))
    assert [s["index"] for s in by_time.structured_content["segments"]] == [12, 13, 14, 15, 16, 17]
    assert json.dumps(pages[0])  # plain JSON all the way
