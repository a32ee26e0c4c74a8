"""The health dashboard's JSON APIs against known data, its access rules, and the page."""
from datetime import datetime, timedelta, timezone

import pytest

from callvault.jobs.exports import retry_due_exports
from callvault.accounts import issue_api_token
from callvault.extensions import db
from callvault.calendars.connections import DISCONNECTED_BY_OWNER
from callvault.models import (Calendar, CalendarEvent, CallExport, FathomConnection, SyncJob, SyncJobItem, User,
                              WebhookDelivery, utcnow)
from callvault.queues import get_redis, run_scheduler_once
from tests.support.web import csrf_from, login

DAY = datetime(2026, 11, 2, tzinfo=timezone.utc)


@pytest.fixture
def admin_client(app, admin):
    client = app.test_client()
    login(client, "admin@example.com")
    return client


def add(app, *rows) -> list[int]:
    with app.app_context():
        db.session.add_all(rows)
        db.session.commit()
        return [row.id for row in rows]


def delivery(status, received_at, source="fathom", **extra):
    return WebhookDelivery(source=source, endpoint="/webhooks/fathom", status=status, received_at=received_at,
                           **extra)


def calendar(user_id, email, provider="google", auth_method="oauth", **extra):
    return Calendar(user_id=user_id, provider=provider, auth_method=auth_method, account_email=email,
                    deduplication_key=f"{email}-{provider}-{auth_method}", **extra)


def event(calendar_id, event_id, start, title=None, url="https://meet.google.com/abc-defg-hij", **extra):
    return CalendarEvent(calendar_id=calendar_id, provider_event_id=event_id, title=title or event_id,
                         start_at=start, end_at=start + timedelta(minutes=30), meeting_url=url,
                         meeting_platform="google_meet" if url else None, **extra)


@pytest.fixture
def known_day(app, admin, member, make_call):
    """2 November 2026: three meetings (two exported, one failed), webhooks, a sync job, and two
    calendars holding five events: one meeting on both calendars, one meeting on one, one event
    without a link, one cancelled, one deleted (and one the next day)."""
    app.config["EXPORT_DATABASE_URL"] = "postgresql://hub.invalid/hub"
    ids = [make_call(member, external_id=str(n), title=f"Meeting {n}", source=("fathom", "fathom", "bot")[n],
                     started_at=DAY + timedelta(hours=9 + n)) for n in range(3)]
    make_call(member, external_id="next-day", started_at=DAY + timedelta(days=1, hours=1))
    make_call(member, external_id="day-before", started_at=DAY - timedelta(minutes=1))
    with app.app_context():
        for call_id, status in zip(ids, ("done", "done", "failed")):
            export = db.session.scalars(db.select(CallExport).where(CallExport.call_id == call_id)).one()
            export.status = status
            if status == "failed":
                export.last_error, export.attempts, export.last_attempt_at = "output hub: refused", 2, utcnow()
        db.session.commit()
    noon = DAY + timedelta(hours=12)
    *_, job_id, failed_job_id = add(
        app, *(delivery(s, noon) for s in ("success", "success", "failed", "rejected", "duplicate")),
        delivery("success", noon + timedelta(days=1)), delivery("failed", noon, source="attendee"),
        SyncJob(user_id=member, status="succeeded", total=5, done=4, failed=1, created_at=noon),
        SyncJob(user_id=member, status="failed", created_at=noon, error="Fathom said 401"))
    add(app, SyncJobItem(sync_job_id=job_id, external_id="77", title="Broken meeting", status="failed",
                         error="transcript missing"),
        # meetings synced count distinct calls: call 0 synced by both jobs counts once
        *(SyncJobItem(sync_job_id=job_id, external_id=str(n), status="done", call_id=ids[n]) for n in (0, 1)),
        SyncJobItem(sync_job_id=failed_job_id, external_id="0", status="done", call_id=ids[0]))
    mine, theirs = add(app, calendar(member, "member@example.com"),
                       calendar(admin, "admin@example.com", provider="microsoft"))
    at = DAY + timedelta(hours=14)
    add(app, event(mine, "standup", at, "Standup"), event(theirs, "standup-copy", at, "Standup"),
        event(mine, "review", at + timedelta(hours=1), "Design review", url="https://zoom.us/j/123"),
        event(mine, "lunch", DAY + timedelta(hours=12), "Lunch", url=None),
        event(mine, "called-off", at, "Called off", url="https://zoom.us/j/999", is_cancelled=True),
        event(mine, "gone", at, "Gone", url="https://zoom.us/j/555", is_deleted=True),
        event(mine, "tomorrow", at + timedelta(days=1), "Tomorrow"))
    return ids


def test_pipeline_figures_for_a_day(admin_client, known_day):
    data = admin_client.get("/dashboard/api/pipeline/?date=2026-11-02").get_json()
    assert data["date"] == "2026-11-02"
    stages = {s["key"]: (s["count"], s["status"]) for s in data["stages"]}
    assert list(stages) == ["calendar_events", "bots_scheduled", "bots_joined", "bots_ended",
                            "transcripts_stored", "exported"]
    assert stages["calendar_events"] == (2, "ok")  # the standup (on two calendars) and the review
    assert data["stages"][0]["note"] == "3 events on attendees' calendars"
    assert stages["bots_ended"] == (0, "ok")
    assert stages["transcripts_stored"] == (3, "ok")
    assert stages["exported"] == (2, "ok")
    assert data["fathom_webhooks"] == {"received": 5, "processed": 2, "failed": 1, "rejected": 1, "duplicate": 1,
                                       "pending": 0}
    assert data["sync_jobs"] == {"total": 2, "queued": 0, "running": 0, "succeeded": 1, "failed": 1, "cancelled": 0,
                                 "meetings_synced": 2, "meetings_failed": 1}
    assert data["exports"]["database"] == {"done": 2, "pending": 0, "failed": 1}
    assert data["exports"]["configured_targets"] == ["database"]

    empty = admin_client.get("/dashboard/api/pipeline/?date=2026-11-05").get_json()
    assert {s["key"]: s["count"] for s in empty["stages"]}["transcripts_stored"] == 0
    assert {s["key"]: s["count"] for s in empty["stages"]}["calendar_events"] == 0
    assert empty["fathom_webhooks"]["received"] == 0


def test_exported_is_not_configured_without_targets(admin_client, member, make_call):
    make_call(member, started_at=DAY)
    stages = admin_client.get("/dashboard/api/pipeline/?date=2026-11-02").get_json()["stages"]
    assert stages[0] == {"key": "calendar_events", "label": "Calendar events with a meeting link", "count": 0,
                         "status": "ok", "note": "no calendar connected"}
    assert stages[-1] == {"key": "exported", "label": "Exported", "count": None, "status": "not_configured",
                          "note": "EXPORT_DATABASE_URL / EXPORT_WEBHOOK_URL not set"}


def test_events_of_a_day(admin_client, known_day):
    data = admin_client.get("/dashboard/api/events/?date=2026-11-02").get_json()
    assert data["calendar"] == "ok" and data["events_truncated"] is False
    assert [(e["title"], e["start"], e["cancelled"]) for e in data["events"]] == [
        ("Lunch", "2026-11-02T12:00:00Z", False), ("Standup", "2026-11-02T14:00:00Z", False),
        ("Called off", "2026-11-02T14:00:00Z", True), ("Design review", "2026-11-02T15:00:00Z", False)]
    lunch, standup, _, review = data["events"]
    assert lunch["meeting_url"] is None
    assert [c["account_email"] for c in standup["calendars"]] == ["member@example.com", "admin@example.com"]
    assert review["meeting_url"] == "https://zoom.us/j/123" and len(review["calendars"]) == 1
    assert all("bot" in e and "call_id" in e for e in data["events"])
    assert [c["title"] for c in data["calls"]] == ["Meeting 0", "Meeting 1", "Meeting 2"]
    assert data["calls"][2]["exports"] == {"database": {"status": "failed", "error": "output hub: refused"}}
    assert data["calls"][0]["owner_email"] == "member@example.com"
    assert data["calls"][0]["started_at"] == "2026-11-02T09:00:00Z"


def test_failures_of_every_kind(app, admin_client, member, make_call):
    app.config["EXPORT_DATABASE_URL"] = "postgresql://hub.invalid/hub"
    call_id = make_call(member, title="Board meeting")
    recent, old = utcnow() - timedelta(days=1), utcnow() - timedelta(days=20)
    with app.app_context():
        export = db.session.scalars(db.select(CallExport)).one()
        export.status, export.last_error, export.last_attempt_at, export.attempts = "failed", "hub down", recent, 3
        db.session.commit()
    *_, job_id, _ = add(
        app, delivery("failed", recent, error_message="not a meeting"), delivery("rejected", recent),
        delivery("failed", old), delivery("success", recent),
        SyncJob(user_id=member, status="failed", error="Fathom said 401", created_at=recent),
        FathomConnection(user_id=member, status="needs_attention", last_error="token revoked",
                         last_checked_at=old))
    add(app, SyncJobItem(sync_job_id=job_id, external_id="9", title="Lost one", status="failed", error="boom"),
        calendar(member, "member@example.com", state="disconnected", disconnected_at=old,
                 disconnected_reason="Google refused the refresh token (invalid_grant)."),
        calendar(member, "pilot@example.com", auth_method="service_account", state="disconnected",
                 disconnected_at=recent, disconnected_reason="Domain-wide delegation was revoked."),
        calendar(member, "member@example.com", provider="microsoft", state="disconnected",
                 disconnected_at=recent, disconnected_reason=DISCONNECTED_BY_OWNER),
        calendar(member, "fine@example.com"))

    data = admin_client.get("/dashboard/api/failures/?days=7").get_json()
    assert data["days"] == 7
    assert data["counts"] == {"missed_bot": 0, "webhook_failed": 2, "sync_meeting_failed": 1,
                              "sync_job_failed": 1, "export_failed": 1, "calendar_disconnected": 2,
                              "fathom_needs_attention": 1, "gave_up": 0}
    by_kind = {}
    for item in data["items"]:
        by_kind.setdefault(item["kind"], []).append(item)
    export_failure = by_kind["export_failed"][0]
    assert export_failure["title"] == "Board meeting → database" and "hub down" in export_failure["detail"]
    assert export_failure["action"]["url"] == f"/calls/{call_id}"
    webhook_failure = by_kind["webhook_failed"][0]
    assert webhook_failure["action"]["command"].startswith("flask webhooks replay ")
    assert all(item["action"]["label"] for item in data["items"])
    assert by_kind["fathom_needs_attention"][0]["detail"] == "token revoked"
    assert by_kind["fathom_needs_attention"][0]["action"]["url"] == "/settings/"
    pilot, revoked = by_kind["calendar_disconnected"]
    assert pilot["title"] == "Google · pilot@example.com (service account) of member@example.com"
    assert pilot["detail"] == "Domain-wide delegation was revoked."
    assert pilot["action"]["command"] == "flask calendars setup-pilot" and pilot["action"]["url"] is None
    assert revoked["detail"] == "Google refused the refresh token (invalid_grant)."
    assert revoked["action"] == {"label": "Ask member@example.com to reconnect it in Settings",
                                 "url": "/settings/#calendars", "command": None}
    assert {item["kind"] for item in data["items"][-2:]} == {"fathom_needs_attention", "calendar_disconnected"}

    assert admin_client.get("/dashboard/api/failures/?days=30").get_json()["counts"]["webhook_failed"] == 3


def test_summary_figures(app, admin_client, member, make_call):
    today = utcnow().replace(hour=12, minute=0, second=0, microsecond=0)
    make_call(member, external_id="a", started_at=today)
    make_call(member, external_id="b", started_at=today - timedelta(days=2))
    make_call(member, external_id="c", started_at=today - timedelta(days=2), source="bot")
    make_call(member, external_id="d", started_at=today - timedelta(days=45))
    data = admin_client.get("/dashboard/api/summary/").get_json()
    assert data["calls"]["total"] == 4 and data["calls"]["by_source"] == {"fathom": 3, "bot": 1}
    assert data["calls"]["last_7_days"] == 3
    assert data["users"] == {"admin": 1, "member": 1}
    per_day = data["calls_per_day"]
    assert len(per_day) == 30 and per_day[-1] == {"date": today.date().isoformat(), "count": 1}
    assert per_day[-3]["count"] == 2 and sum(p["count"] for p in per_day) == 3
    assert data["calendars"] == {"total": 0, "connected": 0, "disconnected": 0, "upcoming_events_with_link": 0}
    assert data["bots"] == {"status": "ok", "total": 0, "missed": 0, "failed": 0, "by_state": {}}
    machinery = data["machinery"]
    assert [q["name"] for q in machinery["queues"]] == ["webhooks", "sync", "calendar", "bots", "exports", "default"]
    assert machinery["scheduler"]["heartbeat_age_seconds"] is None and machinery["scheduler"]["stale"] is True


def test_machinery_counts_queues_and_the_scheduler_heartbeat(app, admin_client):
    with app.app_context():
        retry_due_exports.enqueue()
        retry_due_exports.enqueue()
        run_scheduler_once(get_redis(), "test-scheduler")
    machinery = admin_client.get("/dashboard/api/summary/").get_json()["machinery"]
    assert {q["name"]: q["queued"] for q in machinery["queues"]}["exports"] == 2
    assert machinery["scheduler"]["stale"] is False and machinery["scheduler"]["heartbeat_age_seconds"] < 5


@pytest.mark.parametrize("url, message", [
    ("/dashboard/api/pipeline/?date=yesterday", "date must be a day written YYYY-MM-DD, e.g. 2026-11-02"),
    ("/dashboard/api/events/?date=2026-13-01", "date must be a day written YYYY-MM-DD, e.g. 2026-11-02"),
    ("/dashboard/api/failures/?days=0", "days must be a whole number from 1 to 90"),
    ("/dashboard/api/failures/?days=91", "days must be a whole number from 1 to 90"),
    ("/dashboard/api/failures/?days=seven", "days must be a whole number from 1 to 90"),
])
def test_bad_parameters_are_400_with_a_message(admin_client, url, message):
    response = admin_client.get(url)
    assert response.status_code == 400
    assert response.get_json() == {"error": {"code": "bad_request", "message": message}}


def test_the_apis_take_an_admin_session_or_an_admin_token(app, client, admin, member):
    url = "/dashboard/api/summary/"
    assert client.get(url).status_code == 401
    with app.app_context():
        admin_token = issue_api_token(db.session.get(User, admin))
        member_token = issue_api_token(db.session.get(User, member))
    assert client.get(url, headers={"Authorization": f"Bearer {admin_token}"}).status_code == 200
    assert client.get(url, headers={"Authorization": f"Bearer {member_token}"}).status_code == 403
    assert client.get(url, headers={"Authorization": "Bearer cv_nonsense"}).status_code == 401
    login(client, "member@example.com")
    assert client.get(url).get_json()["error"]["code"] == "forbidden"
    assert client.get("/dashboard/").status_code == 404


def test_the_page(admin_client, known_day, client):
    response = admin_client.get("/dashboard/?date=2026-11-02")
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Monday 02 November 2026" in body and "Meeting 2" in body and 'data-figure="bots-total"' in body and "not set up yet" not in body
    assert "Design review" in body and "https://zoom.us/j/123" in body and "no meeting link" in body
    assert "Gone" not in body and "Tomorrow" not in body
    assert 'hx-trigger="every 30s"' in body and "/dashboard/?date=2026-11-02" in body
    assert "Fathom connections needing attention" in body and "<svg" in body
    assert "Retry failed exports now" in body

    fragment = admin_client.get("/dashboard/?date=2026-11-02",
                                headers={"HX-Request": "true", "HX-Target": "dash-body"}).get_data(as_text=True)
    assert fragment.lstrip().startswith("{#") is False and fragment.lstrip().startswith('<div id="dash-body"')
    assert "<html" not in fragment

    bad = admin_client.get("/dashboard/?date=nonsense").get_data(as_text=True)
    assert "date must be a day written YYYY-MM-DD" in bad
    assert client.get("/dashboard/").status_code == 302  # anonymous: sign in first


def test_retry_failed_exports_button(app, admin_client, known_day):
    from callvault.queues import get_queue
    with app.app_context():
        queued_before = get_queue("exports").count
    body = admin_client.get("/dashboard/?date=2026-11-02").get_data(as_text=True)
    response = admin_client.post("/exports/retry-failed", data={"csrf_token": csrf_from(body), "date": "2026-11-02"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/dashboard/?date=2026-11-02")
    with app.app_context():
        assert get_queue("exports").count == queued_before + 3  # one failed, two never delivered
        undelivered = db.session.scalars(db.select(CallExport).where(CallExport.status != "done")).all()
        assert len(undelivered) == 3
        assert all(e.next_attempt_at > utcnow() for e in undelivered)  # queued: the periodic retry leaves them be
