"""Signed transcript links: the token format, every way a link is refused, and the viewer page."""
import base64
import hashlib
import hmac
import json
import re
import time
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import event

from callvault.extensions import db
from callvault.transcripts import links
from tests.support.calls import sample_call
from tests.support.web import csrf_from, login

SECRET = "test-transcript-secret"  # make_test_app's TRANSCRIPT_TOKEN_SECRET (tests/support/backends.py)


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def seed_token(meeting_id, email, exp_ms, secret=SECRET) -> str:
    """A token made the way the previous system made them (links already in people's inboxes)."""
    payload = json.dumps({"meetingId": meeting_id, "email": email.lower(), "exp": exp_ms})
    signature = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest()
    return f"{b64(payload.encode())}.{b64(signature)}"


@pytest.fixture
def call_id(member, make_call):
    return make_call(member)


def opens(app, token, meeting_id):
    with app.app_context():
        call = links.open_with_token(SECRET, token, str(meeting_id))
        return call.id if call else None


def refusal(app, token, meeting_id) -> str:
    with pytest.raises(links.LinkError) as caught:
        opens(app, token, meeting_id)
    return caught.value.kind


# --- tokens ---------------------------------------------------------------------------------------

def test_a_valid_token_opens_its_meeting(app, call_id):
    token = links.create_token(SECRET, call_id, "Guest@Outside.example")
    assert opens(app, token, call_id) == call_id
    claims = links.read_token(SECRET, token)
    assert claims.email == "guest@outside.example"
    assert claims.expires_at - datetime.now(timezone.utc) == pytest.approx(timedelta(days=30), abs=timedelta(minutes=1))


def test_tokens_in_the_previous_format_keep_working(app, call_id):
    exp = int(time.time() * 1000) + 3_600_000
    token = seed_token(str(call_id), "member@example.com", exp)
    assert opens(app, token, call_id) == call_id
    padded = ".".join(part + "=" * (-len(part) % 4) for part in token.split("."))
    assert opens(app, padded, call_id) == call_id
    ours = json.loads(unb64(links.create_token(SECRET, call_id, "member@example.com").split(".")[0]))
    assert set(ours) == {"meetingId", "email", "exp"} and ours["exp"] > time.time() * 1000


def test_an_expired_token(app, call_id):
    token = links.create_token(SECRET, call_id, "guest@outside.example", days=30,
                               now=datetime.now(timezone.utc) - timedelta(days=31))
    assert refusal(app, token, call_id) == "expired"
    assert refusal(app, seed_token(str(call_id), "guest@outside.example", int(time.time() * 1000) - 1),
                   call_id) == "expired"


def test_a_tampered_payload(app, call_id, make_call, member):
    other = make_call(member, external_id="other")
    token = links.create_token(SECRET, call_id, "guest@outside.example")
    payload, signature = token.split(".")
    data = json.loads(unb64(payload))
    for change in ({"email": "member@example.com"}, {"meetingId": str(other)}, {"exp": data["exp"] + 10**9}):
        forged = b64(json.dumps({**data, **change}).encode())
        assert refusal(app, f"{forged}.{signature}", data["meetingId"]) == "tampered"


def test_a_tampered_signature(app, call_id):
    token = links.create_token(SECRET, call_id, "guest@outside.example")
    payload, signature = token.split(".")
    flipped = signature[:10] + ("A" if signature[10] != "A" else "B") + signature[11:]
    assert refusal(app, f"{payload}.{flipped}", call_id) == "tampered"
    assert refusal(app, links.create_token("another-secret", call_id, "guest@outside.example"), call_id) == "tampered"


def test_a_token_for_another_meeting(app, call_id, make_call, member):
    other = make_call(member, external_id="other")
    token = links.create_token(SECRET, other, "guest@outside.example")
    assert refusal(app, token, call_id) == "wrong_meeting"


def test_someone_who_was_not_in_the_meeting(app, call_id):
    token = links.create_token(SECRET, call_id, "stranger@elsewhere.example")
    assert refusal(app, token, call_id) == "not_participant"
    with app.app_context():
        call = links.find_meeting(str(call_id))
        with pytest.raises(links.LinkError):
            links.make_link(call, "stranger@elsewhere.example")
        assert links.meeting_audience(call) == {"member@example.com", "guest@outside.example"}


@pytest.mark.parametrize("garbage", ["", "garbage", "a.b.c", "!!!.???", "abc.def", ".", "x.",
                                     b64(b"not json") + "." + b64(hmac.new(SECRET.encode(), b"not json",
                                                                            hashlib.sha256).digest()),
                                     b64(b'{"meetingId": 1}') + "." + b64(hmac.new(
                                         SECRET.encode(), b'{"meetingId": 1}', hashlib.sha256).digest())])
def test_garbage(app, call_id, garbage):
    assert refusal(app, garbage, call_id) == "malformed"


def test_no_secret_is_a_clear_error(app, call_id):
    with pytest.raises(links.LinkConfigError, match="TRANSCRIPT_TOKEN_SECRET"):
        links.create_token(None, call_id, "guest@outside.example")


# --- the viewer ----------------------------------------------------------------------------------

def viewer(client, meeting_id, token=None):
    query = f"?token={token}" if token else ""
    return client.get(f"/dashboard/transcripts/{meeting_id}/{query}")


def test_the_viewer_opens_with_a_link_and_no_account(app, client, call_id):
    token = links.create_token(SECRET, call_id, "guest@outside.example")
    response = viewer(client, call_id, token)
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Quarterly planning" in body and "Line number 2" in body and "We planned the quarter." in body
    assert "Guest Person" in body and "30 min" in body
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert "no-store" in response.headers["Cache-Control"]
    for fmt in ("txt", "md", "vtt", "srt", "json"):
        assert f"/dashboard/transcripts/{call_id}/transcript.{fmt}?token={token}" in body
        download = client.get(f"/dashboard/transcripts/{call_id}/transcript.{fmt}?token={token}")
        assert download.status_code == 200 and "attachment" in download.headers["Content-Disposition"]
    assert client.get(f"/dashboard/transcripts/{call_id}/transcript.txt?token=x.y").status_code == 403


@pytest.mark.parametrize("kind, make", [
    ("expired", lambda c, o: links.create_token(SECRET, c, "guest@outside.example",
                                                 now=datetime.now(timezone.utc) - timedelta(days=40))),
    ("tampered", lambda c, o: links.create_token(SECRET, c, "guest@outside.example")[:-3] + "AAA"),
    ("wrong_meeting", lambda c, o: links.create_token(SECRET, o, "guest@outside.example")),
    ("not_participant", lambda c, o: links.create_token(SECRET, c, "stranger@elsewhere.example")),
    ("malformed", lambda c, o: "garbage"),
])
def test_refusals_are_a_plain_403_that_says_why_and_hides_the_meeting(client, member, make_call, kind, make):
    call_id = make_call(member, title="Secret acquisition talks")
    other = make_call(member, external_id="other", title="Another secret")
    response = viewer(client, call_id, make(call_id, other))
    body = response.get_data(as_text=True)
    assert response.status_code == 403
    title, message = links.PROBLEMS[kind]
    assert title in body and message.replace("'", "&#39;") in body
    assert "secret" not in body.lower() and "Line number" not in body


def test_owners_and_admins_open_it_signed_in_and_others_need_a_link(app, client, admin, member, other_member,
                                                                      call_id):
    assert viewer(client, call_id).status_code == 403
    for email, status in (("other@example.com", 403), ("member@example.com", 200), ("admin@example.com", 200)):
        signed_in = app.test_client()
        login(signed_in, email)
        response = viewer(signed_in, call_id)
        assert response.status_code == status
        assert ("Quarterly planning" in response.get_data(as_text=True)) == (status == 200)


def test_a_valid_link_to_a_deleted_meeting_is_404(app, client, call_id):
    token = links.create_token(SECRET, call_id, "guest@outside.example")
    with app.app_context():
        db.session.execute(db.text("DELETE FROM calls"))
        db.session.commit()
    assert viewer(client, call_id, token).status_code == 404


def test_a_missing_secret_is_a_clear_503_in_plain_words(app, client, call_id):
    app.config["TRANSCRIPT_TOKEN_SECRET"] = None
    response = viewer(client, call_id, "any.thing")
    body = response.get_data(as_text=True)  # the setting's name is for admins (the setup page), not link holders
    assert response.status_code == 503 and "TRANSCRIPT_TOKEN_SECRET" not in body and "not set up" in body


def test_raw_html_in_summary_and_transcript_never_runs(app, client, member, make_call):
    from callvault.calls.store import SegmentData
    evil = '<script>alert("x")</script><img src=x onerror="alert(1)">'
    call_id = make_call(member, summary=f"Intro {evil}", title=f"Title {evil}")
    with app.app_context():
        from callvault.calls.store import upsert_call
        from callvault.models import User
        data = sample_call(summary=f"Intro {evil}", title=f"Title {evil}")
        data.segments.append(SegmentData(speaker=evil, text=evil, start_ms=99_000))
        upsert_call(db.session.get(User, member), data)
    body = viewer(client, call_id, links.create_token(SECRET, call_id, "guest@outside.example")).get_data(as_text=True)
    assert "<script>alert" not in body and not re.search(r"<img[^>]*onerror", body)
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in body


def test_five_thousand_segments_render_in_a_few_queries(app, client, member, make_call):
    """The whole transcript is read in one query however long it is (its speed is measured in
    bench/dashboard.py, not here)."""
    call_id = make_call(member, segments=5000)
    token = links.create_token(SECRET, call_id, "guest@outside.example")
    statements = []
    with app.app_context():
        engine = db.engine

    def count(conn, cursor, statement, *args):
        statements.append(statement)
    event.listen(engine, "before_cursor_execute", count)
    try:
        viewer(client, call_id, token)  # warm caches and templates
        statements.clear()
        response = viewer(client, call_id, token)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and body.count('class="seg"') == 5000
    assert "Line number 4999" in body and body.index("Line number 998") < body.index("Line number 4999")
    assert sum("transcript_segments" in s for s in statements) == 1
    assert len(statements) <= 10


# --- making links -------------------------------------------------------------------------------

def test_the_cli_prints_a_working_link(app, runner, client, call_id):
    result = runner.invoke(args=["transcripts", "link", str(call_id), "Guest@Outside.example"])
    assert result.exit_code == 0, result.output
    url = result.output.strip()
    assert url.startswith(f"http://127.0.0.1/dashboard/transcripts/{call_id}/?token=")
    assert client.get(url.replace("http://127.0.0.1", "")).status_code == 200

    result = runner.invoke(args=["transcripts", "link", str(call_id), "stranger@elsewhere.example"])
    assert result.exit_code == 1 and "is not the owner, organizer or an attendee" in result.output
    result = runner.invoke(args=["transcripts", "link", "999999", "guest@outside.example"])
    assert result.exit_code == 1 and "no meeting 999999" in result.output
    app.config["TRANSCRIPT_TOKEN_SECRET"] = None
    result = runner.invoke(args=["transcripts", "link", str(call_id), "guest@outside.example"])
    assert result.exit_code == 1 and "TRANSCRIPT_TOKEN_SECRET" in result.output


def test_the_call_page_has_a_share_link_per_attendee(app, client, auth, member, call_id):
    auth.login("member@example.com")
    body = client.get(f"/calls/{call_id}").get_data(as_text=True)
    assert body.count('class="share-link"') == 2
    guest_url = next(part.split('"')[0] for part in body.split('data-copy="')[1:]
                     if "guest" in part.split("Copy a link that opens this transcript for ")[1][:40])
    client.post("/logout", data={"csrf_token": csrf_from(body)})
    response = client.get(guest_url.replace("http://127.0.0.1", "").replace("&amp;", "&"))
    assert response.status_code == 200 and "Quarterly planning" in response.get_data(as_text=True)

    app.config["TRANSCRIPT_TOKEN_SECRET"] = None
    auth.login("member@example.com")
    body = client.get(f"/calls/{call_id}").get_data(as_text=True)
    assert 'class="share-link"' not in body and "not set up on this server yet" in body
