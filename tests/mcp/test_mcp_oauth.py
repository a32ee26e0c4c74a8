"""CallVault's OAuth 2.1 server for MCP clients: registration, consent, PKCE, tokens bound to /mcp,
rotating refresh tokens, revocation, and Settings — the full flow driven by the SDK's own OAuth client."""
import anyio
import httpx2
import requests
from mcp import Client
from mcp.client.auth import AuthorizationCodeResult, OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientMetadata

from tests.support.mcp import over_http, run_async, store_call
from tests.support.oauth import (REDIRECT_URI, Browser, authorize_url, grant_tokens, pkce_pair, redirected_params,
                                 register, token)
from tests.support.web import csrf_from


class MemoryStorage:
    def __init__(self):
        self.tokens = self.client_info = None

    async def get_tokens(self):
        return self.tokens

    async def set_tokens(self, tokens):
        self.tokens = tokens

    async def get_client_info(self):
        return self.client_info

    async def set_client_info(self, client_info):
        self.client_info = client_info


def _listed(url: str, access_token: str) -> int:
    response = httpx2.post(url + "/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                           headers={"Accept": "application/json, text/event-stream",
                                    "Authorization": f"Bearer {access_token}"})
    return response.status_code


def test_full_flow_with_the_sdk_oauth_client(app, mcp_server, member):
    url = mcp_server.url
    call = store_call(app, member, ["the onboarding checklist"], external_id="o1", title="Onboarding")
    browser, storage, answered = Browser(url, "member@example.com"), MemoryStorage(), {}

    async def redirect_handler(authorization_url: str) -> None:
        assert "code_challenge_method=S256" in authorization_url and "resource=" in authorization_url
        answered.update(await anyio.to_thread.run_sync(browser.consent, authorization_url))

    async def callback_handler() -> AuthorizationCodeResult:
        return AuthorizationCodeResult(code=answered["code"], state=answered.get("state"), iss=answered.get("iss"))

    provider = OAuthClientProvider(
        server_url=url + "/mcp", storage=storage, redirect_handler=redirect_handler, callback_handler=callback_handler,
        client_metadata=OAuthClientMetadata(client_name="SDK Assistant", redirect_uris=[REDIRECT_URI],
                                            token_endpoint_auth_method="none"))

    async def work():
        http = httpx2.AsyncClient(auth=provider, timeout=30)
        async with Client(streamable_http_client(url + "/mcp", http_client=http)) as client:
            found = await client.call_tool("search_meetings", {"query": "onboarding"})
            return found

    found = run_async(work)
    assert [h["meeting_id"] for h in found.structured_content["hits"]] == [call]
    first = storage.tokens
    assert first.access_token.startswith("cvo_") and first.refresh_token.startswith("cvr_")
    assert storage.client_info.client_secret is None

    # The person sees the client in Settings.
    assert "SDK Assistant" in browser.session.get(url + "/settings/").text

    # Refresh rotates: a new pair; the old refresh token and the old access token stop working.
    client_id = storage.client_info.client_id
    refreshed = token(url, grant_type="refresh_token", refresh_token=first.refresh_token, client_id=client_id,
                      resource=url + "/mcp")
    assert refreshed.status_code == 200, refreshed.text
    second = refreshed.json()
    assert second["refresh_token"] != first.refresh_token and second["expires_in"] == 3600
    assert _listed(url, second["access_token"]) == 200
    assert _listed(url, first.access_token) == 401

    # Revoking (RFC 7009) ends the grant: the new access token is refused, Settings no longer lists it.
    revoked = requests.post(url + "/oauth/revoke", data={"token": second["refresh_token"], "client_id": client_id})
    assert revoked.status_code == 200
    assert _listed(url, second["access_token"]) == 401
    assert "SDK Assistant" not in browser.session.get(url + "/settings/").text


def test_a_replayed_refresh_token_ends_the_grant(mcp_server, member):
    url = mcp_server.url
    client_id = register(url).json()["client_id"]
    first = grant_tokens(url, Browser(url, "member@example.com"), client_id)
    second = token(url, grant_type="refresh_token", refresh_token=first["refresh_token"], client_id=client_id).json()
    replay = token(url, grant_type="refresh_token", refresh_token=first["refresh_token"], client_id=client_id)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    assert _listed(url, second["access_token"]) == 401  # the thief's replay cost the whole grant
    again = token(url, grant_type="refresh_token", refresh_token=second["refresh_token"], client_id=client_id)
    assert again.status_code == 400


def test_pkce_s256_is_required_and_checked(mcp_server, member):
    url = mcp_server.url
    client_id = register(url).json()["client_id"]
    browser = Browser(url, "member@example.com")
    for extra in ({"code_challenge": None}, {"code_challenge": "a" * 43, "code_challenge_method": "plain"}):
        url_without = authorize_url(url, client_id, None, **{k: v for k, v in extra.items() if v})
        response = browser.session.get(url_without, allow_redirects=False)
        assert response.status_code == 302
        params = redirected_params(response.headers["Location"])
        assert params["error"] == "invalid_request" and params["state"] == "st-123" and params["iss"] == url

    verifier, challenge = pkce_pair()
    params = browser.consent(authorize_url(url, client_id, challenge))
    wrong = token(url, grant_type="authorization_code", code=params["code"], redirect_uri=REDIRECT_URI,
                  client_id=client_id, code_verifier=pkce_pair()[0])
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    missing = token(url, grant_type="authorization_code", code=params["code"], redirect_uri=REDIRECT_URI,
                    client_id=client_id)
    assert missing.status_code == 400


def test_codes_are_single_use_and_tokens_bound_to_this_server(mcp_server, member):
    url = mcp_server.url
    client_id = register(url).json()["client_id"]
    browser = Browser(url, "member@example.com")
    elsewhere = browser.session.get(authorize_url(url, client_id, pkce_pair()[1], resource="https://other.example/mcp"),
                                    allow_redirects=False)
    assert redirected_params(elsewhere.headers["Location"])["error"] == "invalid_target"

    verifier, challenge = pkce_pair()
    params = browser.consent(authorize_url(url, client_id, challenge))
    assert params["state"] == "st-123" and params["iss"] == url  # RFC 9207
    form = dict(grant_type="authorization_code", code=params["code"], redirect_uri=REDIRECT_URI, client_id=client_id,
                code_verifier=verifier)
    retargeted = token(url, **form, resource="https://other.example/mcp")
    assert retargeted.status_code == 400 and retargeted.json()["error"] == "invalid_target"
    first = token(url, **form)
    assert first.status_code == 200 and first.json()["token_type"].lower() == "bearer"
    assert token(url, **form).status_code == 400  # the code was used


def test_denying_sends_access_denied_back(mcp_server, member):
    url = mcp_server.url
    client_id = register(url).json()["client_id"]
    params = Browser(url, "member@example.com").consent(authorize_url(url, client_id, pkce_pair()[1]), "deny")
    assert params["error"] == "access_denied" and params["state"] == "st-123" and "code" not in params


def test_consent_needs_sign_in_and_a_known_client(client, mcp_server, member):
    url = mcp_server.url
    client_id = register(url).json()["client_id"]
    anonymous = requests.get(authorize_url(url, client_id, pkce_pair()[1]), allow_redirects=False)
    assert anonymous.status_code == 302 and anonymous.headers["Location"].startswith("/login?next=/oauth/authorize")
    browser = Browser(url, "member@example.com")
    unknown = browser.session.get(authorize_url(url, "no-such-client", pkce_pair()[1]), allow_redirects=False)
    assert unknown.status_code == 400 and "cannot connect" in unknown.text
    wrong_uri = browser.session.get(authorize_url(url, client_id, pkce_pair()[1],
                                                  redirect_uri="https://evil.example/cb"), allow_redirects=False)
    assert wrong_uri.status_code == 400 and "evil.example" not in wrong_uri.headers.get("Location", "")


def test_registration_refuses_unsafe_redirects_and_bad_bodies(mcp_server):
    url = mcp_server.url
    for uris in (["http://evil.example/cb"], ["javascript:alert(1)"], [], ["https://ok.example/cb#frag"], "x", [5]):
        response = register(url, redirect_uris=uris)
        assert response.status_code == 400, (uris, response.text)
        assert response.json()["error"] in ("invalid_redirect_uri", "invalid_client_metadata")
    assert register(url, grant_types=["client_credentials"]).status_code == 400
    for odd in ({"client_uri": "not a url"}, {"grant_types": "authorization_code"}, {"client_name": ["x"]},
                {"scope": 5}, {"token_endpoint_auth_method": 5}, {"token_endpoint_auth_method": "private_key_jwt"},
                {"response_types": ["token"]}, {"jwks_uri": "\u00e9\"\\"}, {"logo_uri": "javascript:x"}):
        response = register(url, **odd)
        assert response.status_code in (201, 400), (odd, response.status_code)
    for body in ("[1, 2]", "null", "\"text\"", "{"):
        response = requests.post(url + "/oauth/register", data=body, headers={"Content-Type": "application/json"})
        assert response.status_code == 400, (body, response.status_code)
    assert requests.post(url + "/oauth/register", data="not json",
                         headers={"Content-Type": "application/json"}).status_code == 400
    assert requests.post(url + "/oauth/token", data={"grant_type": "password"}).status_code == 400
    ok = register(url, redirect_uris=["https://assistant.example/callback", "cursor://anysphere/callback"],
                  token_endpoint_auth_method="client_secret_post")
    assert ok.status_code == 201 and ok.json()["client_secret"] and ok.headers["Access-Control-Allow-Origin"] == "*"


def test_settings_lists_granted_clients_and_revokes_them(mcp_server, member, other_member):
    url = mcp_server.url
    client_id = register(url, client_name="Desk Assistant").json()["client_id"]
    browser = Browser(url, "member@example.com")
    tokens = grant_tokens(url, browser, client_id)
    page = browser.session.get(url + "/settings/").text
    assert "Connect an AI assistant" in page and f"{url}/mcp" in page and "Desk Assistant" in page
    action = page.split('action="/settings/assistants/')[1].split('"')[0]
    other = Browser(url, "other@example.com")  # someone else cannot revoke it
    refused = other.session.post(f"{url}/settings/assistants/{action}", allow_redirects=False,
                                 data={"csrf_token": csrf_from(other.session.get(url + "/settings/").text)})
    assert refused.status_code == 302 and _listed(url, tokens["access_token"]) == 200
    done = browser.session.post(f"{url}/settings/assistants/{action}", allow_redirects=False,
                                data={"csrf_token": csrf_from(page)})
    assert done.status_code == 302
    assert _listed(url, tokens["access_token"]) == 401
    after = browser.session.get(url + "/settings/").text
    assert "Desk Assistant is disconnected" in after and 'action="/settings/assistants/' not in after


def test_an_access_token_reads_only_its_owners_meetings(app, mcp_server, member, other_member):
    url = mcp_server.url
    store_call(app, other_member, ["private roadmap"], external_id="x1")
    client_id = register(url).json()["client_id"]
    access = grant_tokens(url, Browser(url, "member@example.com"), client_id)["access_token"]
    listed = over_http(url, access, lambda c: c.call_tool("list_meetings", {}))
    assert listed.structured_content["meetings"] == []
