"""`flask mcp serve --user EMAIL`: the MCP server on stdio, driven by the SDK's stdio client in a subprocess."""
import json
import os
import subprocess
import sys
from pathlib import Path

from mcp import Client, StdioServerParameters

from tests.support.backends import TEST_REDIS_URL
from tests.support.mcp import store_call, with_client

ROOT = Path(__file__).resolve().parents[2]


def _command(database_url: str, email: str) -> tuple[list[str], dict]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DATABASE_", "REDIS_"))}
    env.update({"DATABASE_URL": database_url, "CALLVAULT_ENV": "testing", "PYTHONUNBUFFERED": "1"})
    if TEST_REDIS_URL:
        env["REDIS_URL"] = TEST_REDIS_URL
    return [sys.executable, "-m", "flask", "--app", str(ROOT / "app.py"), "mcp", "serve", "--user", email], env


def _client(database_url, email):
    command, env = _command(database_url, email)
    return Client(StdioServerParameters(command=command[0], args=command[1:], env=env, cwd=str(ROOT)))


def test_stdio_lists_tools_searches_and_reads_as_that_user(app, database_url, member, other_member):
    mine = store_call(app, member, ["we discussed the launch plan", "and the budget"], external_id="s1",
                      title="Launch review")
    store_call(app, other_member, ["the launch of something secret"], external_id="s2", title="Secret launch")

    async def work(client):
        tools = await client.list_tools()
        found = await client.call_tool("search_meetings", {"query": "launch"})
        transcript = await client.call_tool("get_transcript", {"meeting_id": found.structured_content["hits"][0]
                                                               ["meeting_id"]})
        bad = await client.call_tool("get_transcript", {"meeting_id": "many"})
        after = await client.call_tool("list_meetings", {})
        return tools, found, transcript, bad, after

    tools, found, transcript, bad, after = with_client(lambda: _client(database_url, "member@example.com"), work)
    assert {t.name for t in tools.tools} == {"search_meetings", "list_meetings", "get_meeting", "get_transcript",
                                             "list_action_items"}
    assert [h["meeting_id"] for h in found.structured_content["hits"]] == [mine]
    assert [s["text"] for s in transcript.structured_content["segments"]] == ["we discussed the launch plan",
                                                                              "and the budget"]
    assert bad.is_error and "meeting_id" in bad.content[0].text
    assert [m["title"] for m in after.structured_content["meetings"]] == ["Launch review"]


def test_stdio_survives_garbage_on_stdin(app, database_url, member):
    command, env = _command(database_url, "member@example.com")
    initialize = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}}}
    server = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=env, cwd=ROOT)

    def send(line: str) -> None:
        server.stdin.write(line + "\n")
        server.stdin.flush()

    def answer_to(request_id):
        for line in server.stdout:  # stdout carries protocol messages only
            message = json.loads(line)
            if message.get("id") == request_id:
                return message
        raise AssertionError(f"no answer to {request_id}: {server.stderr.read()}")

    try:
        send(json.dumps(initialize))
        assert answer_to(1)["result"]["serverInfo"]["name"] == "CallVault"
        send(json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}))
        send("this is not json")
        send('{"jsonrpc": "2.0", "id": 2, "method": "tools/call", '
             '"params": {"name": "get_meeting", "arguments": {"meeting_id": []}}}')
        assert answer_to(2)["result"]["isError"] is True
        send(json.dumps({"jsonrpc": "2.0", "id": 3, "method": "tools/list"}))
        assert len(answer_to(3)["result"]["tools"]) == 5
    finally:
        server.stdin.close()
        server.wait(timeout=30)
        errors = server.stderr.read()
        server.stdout.close()
        server.stderr.close()
    assert "Traceback" not in errors


def test_serve_refuses_an_unknown_user_in_one_line(database_url, app):
    command, env = _command(database_url, "nobody@example.com")
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT, timeout=60, input="")
    assert done.returncode != 0
    assert done.stderr.strip() == "Error: no user with email nobody@example.com"
    assert done.stdout == ""
