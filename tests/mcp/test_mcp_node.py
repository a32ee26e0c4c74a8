"""The TypeScript MCP SDK's client — what most hosted assistants run — through the whole OAuth flow
against a live CallVault (tests/mcp/node/oauth_flow.mjs): discovery from the 401, registration with
token_endpoint_auth_method none, consent, PKCE with `resource`, tools, refresh. Needs node (CI has it);
the SDK is installed from npm's lockfile on first use."""
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.mcp import store_call
from tests.support.oauth import Browser

NODE_DIR = Path(__file__).resolve().parent / "node"


@pytest.fixture(scope="session")
def node():
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.skip("the TypeScript SDK test needs node and npm (apt-get install nodejs npm)")
    if not (NODE_DIR / "node_modules" / "@modelcontextprotocol" / "sdk").exists():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, check=True, capture_output=True,
                       timeout=300)
    return node


def test_typescript_sdk_client_connects_by_oauth_and_refreshes(app, node, mcp_server, member):
    call = store_call(app, member, ["the quarterly forecast looks strong"], external_id="ts1", title="Forecast")
    browser = Browser(mcp_server.url, "member@example.com")
    cookie = "; ".join(f"{c.name}={c.value}" for c in browser.session.cookies)
    done = subprocess.run([node, "oauth_flow.mjs", mcp_server.url, cookie, "forecast"], cwd=NODE_DIR,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["tools"] == ["get_meeting", "get_transcript", "list_action_items", "list_meetings",
                             "search_meetings"]
    assert seen["authorizeParams"]["code_challenge_method"] == "S256"
    assert seen["authorizeParams"]["resource"].rstrip("/") == mcp_server.url + "/mcp"
    assert "client_secret" not in seen["registered"]
    assert [hit["meeting_id"] for hit in seen["hits"]] == [call] and seen["isError"] is False
    assert seen["meetingsAfterRefresh"] == 1
    assert len(set(seen["refreshTokens"])) == 2  # refreshed once, and the refresh token rotated
