"""Behaviour of the local Fathom API sandbox (sandboxes/fathom.py)."""

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from sandboxes.fathom import FathomSandbox

ALICE = "alice@acme.test"
BOB = "bob@acme.test"
CLIENT_ID, CLIENT_SECRET, REDIRECT = "callvault", "s3cret", "http://localhost/oauth/fathom/callback"


@pytest.fixture
def sandbox():
    with FathomSandbox(seed=7) as sb:
        yield sb
        assert sb.server_errors == []


def _connect_oauth(sb, email=ALICE):
    """Run the authorize redirect + code exchange; returns the token response."""
    sb.add_oauth_client(CLIENT_ID, CLIENT_SECRET, REDIRECT)
    r = requests.get(sb.authorize_url, allow_redirects=False, params={
        "client_id": CLIENT_ID, "redirect_uri": REDIRECT, "response_type": "code",
        "scope": "public_api", "state": "xyz", "email": email})
    assert r.status_code == 302
    params = parse_qs(urlsplit(r.headers["Location"]).query)
    assert params["state"] == ["xyz"]
    r = requests.post(sb.token_url, auth=(CLIENT_ID, CLIENT_SECRET), data={
        "grant_type": "authorization_code", "code": params["code"][0], "redirect_uri": REDIRECT})
    assert r.status_code == 200, r.text
    return r.json()


def _bearer(token):
    return {"Authorization": f"Bearer {token}"}


def test_pagination_to_the_end_with_filters(sandbox):
    key = sandbox.add_api_key(ALICE)
    mine = sandbox.add_meetings(ALICE, 25, transcript_segments=2)
    sandbox.add_meetings(BOB, 4, transcript_segments=2)
    headers = {"X-Api-Key": key}

    seen, cursor, pages = [], None, 0
    while True:
        r = requests.get(sandbox.base_url + "/meetings", headers=headers,
                         params={"cursor": cursor} if cursor else {})
        assert r.status_code == 200
        page = r.json()
        assert page["limit"] == 10 and len(page["items"]) <= 10
        seen += page["items"]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert [m["recording_id"] for m in seen] == [m["recording_id"] for m in reversed(mine)]
    assert all(isinstance(m["recording_id"], int) and m["transcript"] is None for m in seen)

    oldest_first = list(reversed(seen))
    r = requests.get(sandbox.base_url + "/meetings", headers=headers, params={
        "created_after": oldest_first[4]["created_at"],
        "created_before": oldest_first[20]["created_at"]})
    window = [m["recording_id"] for m in r.json()["items"]]
    assert window == [m["recording_id"] for m in reversed(oldest_first[10:20])]
    assert r.json()["next_cursor"] is not None

    r = requests.get(sandbox.base_url + "/meetings", headers=headers,
                     params={"recorded_by[]": [BOB]})
    assert r.json()["items"] == []  # Bob's meetings are not visible to Alice

    r = requests.get(sandbox.base_url + "/meetings", headers=headers, params={"cursor": "bogus"})
    assert r.status_code == 400


def test_include_flags_refused_for_oauth_but_served_for_api_keys(sandbox):
    meeting = sandbox.add_meeting(ALICE, transcript_segments=5)
    tokens = _connect_oauth(sandbox)
    assert tokens["token_type"] == "Bearer" and tokens["scope"] == "public_api"

    r = requests.get(sandbox.base_url + "/meetings", headers=_bearer(tokens["access_token"]),
                     params={"include_transcript": "true"})
    assert r.status_code == 400
    assert "include_transcript" in r.json()["message"]

    r = requests.get(sandbox.base_url + "/meetings", headers=_bearer(tokens["access_token"]))
    assert r.status_code == 200 and r.json()["items"][0]["recording_id"] == meeting["recording_id"]
    r = requests.get(f"{sandbox.base_url}/recordings/{meeting['recording_id']}/transcript",
                     headers=_bearer(tokens["access_token"]))
    assert r.json() == {"transcript": meeting["transcript"]} and len(meeting["transcript"]) == 5

    key = sandbox.add_api_key(ALICE)
    r = requests.get(sandbox.base_url + "/meetings", headers={"X-Api-Key": key},
                     params={"include_transcript": "true", "include_action_items": "true"})
    item = r.json()["items"][0]
    assert item["transcript"] == meeting["transcript"]
    assert item["action_items"] == meeting["action_items"] and item["default_summary"] is None
    assert sandbox.requests_log[-1]["heavy"] is True


def test_rate_limit_429_with_retry_after_then_recovers():
    with FathomSandbox(window_seconds=1, general_limit=3, heavy_limit=1) as sb:
        key = sb.add_api_key(ALICE)
        url, headers = sb.base_url + "/meetings", {"X-Api-Key": key}
        remaining = [requests.get(url, headers=headers).headers["RateLimit-Remaining"]
                     for _ in range(3)]
        assert remaining == ["2", "1", "0"]
        r = requests.get(url, headers=headers)
        assert r.status_code == 429
        retry_after = float(r.headers["Retry-After"])
        assert 0 < retry_after <= 1 and r.headers["RateLimit-Reset"] == "1"
        time.sleep(retry_after)
        assert requests.get(url, headers=headers).status_code == 200

        time.sleep(1)
        heavy = {"include_summary": "true"}
        assert requests.get(url, headers=headers, params=heavy).status_code == 200
        assert requests.get(url, headers=headers, params=heavy).status_code == 429
        assert requests.get(url, headers=headers).status_code == 200  # general quota left
        assert sb.count(status=429) == 2


def test_rate_limit_is_exact_under_concurrency():
    with FathomSandbox(general_limit=10) as sb:
        key = sb.add_api_key(ALICE)
        with ThreadPoolExecutor(max_workers=25) as pool:
            statuses = list(pool.map(
                lambda _: requests.get(sb.base_url + "/teams", headers={"X-Api-Key": key}).status_code,
                range(25)))
        assert sorted(statuses) == [200] * 10 + [429] * 15
        assert sb.server_errors == []


def test_refresh_tokens_rotate_and_cannot_be_reused(sandbox):
    first = _connect_oauth(sandbox)
    r = requests.post(sandbox.token_url, data={
        "grant_type": "refresh_token", "refresh_token": first["refresh_token"],
        "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET})
    assert r.status_code == 200
    second = r.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]

    reuse = requests.post(sandbox.token_url, auth=(CLIENT_ID, CLIENT_SECRET), data={
        "grant_type": "refresh_token", "refresh_token": first["refresh_token"]})
    assert reuse.status_code == 400 and reuse.json() == {"error": "invalid_grant"}

    wrong_secret = requests.post(sandbox.token_url, auth=(CLIENT_ID, "nope"), data={
        "grant_type": "refresh_token", "refresh_token": second["refresh_token"]})
    assert wrong_secret.status_code == 401
    r = requests.post(sandbox.token_url, auth=(CLIENT_ID, CLIENT_SECRET), data={
        "grant_type": "refresh_token", "refresh_token": second["refresh_token"]})
    assert r.status_code == 200
    assert requests.get(sandbox.base_url + "/meetings",
                        headers=_bearer(r.json()["access_token"])).status_code == 200


def test_expired_access_token_is_rejected():
    with FathomSandbox(token_lifetime_seconds=0) as sb:
        tokens = _connect_oauth(sb)
        r = requests.get(sb.base_url + "/meetings", headers=_bearer(tokens["access_token"]))
        assert r.status_code == 401 and "expired" in r.json()["message"]


def test_revoke_disables_keys_and_tokens(sandbox):
    key = sandbox.add_api_key(ALICE)
    tokens = _connect_oauth(sandbox)
    assert requests.get(sandbox.base_url + "/meetings", headers={"X-Api-Key": key}).ok

    sandbox.revoke(ALICE)
    assert requests.get(sandbox.base_url + "/meetings", headers={"X-Api-Key": key}).status_code == 401
    assert requests.get(sandbox.base_url + "/meetings",
                        headers=_bearer(tokens["access_token"])).status_code == 401
    r = requests.post(sandbox.token_url, auth=(CLIENT_ID, CLIENT_SECRET), data={
        "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert r.json() == {"error": "invalid_grant"}
    assert requests.get(sandbox.base_url + "/meetings").status_code == 401


def test_fail_next_injects_5xx_without_consuming_quota(sandbox):
    key = sandbox.add_api_key(ALICE)
    sandbox.fail_next(2, status=502)
    url = sandbox.base_url + "/meetings"
    assert [requests.get(url, headers={"X-Api-Key": key}).status_code for _ in range(3)] == [502, 502, 200]
    assert sandbox.count(status=502, path_prefix="/external/v1/meetings") == 2
    assert sandbox.requests_log[0]["account_email"] == ALICE
    r = requests.get(url, headers={"X-Api-Key": key})
    assert r.headers["RateLimit-Remaining"] == "58"


def test_meeting_changes_and_removal(sandbox):
    key = sandbox.add_api_key(ALICE)
    meeting = sandbox.add_meeting(ALICE, transcript_segments=0)
    assert meeting["transcript"] == []
    sandbox.update_meeting(meeting["recording_id"], title="Renamed")
    items = requests.get(sandbox.base_url + "/meetings", headers={"X-Api-Key": key}).json()["items"]
    assert items[0]["title"] == "Renamed"

    sandbox.remove_meeting(meeting["recording_id"])
    for part in ("transcript", "summary"):
        r = requests.get(f"{sandbox.base_url}/recordings/{meeting['recording_id']}/{part}",
                         headers={"X-Api-Key": key})
        assert r.status_code == 404


class _Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append((body, dict(self.headers)))
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    server.received = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def test_deliver_webhook_is_signed_per_standard_webhooks(sandbox, receiver):
    key = sandbox.add_api_key(ALICE)
    meeting = sandbox.add_meeting(ALICE, transcript_segments=3)
    destination = f"http://127.0.0.1:{receiver.server_address[1]}/hooks/fathom"
    r = requests.post(sandbox.base_url + "/webhooks", headers={"X-Api-Key": key}, json={
        "destination_url": destination, "triggered_for": ["my_recordings"],
        "include_transcript": True})
    assert r.status_code == 201
    hook = r.json()
    assert hook["secret"].startswith("whsec_") and hook["url"] == destination

    response = sandbox.deliver_webhook(meeting["recording_id"], msg_id="msg_test_1")
    assert response.status_code == 204
    body, headers = receiver.received[-1]
    payload = Webhook(hook["secret"]).verify(body, headers)
    assert headers["webhook-id"] == "msg_test_1"
    assert payload["recording_id"] == meeting["recording_id"]
    assert payload["transcript"] == meeting["transcript"] and payload["default_summary"] is None
    with pytest.raises(WebhookVerificationError):
        Webhook(hook["secret"]).verify(body + b" ", headers)

    assert requests.delete(f"{sandbox.base_url}/webhooks/{hook['id']}",
                           headers={"X-Api-Key": key}).status_code == 204
    with pytest.raises(LookupError):
        sandbox.deliver_webhook(meeting["recording_id"])


def test_create_webhook_requires_an_include_flag(sandbox):
    key = sandbox.add_api_key(ALICE)
    r = requests.post(sandbox.base_url + "/webhooks", headers={"X-Api-Key": key}, json={
        "destination_url": "https://example.com/hook", "triggered_for": ["my_recordings"]})
    assert r.status_code == 400
    assert json.loads(r.text)["error"] == "invalid_request"
