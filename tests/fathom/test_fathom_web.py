"""Fathom pages: connecting, the fetch-and-sync page, job rows, preview."""
import re
from urllib.parse import parse_qs, urlsplit

import requests

from callvault.extensions import db
from callvault.fathom import sync
from callvault.models import Call, FathomConnection, SyncJob, User
from tests.support.fathom import MEMBER_EMAIL, connect_oauth, connection_of, store_api_key
from tests.support.web import csrf_from, login

HX = {"HX-Request": "true"}


def _csrf(client, path="/settings/"):
    return csrf_from(client.get(path).get_data(as_text=True))


def test_connect_with_oauth_binds_state_to_the_session(fathom_app, sandbox, client, auth, member):
    auth.login(MEMBER_EMAIL)
    sandbox.add_meetings(MEMBER_EMAIL, 2, transcript_segments=1)
    start = client.get("/auth/fathom/")
    assert start.status_code == 302
    target = urlsplit(start.headers["Location"])
    params = parse_qs(target.query)
    assert start.headers["Location"].startswith(sandbox.authorize_url)
    assert params["scope"] == ["public_api"] and params["response_type"] == ["code"] and params["state"]

    consent = requests.get(start.headers["Location"], params={"email": MEMBER_EMAIL}, allow_redirects=False)
    callback = urlsplit(consent.headers["Location"])
    assert callback.path == "/auth/fathom/callback/"

    forged = client.get(f"{callback.path}?code=x&state=wrong", follow_redirects=True)
    assert "state mismatch" in forged.get_data(as_text=True)
    with fathom_app.app_context():
        assert FathomConnection.query.count() == 0

    start = client.get("/auth/fathom/")  # the forged callback used up the state: start again
    consent = requests.get(start.headers["Location"], params={"email": MEMBER_EMAIL}, allow_redirects=False)
    callback = urlsplit(consent.headers["Location"])
    page = client.get(f"{callback.path}?{callback.query}", follow_redirects=True).get_data(as_text=True)
    assert "OAuth works: Fathom account member@example.com (2 meetings visible)." in page
    with fathom_app.app_context():
        connection = connection_of(member)
        assert connection.has_oauth and connection.account_email == MEMBER_EMAIL
        assert connection.access_token not in page and connection.access_token not in connection.access_token_encrypted


def test_missing_oauth_setting_is_named_to_admins_plain_words_to_members(fathom_app, client, auth, member, admin):
    fathom_app.config["FATHOM_OAUTH_CLIENT_ID"] = None
    auth.login(MEMBER_EMAIL)
    page = client.get("/auth/fathom/", follow_redirects=True)
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert "not available on this server; use an API key" in body and "FATHOM_OAUTH_CLIENT_ID" not in body
    assert "with OAuth</a>" not in body  # no button that cannot work
    admin_client = fathom_app.test_client()
    login(admin_client, "admin@example.com")
    page = admin_client.get("/auth/fathom/", follow_redirects=True)
    assert "set FATHOM_OAUTH_CLIENT_ID on the server" in page.get_data(as_text=True)


def test_api_key_connect_test_and_disconnect(fathom_app, sandbox, client, auth, member):
    auth.login(MEMBER_EMAIL)
    sandbox.add_meetings(MEMBER_EMAIL, 12, transcript_segments=1)
    token = _csrf(client)
    bad = client.post("/fathom/connection/api-key", data={"api_key": "nope", "csrf_token": token},
                      follow_redirects=True)
    assert "Fathom rejected this API key (401)" in bad.get_data(as_text=True)

    key = sandbox.add_api_key(MEMBER_EMAIL)
    good = client.post("/fathom/connection/api-key", data={"api_key": key, "csrf_token": token},
                       follow_redirects=True).get_data(as_text=True)
    assert "The API key works: Fathom account member@example.com (10+ meetings visible)." in good
    assert key not in good
    tested = client.post("/fathom/connection/test", data={"csrf_token": token}, follow_redirects=True)
    assert "The API key works" in tested.get_data(as_text=True)

    sandbox.revoke(MEMBER_EMAIL)
    tested = client.post("/fathom/connection/test", data={"csrf_token": token}, follow_redirects=True)
    text = tested.get_data(as_text=True)
    assert "The API key does not work" in text and "Needs attention" in text
    with fathom_app.app_context():
        assert connection_of(member).status == "needs_attention"

    client.post("/fathom/connection/disconnect", data={"csrf_token": token})
    with fathom_app.app_context():
        connection = connection_of(member)
        assert not connection.has_api_key and not connection.has_oauth


def test_fetch_page_lists_meetings_and_loads_more(fathom_app, sandbox, client, auth, member):
    store_api_key(fathom_app, member, sandbox)
    meetings = sandbox.add_meetings(MEMBER_EMAIL, 14, transcript_segments=1)
    auth.login(MEMBER_EMAIL)
    assert "Fetch meetings" in client.get("/fathom/sync").get_data(as_text=True)
    table = client.get("/fathom/sync/meetings", headers=HX).get_data(as_text=True)
    assert table.count('name="recording_id"') == 10
    assert meetings[-1]["title"].replace("'", "&#39;") in table
    more = re.search(r'hx-get="([^"]+cursor=[^"]+)"', table).group(1).replace("&amp;", "&")
    rest = client.get(more, headers=HX).get_data(as_text=True)
    assert rest.count('name="recording_id"') == 4 and "Load more" not in rest and "<table" not in rest


def test_sync_selected_shows_progress_until_done(fathom_app, sandbox, client, auth, member, drain):
    store_api_key(fathom_app, member, sandbox)
    meetings = sandbox.add_meetings(MEMBER_EMAIL, 3, transcript_segments=2)
    auth.login(MEMBER_EMAIL)
    client.get("/fathom/sync/meetings", headers=HX)
    token = _csrf(client, "/fathom/sync")
    none = client.post("/fathom/sync/jobs", headers=HX, data={"csrf_token": token, "action": "selected"})
    assert "select at least one meeting" in none.get_data(as_text=True).lower()

    row = client.post("/fathom/sync/jobs", headers=HX, data={
        "csrf_token": token, "action": "selected",
        "recording_id": [str(meetings[0]["recording_id"]), str(meetings[2]["recording_id"])]})
    assert row.status_code == 200
    html = row.get_data(as_text=True)
    job_id = int(re.search(r'id="sync-job-(\d+)"', html).group(1))
    assert 'hx-trigger="every 1s"' in html and "0 done · 0 failed · 2 total" in html and "Cancel" in html

    drain()
    final = client.get(f"/fathom/sync/jobs/{job_id}", headers=HX)
    assert final.status_code == 286  # htmx stops polling
    html = final.get_data(as_text=True)
    assert "2 done · 0 failed · 2 total" in html and "hx-trigger" not in html
    with fathom_app.app_context():
        assert {c.external_id for c in Call.query} == {str(meetings[0]["recording_id"]),
                                                       str(meetings[2]["recording_id"])}
    table = client.get("/fathom/sync/meetings", headers=HX).get_data(as_text=True)
    assert table.count(">synced</a>") == 2 and table.count("not synced") == 1


def test_members_see_only_their_own_jobs_admins_all(fathom_app, sandbox, client, auth, member, other_member, admin):
    store_api_key(fathom_app, member, sandbox)
    sandbox.add_meetings(MEMBER_EMAIL, 1, transcript_segments=1)
    with fathom_app.app_context():
        job_id = sync.start_sync(db.session.get(User, member)).id
    auth.login("other@example.com")
    assert client.get(f"/fathom/sync/jobs/{job_id}").status_code == 404
    token = _csrf(client, "/fathom/sync")
    assert client.post(f"/fathom/sync/jobs/{job_id}/cancel", data={"csrf_token": token}).status_code == 404
    assert f"sync-job-{job_id}" not in client.get("/fathom/sync").get_data(as_text=True)
    client.post("/logout", data={"csrf_token": token})
    auth.login("admin@example.com")
    page = client.get("/fathom/sync").get_data(as_text=True)
    assert f"sync-job-{job_id}" in page and MEMBER_EMAIL in page
    token = _csrf(client, "/fathom/sync")
    cancelled = client.post(f"/fathom/sync/jobs/{job_id}/cancel", headers=HX, data={"csrf_token": token})
    assert cancelled.status_code == 286 and "cancelled" in cancelled.get_data(as_text=True)
    with fathom_app.app_context():
        assert db.session.get(SyncJob, job_id).status == "cancelled"


def test_preview_shows_transcript_escaped_and_syncs_just_that_meeting(fathom_app, sandbox, client, auth, member,
                                                                      drain):
    store_api_key(fathom_app, member, sandbox)
    meeting = sandbox.add_meeting(MEMBER_EMAIL, transcript_segments=1, transcript=[
        {"speaker": {"display_name": "Ana"}, "text": "<script>alert(1)</script> ünïcödé", "timestamp": "00:01:02"}])
    sandbox.add_meetings(MEMBER_EMAIL, 2, transcript_segments=1)
    auth.login(MEMBER_EMAIL)
    client.get("/fathom/sync/meetings", headers=HX)
    page = client.get(f"/fathom/meetings/{meeting['recording_id']}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "&lt;script&gt;alert(1)&lt;/script&gt; ünïcödé" in html and "<script>alert(1)" not in html
    assert meeting["title"].replace("'", "&#39;") in html and "Sync this meeting" in html
    assert client.get("/fathom/meetings/999").status_code == 404

    client.post("/fathom/sync/jobs", data={"csrf_token": csrf_from(html),
                                           "recording_id": str(meeting["recording_id"])})
    drain()
    with fathom_app.app_context():
        call = Call.query.one()
        assert call.external_id == str(meeting["recording_id"])
        call_id = call.id
    detail = client.get(f"/calls/{call_id}").get_data(as_text=True)
    assert "&lt;script&gt;alert(1)&lt;/script&gt; ünïcödé" in detail


def test_revoked_credentials_fail_the_job_clearly_and_show_on_settings(fathom_app, sandbox, client, auth, member,
                                                                       drain):
    connect_oauth(fathom_app, member, sandbox)
    meetings = sandbox.add_meetings(MEMBER_EMAIL, 2, transcript_segments=1)
    sandbox.revoke(MEMBER_EMAIL)
    auth.login(MEMBER_EMAIL)
    token = _csrf(client, "/fathom/sync")
    client.post("/fathom/sync/jobs", data={"csrf_token": token, "recording_id": [str(m["recording_id"])
                                                                               for m in meetings]})
    drain()
    with fathom_app.app_context():
        job = SyncJob.query.one()
        assert job.status == "failed" and "need attention" in job.error and "invalid_grant" in job.error
        connection = connection_of(member)
        assert connection.status == "needs_attention" and not connection.has_oauth
    settings = client.get("/settings/").get_data(as_text=True)
    assert "Needs attention" in settings and "invalid_grant" in settings
    sync_page = client.get("/fathom/sync").get_data(as_text=True)
    assert "needs attention" in sync_page
    fetched = client.get("/fathom/sync/meetings", headers=HX).get_data(as_text=True)
    assert "Fathom is not connected" in fetched
