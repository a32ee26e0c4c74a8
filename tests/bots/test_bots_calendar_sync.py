"""Bots from real calendar syncs (the Google fake), the auto-record setting, and `flask bots …`."""
from datetime import timedelta

from callvault.calendars import sync
from callvault.extensions import db
from callvault.models import Bot, BotPreference
from tests.support.bots import API_KEY, NOW, at, bots, calendar, event, tick, user
from tests.support.calendars import MEMBER_EMAIL, connect, only_calendar
from tests.support.web import csrf_from


def test_a_calendar_sync_gives_meetings_bots_and_follows_their_changes(calendar_app, bot_app, attendee, google,
                                                                        client, auth, member, drain):
    google.add_user(MEMBER_EMAIL)
    guests = [{"email": MEMBER_EMAIL, "responseStatus": "accepted"}, {"email": "guest@client.test"}]
    demo = google.add_event(MEMBER_EMAIL, "Demo", at(2), at(2, 1), hangoutLink="https://meet.google.com/abc-defg-hij",
                            attendees=guests)
    auth.login(MEMBER_EMAIL)
    connect(client, "google")
    page = client.get("/settings/")
    assert 'name="auto_record"' in page.get_data(as_text=True)
    saved = client.post("/settings/auto-record", data={"auto_record": "external",
                                                       "csrf_token": csrf_from(page.get_data(as_text=True))})
    assert saved.status_code == 302
    assert 'value="external" selected' in client.get("/settings/").get_data(as_text=True)
    assert client.post("/settings/auto-record", data={"auto_record": "sometimes",
                                                      "csrf_token": csrf_from(page.get_data(as_text=True))},
                       follow_redirects=True).status_code == 200
    with calendar_app.app_context():
        assert BotPreference.query.one().auto_record == "external"
        sync.sync_calendar(only_calendar().id)
    drain()  # the listener queued a reconcile of the synced events
    with calendar_app.app_context():
        [bot] = bots()
        assert (bot.state, bot.join_at, bot.meeting_url, bot.title) == ("pending", at(2),
                                                                         "https://meet.google.com/abc-defg-hij", "Demo")
        tick(attendee, at(1, 30))
        assert bots()[0].state == "scheduled"
        [sent] = attendee.requests_to("POST", "/api/v1/bots")
        assert sent["json"]["webhooks"][0]["url"] == "https://callvault.test/webhooks/attendee"

    google.update_event(MEMBER_EMAIL, demo["id"], start=at(4), end=at(4, 1))
    with calendar_app.app_context():
        sync.sync_calendar(only_calendar().id)
    drain()
    with calendar_app.app_context():
        [bot] = bots()
        # The reconcile queued a dispatch, which rescheduled the bot at once.
        assert bot.join_at == at(4) and bot.state == "scheduled" and attendee.count("PATCH") == 1
        assert attendee.bots[bot.attendee_id]["join_at"] == at(4).isoformat().replace("+00:00", "Z")

    google.delete_event(MEMBER_EMAIL, demo["id"])
    with calendar_app.app_context():
        sync.sync_calendar(only_calendar().id)
    drain()
    with calendar_app.app_context():
        [bot] = bots()
        assert bot.state == "cancelled" and not attendee.live_bots()  # the dispatch queued by the reconcile ran


def test_choosing_none_cancels_a_users_bots(bot_app, attendee, client, auth):
    with bot_app.app_context():
        bob = user("bob@acme.test", auto_record="all")
        event(calendar(bob, "bob@acme.test"), "Upcoming", at(2))
        from callvault.bots import reconcile
        reconcile.ensure(days=7)
        assert [b.state for b in bots()] == ["pending"]
    auth.login("bob@acme.test")
    page = client.get("/settings/")
    client.post("/settings/auto-record",
                data={"auto_record": "none", "csrf_token": csrf_from(page.get_data(as_text=True))})
    with bot_app.app_context():
        from callvault.queues import drain_queues
        drain_queues()
        assert [b.state for b in bots()] == ["cancelled"]


def test_flask_bots_ensure_dry_run_then_for_real(bot_app, attendee, runner):
    with bot_app.app_context():
        ada = user("ada@acme.test")
        cal = calendar(ada, "ada@acme.test")
        event(cal, "Tomorrow", NOW + timedelta(hours=2))
        event(cal, "Next week", NOW + timedelta(days=6))
    dry = runner.invoke(args=["bots", "ensure", "--days", "3", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "would create: Tomorrow at" in dry.output and "Next week" not in dry.output
    assert "Dry run: 1 to create" in dry.output
    with bot_app.app_context():
        assert Bot.query.count() == 0
    real = runner.invoke(args=["bots", "ensure", "--days", "7"])
    assert real.exit_code == 0 and "2 to create" in real.output
    again = runner.invoke(args=["bots", "ensure", "--days", "7"])
    assert "0 to create" in again.output
    listing = runner.invoke(args=["bots", "list", "--days", "1"])
    assert listing.exit_code == 0 and "pending" in listing.output and "Next week" in listing.output
    assert runner.invoke(args=["bots", "ensure", "--days", "0"]).exit_code != 0
    with bot_app.app_context():
        assert db.session.query(Bot).count() == 2
        assert API_KEY not in runner.invoke(args=["bots", "dispatch"]).output
