import json
from datetime import datetime, timedelta, timezone

from callvault.extensions import db


def get(client, url, token):
    return client.get(url, headers={"Authorization": f"Bearer {token}"})


def test_missing_or_bad_token_is_401_json(client, member, token_for):
    for headers in ({}, {"Authorization": "Bearer cv_nope"}, {"Authorization": "Basic abc"},
                    {"Authorization": "Bearer"}):
        response = client.get("/api/v1/calls", headers=headers)
        assert response.status_code == 401
        assert response.json["error"]["code"] == "unauthorized"


def test_list_is_newest_first_and_paginates(client, member, make_call, token_for):
    base = datetime(2026, 10, 1, tzinfo=timezone.utc)
    for i in range(7):
        make_call(member, external_id=str(100 + i), title=f"Call {i}", started_at=base + timedelta(days=i))
    token = token_for(member)
    first = get(client, "/api/v1/calls?limit=3", token).json
    assert [c["title"] for c in first["items"]] == ["Call 6", "Call 5", "Call 4"]
    titles, cursor = [c["title"] for c in first["items"]], first["next_cursor"]
    while cursor:
        page = get(client, f"/api/v1/calls?limit=3&cursor={cursor}", token).json
        titles += [c["title"] for c in page["items"]]
        cursor = page["next_cursor"]
    assert titles == [f"Call {i}" for i in range(6, -1, -1)]


def test_call_object_shape(client, member, make_call, token_for):
    call_id = make_call(member, external_id="4242")
    body = get(client, "/api/v1/calls", token_for(member)).json["items"][0]
    assert body["id"] == call_id and body["source"] == "fathom" and body["external_id"] == "4242"
    assert body["recorded_by"] == {"name": "Max Member", "email": "member@example.com"}
    assert {"name": "Guest Person", "email": "guest@outside.example", "is_external": True,
            "is_organizer": False} in body["participants"]
    assert body["started_at"] == "2026-11-02T15:00:00Z" and body["ended_at"] == "2026-11-02T15:30:00Z"
    assert "segments" not in body and body["summary_markdown"].startswith("## Summary")


def test_single_call_has_segments_in_spoken_order(client, member, make_call, token_for):
    call_id = make_call(member, segments=12)
    body = get(client, f"/api/v1/calls/{call_id}", token_for(member)).json
    assert [s["start_ms"] for s in body["segments"]] == [i * 5000 for i in range(12)]
    assert body["segments"][1] == {"speaker": "Guest Person", "text": "Line number 1", "start_ms": 5000,
                                   "end_ms": None}


def test_filters_and_bad_parameters(client, member, make_call, token_for):
    make_call(member, external_id="1", title="Bot call", source="bot")
    make_call(member, external_id="2", title="Fathom call")
    token = token_for(member)
    assert [c["title"] for c in get(client, "/api/v1/calls?source=bot", token).json["items"]] == ["Bot call"]
    assert [c["title"] for c in get(client, "/api/v1/calls?q=fathom", token).json["items"]] == ["Fathom call"]
    assert get(client, "/api/v1/calls?since=2030-01-01T00:00:00Z", token).json["items"] == []
    for query, fragment in (("source=zoom", "source must be"), ("since=soon", "since must be"),
                            ("cursor=%%%", "cursor"), ("limit=0", "limit"), ("limit=x", "limit")):
        response = get(client, f"/api/v1/calls?{query}", token)
        assert response.status_code == 400, query
        assert response.json["error"]["code"] == "bad_request" and fragment in response.json["error"]["message"]


def test_other_members_calls_are_404_admins_see_all(client, admin, member, other_member, make_call, token_for):
    theirs = make_call(other_member, external_id="9")
    response = get(client, f"/api/v1/calls/{theirs}", token_for(member))
    assert response.status_code == 404 and response.json["error"]["code"] == "not_found"
    assert get(client, "/api/v1/calls/abc", token_for(member)).status_code == 404
    assert get(client, "/api/v1/calls", token_for(member)).json["items"] == []
    assert get(client, f"/api/v1/calls/{theirs}", token_for(admin)).status_code == 200


def test_transcript_formats(client, member, make_call, token_for):
    call_id = make_call(member, segments=2, title="Weekly sync")
    token = token_for(member)
    txt = get(client, f"/api/v1/calls/{call_id}/transcript.txt", token).get_data(as_text=True)
    assert txt.splitlines()[3:] == ["[00:00:00] Max Member: Line number 0", "[00:00:05] Guest Person: Line number 1"]
    vtt = get(client, f"/api/v1/calls/{call_id}/transcript.vtt", token)
    assert vtt.mimetype == "text/vtt"
    assert vtt.get_data(as_text=True) == ("WEBVTT\n\n00:00:00.000 --> 00:00:05.000\n<v Max Member>Line number 0\n\n"
                                          "00:00:05.000 --> 00:00:10.000\n<v Guest Person>Line number 1\n")
    srt = get(client, f"/api/v1/calls/{call_id}/transcript.srt", token).get_data(as_text=True)
    assert srt.startswith("1\n00:00:00,000 --> 00:00:05,000\nMax Member: Line number 0\n\n2\n")
    md = get(client, f"/api/v1/calls/{call_id}/transcript.md", token).get_data(as_text=True)
    assert md.startswith("# Weekly sync") and "**Guest Person** `00:05` Line number 1" in md
    as_json = json.loads(get(client, f"/api/v1/calls/{call_id}/transcript.json", token).get_data(as_text=True))
    assert as_json["id"] == call_id and len(as_json["segments"]) == 2
    assert get(client, f"/api/v1/calls/{call_id}/transcript.doc", token).status_code == 404


def test_unknown_api_path_is_json_404(client, member, token_for):
    response = get(client, "/api/v1/nothing", token_for(member))
    assert response.status_code == 404 and "error" in response.json


def test_a_page_of_calls_costs_the_same_queries_whatever_its_size(app, client, member, make_call, token_for):
    """Participants and action items of a page are read together, not once per call (searching too)."""
    from sqlalchemy import event

    base = datetime(2026, 10, 1, tzinfo=timezone.utc)
    for i in range(12):
        make_call(member, external_id=str(300 + i), title=f"Roadmap {i}", started_at=base + timedelta(days=i))
    token = token_for(member)
    with app.app_context():
        engine = db.engine
    statements = []

    def count(*_args):
        statements.append(1)

    def queries_for(url):
        statements.clear()
        event.listen(engine, "before_cursor_execute", count)
        try:
            response = get(client, url, token)
        finally:
            event.remove(engine, "before_cursor_execute", count)
        assert response.status_code == 200
        return len(response.json["items"]), len(statements)

    for url in ("/api/v1/calls?limit={}", "/api/v1/calls?q=roadmap&sort=relevance&limit={}"):
        small, large = queries_for(url.format(2)), queries_for(url.format(12))
        assert (small[0], large[0]) == (2, 12)
        assert large[1] == small[1], (url, small, large)
