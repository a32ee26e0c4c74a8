"""Forms that behave on reload and ask before destroying; the call page's downloads, colours and
timestamps; the calendar banner a person can dismiss; readable states."""
from datetime import datetime, timezone
from urllib.parse import unquote

from callvault.calls.store import upsert_call
from callvault.extensions import db
from callvault.labels import state_label
from callvault.models import ApiToken, Calendar, User
from tests.support.calls import sample_call
from tests.support.web import csrf_from


def test_creating_a_token_then_reloading_mints_no_other(app, client, auth, member):
    auth.login("member@example.com")
    page = client.get("/settings/").get_data(as_text=True)
    created = client.post("/settings/tokens", data={"name": "zapier", "csrf_token": csrf_from(page)})
    assert created.status_code == 302  # Post/Redirect/Get
    first = client.get("/settings/").get_data(as_text=True)
    assert 'id="new-token"' in first and 'data-copy-from="new-token"' in first
    again = client.get("/settings/").get_data(as_text=True)  # the reload
    assert 'id="new-token"' not in again
    with app.app_context():
        assert ApiToken.query.filter_by(user_id=member).count() == 1


def test_destructive_actions_ask_first(app, client, auth, member):
    auth.login("member@example.com")
    page = client.get("/settings/").get_data(as_text=True)
    client.post("/settings/tokens", data={"name": "ci", "csrf_token": csrf_from(page)})
    page = client.get("/settings/").get_data(as_text=True)
    assert 'data-confirm="Revoke the token ci?' in page
    assert 'data-confirm="Remove member@example.com?' in page
    assert "onclick" not in page and "onsubmit" not in page and "hx-on" not in page


def test_adding_a_host_email_already_there_says_so(app, client, auth, member):
    auth.login("member@example.com")
    page = client.get("/settings/").get_data(as_text=True)
    answer = client.post("/settings/host-emails", data={"email": " Member@Example.com ", "csrf_token": csrf_from(page)},
                         follow_redirects=True).get_data(as_text=True)
    assert "member@example.com is already one of your host emails." in answer
    assert "Host email added." not in answer


def test_downloads_are_named_like_the_zip(app, client, auth, member):
    with app.app_context():
        user = db.session.get(User, member)
        call_id = upsert_call(user, sample_call(title="Weekly product sync / Q4", started_at=datetime(
            2026, 12, 3, 9, 0, tzinfo=timezone.utc))).call.id
        accented = upsert_call(user, sample_call(external_id="2", title="Réunion d'équipe", started_at=datetime(
            2026, 12, 4, 9, 0, tzinfo=timezone.utc))).call.id
    auth.login("member@example.com")
    answer = client.get(f"/calls/{call_id}/transcript.txt")
    assert answer.status_code == 200
    assert 'filename="2026-12-03 Weekly product sync _ Q4.txt"' in answer.headers["Content-Disposition"]
    disposition = client.get(f"/calls/{accented}/transcript.md").headers["Content-Disposition"]
    assert unquote(disposition.split("filename*=UTF-8''")[1]) == "2026-12-04 Réunion d'équipe.md"


def test_call_page_finds_colours_speakers_apart_and_links_times_to_the_recording(app, client, auth, member):
    with app.app_context():
        call_id = upsert_call(db.session.get(User, member), sample_call(
            segments=4, share_url="https://fathom.video/share/abc123")).call.id
    auth.login("member@example.com")
    page = client.get(f"/calls/{call_id}").get_data(as_text=True)
    assert 'id="find"' in page and "js/viewer.js" in page
    assert 'class="speaker c0">Max Member' in page and 'class="speaker c1">Guest Person' in page
    assert 'href="https://fathom.video/share/abc123?timestamp=5"' in page


def test_a_disconnected_calendar_banner_can_be_dismissed(app, client, auth, member):
    with app.app_context():
        db.session.add(Calendar(user_id=member, provider="google", auth_method="oauth",
                                account_email="member@example.com", deduplication_key="member@example.com-google-oauth",
                                state="disconnected", disconnected_reason="Google refused the grant",
                                disconnected_at=datetime(2026, 12, 1, tzinfo=timezone.utc)))
        db.session.commit()
        calendar_id = Calendar.query.one().id
    auth.login("member@example.com")
    page = client.get("/calls").get_data(as_text=True)
    assert "was disconnected: Google refused the grant." in page
    answer = client.post(f"/calendars/{calendar_id}/dismiss-notice",
                         data={"csrf_token": csrf_from(page), "next": "/calls?q=x"})
    assert answer.status_code == 302 and answer.headers["Location"] == "/calls?q=x"
    assert "was disconnected" not in client.get("/calls").get_data(as_text=True)
    outside = client.post(f"/calendars/{calendar_id}/dismiss-notice",
                          data={"csrf_token": csrf_from(page), "next": "https://evil.example/"})
    assert outside.headers["Location"] == "/calls"  # never an open redirect


def test_states_read_as_words():
    assert state_label("joined_recording") == "recording"
    assert state_label("post_processing") == "processing"
    assert state_label("needs_attention") == "needs attention"
    assert state_label("some_new_state") == "some new state"
    assert state_label("ended") == "ended" and state_label(None) == ""
