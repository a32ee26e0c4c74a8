"""Issue 15, items 3 and 4: the Fathom sync flow. Only unsynced meetings on request, "Sync all in
range" asks first and skips meetings unchanged since their last sync, rows flip to synced when a job
finishes, the job history says when, how long and which range, the preview knows a synced meeting."""
import re

from callvault.extensions import db
from callvault.models import SyncJob, SyncJobItem
from tests.support.fathom import MEMBER_EMAIL, store_api_key
from tests.support.web import csrf_from, login

HX = {"HX-Request": "true"}


def _csrf(client):
    return csrf_from(client.get("/fathom/sync").get_data(as_text=True))


def _sync_selected(client, drain, recording_ids):
    client.post("/fathom/sync/jobs", data={"csrf_token": _csrf(client), "action": "selected",
                                           "recording_id": [str(r) for r in recording_ids]})
    drain()


def test_only_meetings_not_yet_synced(fathom_app, sandbox, client, auth, member, drain):
    store_api_key(fathom_app, member, sandbox)
    meetings = sandbox.add_meetings(MEMBER_EMAIL, 3, transcript_segments=1)
    auth.login(MEMBER_EMAIL)
    assert 'name="unsynced"' in client.get("/fathom/sync").get_data(as_text=True)
    client.get("/fathom/sync/meetings", headers=HX)
    _sync_selected(client, drain, [meetings[0]["recording_id"]])
    table = client.get("/fathom/sync/meetings?unsynced=1", headers=HX).get_data(as_text=True)
    assert table.count('name="recording_id"') == 2 and f'value="{meetings[0]["recording_id"]}"' not in table
    assert "1 synced meeting on this page hidden" in table


def test_sync_all_in_range_asks_first_and_skips_unchanged_meetings(fathom_app, sandbox, client, auth, member,
                                                                   drain):
    store_api_key(fathom_app, member, sandbox)
    meetings = sandbox.add_meetings(MEMBER_EMAIL, 4, transcript_segments=1)
    auth.login(MEMBER_EMAIL)
    token = _csrf(client)
    ask = client.post("/fathom/sync/jobs", headers=HX, data={"csrf_token": token, "action": "range"})
    assert ask.headers["HX-Retarget"] == "#range-confirm"
    assert "Sync 4 of 4 meetings in this range?" in ask.get_data(as_text=True)
    with fathom_app.app_context():
        assert SyncJob.query.count() == 0  # asking started nothing

    page = client.post("/fathom/sync/jobs", data={"csrf_token": token, "action": "range"})  # without htmx
    assert page.status_code == 200 and "Sync 4 meetings</button>" in page.get_data(as_text=True)

    client.post("/fathom/sync/jobs", data={"csrf_token": token, "action": "range", "confirmed": "1"})
    drain()
    sandbox.update_meeting(meetings[1]["recording_id"], title="Renamed in Fathom")
    again = client.post("/fathom/sync/jobs", headers=HX, data={"csrf_token": token, "action": "range"})
    text = again.get_data(as_text=True)
    assert "Sync 1 of 4 meetings in this range?" in text and "3 are already synced and unchanged" in text

    row = client.post("/fathom/sync/jobs", headers=HX, data={"csrf_token": token, "action": "range",
                                                             "confirmed": "1"}).get_data(as_text=True)
    job_id = int(re.search(r'id="sync-job-(\d+)"', row).group(1))
    drain()
    with fathom_app.app_context():
        items = {i.external_id: i.status for i in SyncJobItem.query.filter_by(sync_job_id=job_id)}
        assert items == {str(m["recording_id"]): "skipped" for m in meetings if m is not meetings[1]} | {
            str(meetings[1]["recording_id"]): "done"}
    final = client.get(f"/fathom/sync/jobs/{job_id}", headers=HX).get_data(as_text=True)
    assert "4 done (3 unchanged, skipped) · 0 failed · 4 total" in final
    done = client.post("/fathom/sync/jobs", headers=HX, data={"csrf_token": token, "action": "range"})
    assert "Everything in this range is synced already." in done.get_data(as_text=True)


def test_dashboard_counts_distinct_synced_calls(fathom_app, sandbox, client, auth, member, admin, drain):
    store_api_key(fathom_app, member, sandbox)
    sandbox.add_meetings(MEMBER_EMAIL, 3, transcript_segments=1)
    auth.login(MEMBER_EMAIL)
    token = _csrf(client)
    for _ in range(2):  # the second range sync skips all three
        client.post("/fathom/sync/jobs", data={"csrf_token": token, "action": "range", "confirmed": "1"})
        drain()
    admin_client = fathom_app.test_client()
    login(admin_client, "admin@example.com")
    assert admin_client.get("/dashboard/api/summary/").get_json()["sync_jobs"]["meetings_synced"] == 3


def test_rows_flip_to_synced_when_the_job_finishes(fathom_app, sandbox, client, auth, member, drain):
    store_api_key(fathom_app, member, sandbox)
    meetings = sandbox.add_meetings(MEMBER_EMAIL, 2, transcript_segments=1)
    auth.login(MEMBER_EMAIL)
    table = client.get("/fathom/sync/meetings", headers=HX).get_data(as_text=True)
    assert 'hx-trigger="fathom-sync-finished from:body"' in table
    listed = re.findall(r'name="listed" value="([^"]+)"', table)
    assert sorted(listed) == sorted(str(m["recording_id"]) for m in meetings)
    row = client.post("/fathom/sync/jobs", headers=HX, data={
        "csrf_token": _csrf(client), "action": "selected", "recording_id": listed[0]}).get_data(as_text=True)
    job_id = re.search(r'id="sync-job-(\d+)"', row).group(1)
    running = client.get(f"/fathom/sync/jobs/{job_id}", headers=HX)
    assert "HX-Trigger" not in running.headers
    drain()
    finished = client.get(f"/fathom/sync/jobs/{job_id}", headers=HX)
    assert finished.status_code == 286 and finished.headers["HX-Trigger"] == "fathom-sync-finished"
    statuses = client.get("/fathom/sync/statuses?" + "&".join(f"listed={r}" for r in listed), headers=HX)
    body = statuses.get_data(as_text=True)
    oob = 'class="sync-status" hx-swap-oob="true">'
    assert re.search(rf'id="fathom-status-{listed[0]}" {oob}<a class="badge badge-ok"[^>]*>synced</a>', body)
    assert re.search(rf'id="fathom-status-{listed[1]}" {oob}<span class="badge">not synced', body)


def test_preview_of_a_synced_meeting_says_so(fathom_app, sandbox, client, auth, member, drain):
    store_api_key(fathom_app, member, sandbox)
    meeting = sandbox.add_meeting(MEMBER_EMAIL, transcript_segments=1)
    auth.login(MEMBER_EMAIL)
    client.get("/fathom/sync/meetings", headers=HX)
    before = client.get(f"/fathom/meetings/{meeting['recording_id']}").get_data(as_text=True)
    assert "not stored yet" in before and "Sync this meeting" in before
    _sync_selected(client, drain, [meeting["recording_id"]])
    after = client.get(f"/fathom/meetings/{meeting['recording_id']}").get_data(as_text=True)
    assert "not stored yet" not in after and "Synced: stored in the vault" in after and "Sync again" in after


def test_job_history_says_when_how_long_and_which_range(fathom_app, sandbox, client, auth, member, drain):
    store_api_key(fathom_app, member, sandbox)
    sandbox.add_meetings(MEMBER_EMAIL, 1, transcript_segments=1)
    auth.login(MEMBER_EMAIL)
    client.post("/fathom/sync/jobs", data={"csrf_token": _csrf(client), "action": "range", "confirmed": "1",
                                           "since": "2020-01-01", "until": "2030-12-31"})
    drain()
    page = client.get("/fathom/sync").get_data(as_text=True)
    with fathom_app.app_context():
        started = SyncJob.query.one().started_at
    assert started.strftime("%Y-%m-%d %H:%M") in page and re.search(r"took (\d+ min )?\d+ s", page)
    assert "2020-01-01 – 2030-12-31" in page


def test_the_oauth_app_webhook_address_is_shown_to_admins(fathom_app, client, auth, member, admin):
    auth.login(MEMBER_EMAIL)
    assert "/webhooks/fathom</code>" not in client.get("/fathom/sync").get_data(as_text=True)
    admin_client = fathom_app.test_client()
    login(admin_client, "admin@example.com")
    page = admin_client.get("/fathom/sync").get_data(as_text=True)
    assert fathom_app.config["PUBLIC_BASE_URL"] + "/webhooks/fathom</code>" in page
