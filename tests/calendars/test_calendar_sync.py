"""Syncing events from the Google and Microsoft fakes: full, incremental, 410s, failures."""
from datetime import datetime, timedelta, timezone

import pytest
from rq import Queue
from rq_scheduler import Scheduler

from callvault import signals
from callvault.calendars import sync
from callvault.calendars.connections import FixedToken
from callvault.calendars.google_client import GoogleCalendarClient
from callvault.calendars.oauth import GOOGLE_SCOPE
from callvault.calendars.transport import HttpSettings, ProviderError, TransientError
from callvault.extensions import db
from callvault.models import CalendarCredential, WatchChannel
from callvault.queues import InProcessWorker, get_redis, register_periodic_jobs, run_scheduler_once
from tests.support.calendars import (MEMBER_EMAIL, TEAMS_URL, at, connect, connect_both_then_lose_microsoft, events_of,
                                     only_calendar)


def _sync(app, full=False):
    with app.app_context():
        return sync.sync_calendar(only_calendar().id, full=full)


def test_google_full_then_incremental(calendar_app, google, client, auth, member):
    google.page_size = 2
    google.add_user(MEMBER_EMAIL)
    standup = google.add_event(MEMBER_EMAIL, "Standup", at(1), at(1, 0.25), hangoutLink="https://meet.google.com/abc-defg-hij",
                               attendees=[{"email": "bob@example.com", "responseStatus": "declined"}])
    review = google.add_event(MEMBER_EMAIL, "Review", at(2), at(2, 1), location="https://acme.zoom.us/j/81234567890?pwd=Zz")
    series = google.add_recurring_series(MEMBER_EMAIL, "1:1", at(3), timedelta(minutes=30), count=3,
                                         description="https://meet.google.com/one-onee-one")
    google.add_event(MEMBER_EMAIL, "Too far ahead", at(40), at(40, 1))
    google.add_event(MEMBER_EMAIL, "Last week", at(-7), at(-7, 1))
    auth.login(MEMBER_EMAIL)
    connect(client, "google")

    result = _sync(calendar_app)
    assert (result.status, result.kind, result.events) == ("ok", "full", 5)
    listing = google.requests_to("/calendar/v3/calendars/primary/events")
    first = {k: v[0] for k, v in listing[0]["query"].items()}
    assert first["singleEvents"] == "true" and first["showDeleted"] == "true" and "syncToken" not in first
    start, end = (datetime.fromisoformat(first[k].replace("Z", "+00:00")) for k in ("timeMin", "timeMax"))
    assert timedelta(days=28, hours=23) < end - start < timedelta(days=29, hours=1)
    assert len(listing) == 3 and "pageToken" in listing[1]["query"]  # five events, pages of two
    with calendar_app.app_context():
        calendar = only_calendar()
        assert calendar.sync_cursor and calendar.last_synced_at and calendar.last_error is None
        stored = events_of(calendar.id)
        assert stored[standup["id"]].meeting_url == "https://meet.google.com/abc-defg-hij"
        assert stored[standup["id"]].attendees == [{"email": "bob@example.com", "name": None, "response": "declined"}]
        assert stored[review["id"]].meeting_platform == "zoom"
        assert {stored[i["id"]].series_id for i in series} == {series[0]["recurringEventId"]}
        assert stored[series[1]["id"]].meeting_url == "https://meet.google.com/one-onee-one"

    google.update_event(MEMBER_EMAIL, review["id"], start=at(2, 3), end=at(2, 4))  # moved
    google.cancel_event(MEMBER_EMAIL, series[1]["id"])                           # one occurrence cancelled
    google.delete_event(MEMBER_EMAIL, standup["id"])                             # deleted: a bare stub
    added = google.add_event(MEMBER_EMAIL, "New", at(5), at(5, 1))
    result = _sync(calendar_app)
    assert (result.status, result.kind) == ("ok", "incremental")
    incremental = {k: v[0] for k, v in google.requests_to("/calendar/v3/calendars/primary/events")[3]["query"].items()}
    assert incremental["syncToken"] and not {"timeMin", "timeMax"} & set(incremental)
    with calendar_app.app_context():
        stored = events_of(only_calendar().id)
        assert stored[review["id"]].start_at == at(2, 3) and stored[review["id"]].end_at == at(2, 4)
        assert stored[series[1]["id"]].is_cancelled and not stored[series[0]["id"]].is_cancelled
        assert stored[standup["id"]].is_cancelled and stored[standup["id"]].title == "Standup"
        assert added["id"] in stored and len(stored) == 6


def test_google_410_means_a_full_sync_and_unlisted_events_are_deleted(calendar_app, google, client, auth, member):
    google.add_user(MEMBER_EMAIL)
    kept = google.add_event(MEMBER_EMAIL, "Kept", at(1), at(1, 1))
    gone = google.add_event(MEMBER_EMAIL, "Gone", at(2), at(2, 1))
    auth.login(MEMBER_EMAIL)
    connect(client, "google")
    assert _sync(calendar_app).kind == "full"
    google.forget_event(MEMBER_EMAIL, gone["id"])
    google.expire_sync_tokens(MEMBER_EMAIL)
    result = _sync(calendar_app)
    assert (result.status, result.kind) == ("ok", "full")
    assert google.count("/calendar/v3/calendars/primary/events", status=410) == 1
    with calendar_app.app_context():
        calendar = only_calendar()
        assert calendar.is_connected and calendar.last_error is None
        stored = events_of(calendar.id)
        assert stored[gone["id"]].is_deleted and not stored[kept["id"]].is_deleted


def test_microsoft_delta_rounds_removals_and_410(calendar_app, microsoft, client, auth, member):
    microsoft.page_size = 2
    microsoft.add_user(MEMBER_EMAIL)
    teams = microsoft.add_event(MEMBER_EMAIL, "Review", at(1), at(1, 1), isOnlineMeeting=True,
                                onlineMeetingProvider="teamsForBusiness", onlineMeeting={"joinUrl": TEAMS_URL})
    moved = microsoft.add_event(MEMBER_EMAIL, "Planning", at(2), at(2, 1))
    removed = microsoft.add_event(MEMBER_EMAIL, "Lunch", at(3), at(3, 1))
    auth.login(MEMBER_EMAIL)
    connect(client, "microsoft")

    result = _sync(calendar_app)
    assert (result.status, result.kind, result.events) == ("ok", "full", 3)
    rounds = microsoft.requests_to("/v1.0/me/calendarView/delta")
    assert {"startDateTime", "endDateTime"} <= set(rounds[0]["query"]) and "$skiptoken" in rounds[1]["query"]
    assert 'outlook.timezone="UTC"' in rounds[0]["headers"]["Prefer"] and "odata.maxpagesize=" in rounds[0]["headers"]["Prefer"]
    with calendar_app.app_context():
        calendar = only_calendar()
        assert "$deltatoken=" in calendar.sync_cursor
        assert events_of(calendar.id)[teams["id"]].meeting_platform == "teams"

    microsoft.update_event(MEMBER_EMAIL, moved["id"], start=at(2, 2), end=at(2, 3))
    microsoft.update_event(MEMBER_EMAIL, teams["id"], isCancelled=True)
    microsoft.delete_event(MEMBER_EMAIL, removed["id"])
    result = _sync(calendar_app)
    assert (result.status, result.kind) == ("ok", "incremental")
    assert "$deltatoken" in microsoft.requests_to("/v1.0/me/calendarView/delta")[2]["query"]  # the stored link
    with calendar_app.app_context():
        stored = events_of(only_calendar().id)
        assert stored[moved["id"]].start_at == at(2, 2)
        assert stored[teams["id"]].is_cancelled and not stored[teams["id"]].is_deleted
        assert stored[removed["id"]].is_deleted

    microsoft.expire_delta_tokens(MEMBER_EMAIL)
    result = _sync(calendar_app)
    assert (result.status, result.kind) == ("ok", "full")
    assert microsoft.count("/v1.0/me/calendarView/delta", status=410) == 1
    with calendar_app.app_context():
        assert only_calendar().is_connected


def test_transient_failures_are_retried_with_backoff(calendar_app, google, client, auth, member):
    google.add_user(MEMBER_EMAIL)
    google.add_event(MEMBER_EMAIL, "Standup", at(1), at(1, 1))
    auth.login(MEMBER_EMAIL)
    connect(client, "google")
    google.fail_next(1, 503, "/calendar/v3")
    google.fail_next(1, 429, "/calendar/v3")
    result = _sync(calendar_app)
    assert result.status == "ok" and result.events == 1
    assert google.count("/calendar/v3/calendars/primary/events") == 3


def test_a_network_outage_leaves_the_calendar_connected(calendar_app, google, client, auth, member):
    google.add_user(MEMBER_EMAIL)
    google.add_event(MEMBER_EMAIL, "Standup", at(1), at(1, 1))
    auth.login(MEMBER_EMAIL)
    connect(client, "google")
    assert _sync(calendar_app).status == "ok"

    google.drop_next(3, "/calendar/v3")
    result = _sync(calendar_app)
    assert result.status == "failed" and "Google Calendar could not be reached (3 tries" in result.message

    google.slow_next(3, seconds=0.8, path_prefix="/calendar/v3")  # the client gives up after 0.5 s
    assert "Google Calendar timed out (3 tries" in _sync(calendar_app).message

    google.fail_next(3, 502, "/calendar/v3")
    assert "Google Calendar answered 502 (3 tries" in _sync(calendar_app).message

    with calendar_app.app_context():  # the token endpoint is down too when the token needs a refresh
        CalendarCredential.query.one().token_expires_at = datetime.now(timezone.utc)
        db.session.commit()
    google.fail_next(3, 503, "/token")
    assert "Google's token endpoint answered 503" in _sync(calendar_app).message
    google.drop_next(3, "/token")
    assert "Google's token endpoint could not be reached" in _sync(calendar_app).message
    with calendar_app.app_context():
        calendar = only_calendar()
        assert calendar.is_connected and calendar.disconnected_reason is None
        assert "could not be reached" in calendar.last_error

    assert _sync(calendar_app).status == "ok"  # the network is back
    with calendar_app.app_context():
        assert only_calendar().last_error is None


def test_a_revoked_grant_disconnects_and_tells_the_owner(calendar_app, google, client, auth, member, drain):
    google.add_user(MEMBER_EMAIL)
    auth.login(MEMBER_EMAIL)
    connect(client, "google")
    drain()
    with calendar_app.app_context():
        assert WatchChannel.query.filter_by(state="active").count() == 1
    calendar_app.config["GOOGLE_CLIENT_SECRET"] = "rotated-wrongly"  # our mistake, not the user's: no disconnect
    google.expire_access_tokens()
    result = _sync(calendar_app)
    assert result.status == "failed" and "check GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET" in result.message
    with calendar_app.app_context():
        assert only_calendar().is_connected

    calendar_app.config["GOOGLE_CLIENT_SECRET"] = "google-secret"
    google.revoke(MEMBER_EMAIL)
    result = _sync(calendar_app)
    assert result.status == "disconnected" and "invalid_grant" in result.message
    with calendar_app.app_context():
        calendar = only_calendar()
        assert not calendar.is_connected and "no longer accepts this authorization" in calendar.disconnected_reason
        assert WatchChannel.query.filter_by(state="active").count() == 0
    banner = client.get("/calls").get_data(as_text=True)
    assert f"Your Google calendar {MEMBER_EMAIL} was disconnected" in banner
    settings = client.get("/settings/").get_data(as_text=True)
    assert "Disconnected" in settings and "Reconnect" in settings
    assert _sync(calendar_app).status == "skipped"


def test_a_sync_reports_what_it_created_updated_and_deleted(calendar_app, google, client, auth, member):
    google.add_user(MEMBER_EMAIL)
    moved = google.add_event(MEMBER_EMAIL, "Review", at(1), at(1, 1), hangoutLink="https://meet.google.com/abc-defg-hij")
    cancelled = google.add_event(MEMBER_EMAIL, "Lunch", at(2), at(2, 1))
    deleted = google.add_event(MEMBER_EMAIL, "Standup", at(3), at(3, 1))
    untouched = google.add_event(MEMBER_EMAIL, "Planning", at(4), at(4, 1))
    forgotten = google.add_event(MEMBER_EMAIL, "Retro", at(5), at(5, 1))
    auth.login(MEMBER_EMAIL)
    connect(client, "google")
    heard = []

    def listener(_sender, calendar_id, **changes):
        with calendar_app.app_context():  # receivers run after the rows are committed
            rows = events_of(calendar_id)
            by_id = {row.id: key for key, row in rows.items()}
        heard.append({name: sorted(by_id[i] for i in changes[name]) for name in ("created", "updated", "deleted")})

    def broken(_sender, calendar_id, **changes):
        raise RuntimeError("a receiver's bug")

    signals.calendar_events_changed.connect(broken)
    signals.calendar_events_changed.connect(listener)
    signals.calendar_events_changed.connect(listener)  # connecting twice: still called once
    try:
        first = _sync(calendar_app)
        assert first.status == "ok" and len(first.changes.created) == 5  # the broken listener did not fail it
        assert heard == [{"created": sorted(e["id"] for e in (moved, cancelled, deleted, untouched, forgotten)),
                          "updated": [], "deleted": []}]

        assert _sync(calendar_app).changes.created == [] and len(heard) == 1  # nothing changed: no call
        google.update_event(MEMBER_EMAIL, untouched["id"], colorId="5")  # only the raw payload changes
        quiet = _sync(calendar_app)
        assert quiet.events == 1 and not quiet.changes and len(heard) == 1

        google.update_event(MEMBER_EMAIL, moved["id"], start=at(1, 2), end=at(1, 3))
        google.cancel_event(MEMBER_EMAIL, cancelled["id"])
        google.delete_event(MEMBER_EMAIL, deleted["id"])
        added = google.add_event(MEMBER_EMAIL, "New", at(6), at(6, 1))
        result = _sync(calendar_app)
        assert result.kind == "incremental"
        assert heard[-1] == {"created": [added["id"]], "updated": [moved["id"]],
                             "deleted": sorted([cancelled["id"], deleted["id"]])}

        google.delete_event(MEMBER_EMAIL, deleted["id"])  # reported again by Google: not a new deletion
        google.forget_event(MEMBER_EMAIL, forgotten["id"])  # gone without a trace: found by the full sync
        full = _sync(calendar_app, full=True)
        assert full.kind == "full" and heard[-1] == {"created": [], "updated": [], "deleted": [forgotten["id"]]}
    finally:
        signals.calendar_events_changed.disconnect(broken)
        signals.calendar_events_changed.disconnect(listener)
    assert len(heard) == 3


def test_backoff_grows_exponentially_with_jitter_and_honours_retry_after(google):
    google.add_user(MEMBER_EMAIL)
    token = google.issue_access_token(MEMBER_EMAIL, GOOGLE_SCOPE)
    slept = []
    settings = HttpSettings(timeout_seconds=2, max_attempts=4, retry_base_seconds=1.0)
    with GoogleCalendarClient(google.api_base_url, FixedToken(token), settings, sleep=slept.append) as client:
        google.fail_next(2, 503, "/calendar/v3")
        google.fail_next(1, 429, "/calendar/v3", headers={"Retry-After": "7"})
        assert client.events_page("primary", time_min=at(-1), time_max=at(28))["items"] == []
        assert 0.5 <= slept[0] <= 1 and 1 <= slept[1] <= 2 and slept[2] == 7  # 2 ** n, jittered; Retry-After wins

        slept.clear()
        google.fail_next(4, 500, "/calendar/v3")
        with pytest.raises(TransientError, match=r"Google Calendar answered 500 \(4 tries; will retry later\)"):
            client.events_page("primary", time_min=at(-1), time_max=at(28))
        assert len(slept) == 3 and 2 <= slept[2] <= 4

        slept.clear()
        google.fail_next(1, 400, "/calendar/v3")
        with pytest.raises(ProviderError):  # a refusal is final: not retried
            client.events_page("primary", time_min=at(-1), time_max=at(28))
        assert slept == []


def test_microsoft_rotation_across_syncs_and_an_outage_that_leaves_it_connected(calendar_app, microsoft, client,
                                                                                auth, member):
    microsoft.add_user(MEMBER_EMAIL)
    microsoft.add_event(MEMBER_EMAIL, "Review", at(1), at(1, 1))
    auth.login(MEMBER_EMAIL)
    connect(client, "microsoft")
    assert _sync(calendar_app).status == "ok"
    refresh_tokens = set()
    for _ in range(3):  # each sync meets an expired token, refreshes, and must keep the rotated refresh token
        microsoft.expire_access_tokens()
        assert _sync(calendar_app).status == "ok"  # the fake kills a used refresh token at once
        with calendar_app.app_context():
            db.session.expire_all()
            refresh_tokens.add(CalendarCredential.query.one().refresh_token)
    assert len(refresh_tokens) == 3 and microsoft.count("/common/oauth2/v2.0/token") == 4  # the code + 3 refreshes

    microsoft.slow_next(3, seconds=0.8, path_prefix="/v1.0")  # Graph hangs: the client gives up after 0.5 s
    assert "Microsoft Graph timed out (3 tries" in _sync(calendar_app).message
    microsoft.fail_next(3, 503, "/v1.0")
    assert "Microsoft Graph answered 503 (3 tries" in _sync(calendar_app).message
    microsoft.drop_next(3, "/v1.0")
    assert "Microsoft Graph could not be reached (3 tries" in _sync(calendar_app).message

    # Microsoft does not revoke a refresh token when it issues the next one (the fake is stricter
    # by default); with its real behaviour, a token call that timed out is simply made again.
    microsoft.single_use_refresh_tokens = False
    microsoft.expire_access_tokens()
    microsoft.fail_next(3, 503, "/common/oauth2/v2.0/token")
    assert "Microsoft's token endpoint answered 503" in _sync(calendar_app).message
    microsoft.slow_next(3, seconds=0.8, path_prefix="/common/oauth2/v2.0/token")
    assert "Microsoft's token endpoint timed out" in _sync(calendar_app).message
    with calendar_app.app_context():
        calendar = only_calendar()
        assert calendar.is_connected and calendar.disconnected_reason is None
        assert "timed out" in calendar.last_error and calendar.last_synced_at
    assert _sync(calendar_app).status == "ok"
    with calendar_app.app_context():
        assert only_calendar().last_error is None


def test_microsoft_recurring_occurrences_keep_their_series(calendar_app, microsoft, client, auth, member):
    microsoft.add_user(MEMBER_EMAIL)
    master = "AAMkAGSeriesMaster="
    occurrences = [microsoft.add_event(MEMBER_EMAIL, "Weekly 1:1", at(1 + 7 * n), at(1 + 7 * n, 0.5), type="occurrence",
                                       seriesMasterId=master, id=f"AAMkAGOccurrence{n}=") for n in range(3)]
    auth.login(MEMBER_EMAIL)
    connect(client, "microsoft")
    assert _sync(calendar_app).changes.created
    microsoft.update_event(MEMBER_EMAIL, occurrences[1]["id"], isCancelled=True)  # one occurrence cancelled
    result = _sync(calendar_app)
    with calendar_app.app_context():
        stored = events_of(only_calendar().id)
        assert {stored[o["id"]].series_id for o in occurrences} == {master}
        assert [stored[o["id"]].is_cancelled for o in occurrences] == [False, True, False]
        assert result.changes.deleted == [stored[occurrences[1]["id"]].id]


def test_the_scheduler_syncs_every_connected_calendar_every_30_minutes(calendar_app, google, microsoft, client, auth,
                                                                        member, drain):
    connect_both_then_lose_microsoft(calendar_app, google, microsoft, client, auth, drain)
    with calendar_app.app_context():
        connection = get_redis()
        register_periodic_jobs(connection, calendar_app.extensions["periodic_jobs"])
        scheduled = {job.id: job for job in Scheduler(connection=connection).get_jobs()}
        every = {name: (job.func_name, job.origin, job.meta["interval"]) for name, job in scheduled.items()}
        assert every["periodic-request-all-syncs"] == ("callvault.jobs.calendars.request_all_syncs", "calendar", 1800)
        assert every["periodic-manage-watch-channels"] == (
            "callvault.jobs.calendars.manage_watch_channels", "calendar", 3600)
        assert run_scheduler_once(connection, "worker-a")
        calendar_queue = Queue("calendar", connection=connection)
        assert sorted(job.func_name for job in calendar_queue.jobs) == [
            "callvault.jobs.calendars.manage_watch_channels", "callvault.jobs.calendars.request_all_syncs"]
        google_lists = google.count("/calendar/v3/calendars/primary/events")
        graph_rounds = microsoft.count("/v1.0/me/calendarView/delta")
        # the calendar queue only (the other periodic jobs are not this test's business)
        InProcessWorker([calendar_queue], connection=connection).work(burst=True, logging_level="WARNING")
    assert google.count("/calendar/v3/calendars/primary/events") == google_lists + 1
    assert microsoft.count("/v1.0/me/calendarView/delta") == graph_rounds  # disconnected: left alone


def test_a_microsoft_update_that_lists_only_the_changed_properties(calendar_app, microsoft, client, auth, member):
    microsoft.partial_updates = True  # Graph's delta may send an update as the id and what changed
    microsoft.add_user(MEMBER_EMAIL)
    teams = microsoft.add_event(MEMBER_EMAIL, "Review", at(1), at(1, 1), isOnlineMeeting=True,
                                onlineMeetingProvider="teamsForBusiness", onlineMeeting={"joinUrl": TEAMS_URL},
                                attendees=[{"type": "required", "status": {"response": "accepted"},
                                            "emailAddress": {"name": "Bob", "address": "bob@example.com"}}])
    auth.login(MEMBER_EMAIL)
    connect(client, "microsoft")
    assert _sync(calendar_app).kind == "full"
    microsoft.update_event(MEMBER_EMAIL, teams["id"], start=at(1, 2), end=at(1, 3))
    result = _sync(calendar_app)
    delivered = microsoft.requests_to("/v1.0/me/calendarView/delta")[-1]
    assert result.kind == "incremental" and "$deltatoken" in delivered["query"]
    with calendar_app.app_context():
        event = events_of(only_calendar().id)[teams["id"]]
        assert event.raw["subject"] == "Review" and event.raw["onlineMeeting"] == {"joinUrl": TEAMS_URL}  # merged
        assert (event.start_at, event.end_at) == (at(1, 2), at(1, 3))
        assert (event.title, event.meeting_platform) == ("Review", "teams")  # kept, not wiped
        assert event.attendees == [{"email": "bob@example.com", "name": "Bob", "response": "accepted"}]
        assert result.changes.updated == [event.id]
