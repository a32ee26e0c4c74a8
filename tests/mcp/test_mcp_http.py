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

