import re
from datetime import datetime, timedelta, timezone

from callvault.extensions import db
from callvault.models import Call
from tests.support.web import csrf_from


def test_members_see_only_their_own_calls(client, auth, member, other_member, make_call):
    make_call(member, external_id="1", title="Mine")
    theirs = make_call(other_member, external_id="2", title="Theirs")
    auth.login("member@example.com")
    body = client.get("/calls").get_data(as_text=True)
    assert "Mine" in body and "Theirs" not in body
    assert client.get(f"/calls/{theirs}").status_code == 404  # not 403: no existence leak
    assert client.get("/calls/999999").status_code == 404


def test_admins_see_everyone(client, auth, admin, member, other_member, make_call):
    make_call(member, external_id="1", title="Mine")
    theirs = make_call(other_member, external_id="2", title="Theirs")
    auth.login("admin@example.com")
    body = client.get("/calls").get_data(as_text=True)
    assert "Mine" in body and "Theirs" in body
    assert client.get(f"/calls/{theirs}").status_code == 200


def test_filters_by_text_source_and_date(client, auth, member, make_call):
    base = datetime(2026, 11, 1, 12, tzinfo=timezone.utc)
    make_call(member, external_id="1", title="Pricing review", started_at=base)
    make_call(member, external_id="2", title="Hiring sync", started_at=base + timedelta(days=5))
    make_call(member, external_id="3", title="Bot recording", source="bot", started_at=base + timedelta(days=6))
    auth.login("member@example.com")

    def titles(query):
        body = re.sub(r"<[^>]+>", "", client.get("/calls" + query).get_data(as_text=True))  # search marks words
        return {t for t in ("Pricing review", "Hiring sync", "Bot recording") if t in body}

    assert titles("?q=pricing") == {"Pricing review"}
    assert titles("?source=bot") == {"Bot recording"}
    assert titles("?since=2026-11-03") == {"Hiring sync", "Bot recording"}
    assert titles("?until=2026-11-03") == {"Pricing review"}
    assert titles("?q=%25") == set()  # LIKE wildcards are literal


def test_bad_filter_is_a_clear_message(client, auth, member):
    auth.login("member@example.com")
    response = client.get("/calls?since=yesterday")
    assert response.status_code == 200
    assert "since must be an ISO 8601 date" in response.get_data(as_text=True)


def test_htmx_requests_get_only_the_table(client, auth, member, make_call):
    make_call(member, title="Roadmap")
    auth.login("member@example.com")
    response = client.get("/calls?q=road", headers={"HX-Request": "true", "HX-Target": "calls-table"})
    body = response.get_data(as_text=True)
    assert body.lstrip().startswith('<div id="calls-table">') and "<html" not in body and "Roadmap" in body


def test_pagination_walks_every_call_once(app, client, auth, member, make_call):
    base = datetime(2026, 10, 1, tzinfo=timezone.utc)
    for i in range(30):  # two calls share each start time: the cursor must break ties by id
        make_call(member, external_id=str(i), title=f"Call {i:02d}", started_at=base + timedelta(hours=i // 2))
    auth.login("member@example.com")
    seen, url = [], "/calls"
    while url:
        body = client.get(url).get_data(as_text=True)
        seen += [f"Call {i:02d}" for i in range(30) if f">Call {i:02d}<" in body]
        marker = 'href="/calls?cursor='
        url = None
        if marker in body:
            start = body.index(marker) + len('href="')
            url = body[start:body.index('"', start)].replace("&amp;", "&")
    assert sorted(seen) == [f"Call {i:02d}" for i in range(30)] and len(seen) == 30


def test_call_page_shows_transcript_escaped(client, auth, member, make_call):
    call_id = make_call(member, title="<b>Bold</b> title", summary="<script>alert(1)</script>**ok**")
    auth.login("member@example.com")
    body = client.get(f"/calls/{call_id}").get_data(as_text=True)
    assert "&lt;b&gt;Bold&lt;/b&gt; title" in body
    assert "<script>alert(1)</script>" not in body and "<strong>ok</strong>" in body
    assert "Line number 0" in body and "Line number 2" in body


def test_call_page_downloads(client, auth, member, make_call):
    call_id = make_call(member)
    auth.login("member@example.com")
    response = client.get(f"/calls/{call_id}/transcript.srt")
    assert response.status_code == 200
    assert "attachment" in response.headers["Content-Disposition"]
    assert response.get_data(as_text=True).startswith("1\n00:00:00,000 --> 00:00:05,000\n")
    assert client.get(f"/calls/{call_id}/transcript.exe").status_code == 404


def test_settings_manage_host_emails_and_tokens(app, client, auth, member):
    auth.login("member@example.com")
    page = client.get("/settings/").get_data(as_text=True)
    client.post("/settings/host-emails", data={"email": "Max@Work.Example", "csrf_token": csrf_from(page)})
    page = client.get("/settings/").get_data(as_text=True)
    assert "max@work.example" in page
    response = client.post("/settings/tokens", data={"name": "zapier", "csrf_token": csrf_from(page)})
    assert response.status_code == 302 and response.headers["Location"].endswith("/settings/#tokens")
    shown = client.get("/settings/").get_data(as_text=True)
    token = shown.split('<code class="token" id="new-token">')[1].split("<")[0]
    assert client.get("/api/v1/calls", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    with app.app_context():
        assert db.session.query(Call).count() == 0
