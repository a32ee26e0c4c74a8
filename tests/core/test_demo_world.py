"""`make run`'s demo stays healthy: its calendar and bots run against in-process sandboxes, so the
periodic jobs keep it as `flask demo` made it instead of disconnecting the calendar and cancelling bots."""
import re
from datetime import timedelta
from urllib.parse import urlsplit

import requests

from callvault.bots import dispatcher
from callvault.demo import DEMO_EMAIL
from callvault.extensions import db
from callvault.jobs.periodic import PERIODIC_JOBS
from callvault.models import Bot, Calendar
from callvault.queues import drain_queues

CYCLES = 3


def run_periodic_jobs(app, cycles: int) -> None:
    with app.app_context():
        for _ in range(cycles):
            for periodic in PERIODIC_JOBS:
                periodic.job.enqueue()
            drain_queues()


def states(app) -> dict[int, str]:
    with app.app_context():
        return {bot.id: bot.state for bot in Bot.query.all()}


def test_demo_calendar_and_bots_survive_the_periodic_jobs(app, app_factory):
    # `app` empties the test database first
    app = app_factory(FATHOM_SANDBOX=True)
    world = app.extensions["demo_world"]
    world.player.stop()  # the test plays the meetings itself, below
    try:
        result = app.test_cli_runner().invoke(args=["demo"])
        assert result.exit_code == 0, result.output
        password = re.search(r"with password: (\S+)", result.output).group(1)
        client = app.test_client()
        client.get("/login")  # the first request connects the demo account to the sandboxes
        assert world.connected
        before = states(app)

        run_periodic_jobs(app, CYCLES)

        with app.app_context():
            calendar = Calendar.query.filter_by(account_email=DEMO_EMAIL).one()
            assert calendar.is_connected and calendar.credential_id is not None, calendar.disconnected_reason
            assert calendar.last_error is None and calendar.sync_cursor  # synced against the sandbox
        assert world.google.count("/calendar/v3/calendars/primary/events", status=200) >= 1
        after = states(app)
        assert after == before  # nothing cancelled, nothing given up: the sandboxes agree with the demo
        assert world.google.server_errors == [] and world.attendee.server_errors == []

        # The pages carry no "disconnected calendar" banner.
        page = client.post("/login", data={"email": DEMO_EMAIL, "password": password,
                                           "csrf_token": re.search(r'name="csrf_token" value="([^"]+)"',
                                                                   client.get("/login").get_data(as_text=True)).group(1)})
        assert page.status_code == 302
        home = client.get("/", follow_redirects=True).get_data(as_text=True)
        assert "was disconnected" not in home

        # Reconnect works too: the consent page of the sandbox approves as the demo account.
        start = client.get("/dashboard/auth/google/")
        assert start.status_code == 302, start.get_data(as_text=True)
        back = requests.get(start.headers["Location"], allow_redirects=False, timeout=5)
        target = urlsplit(back.headers["Location"])
        assert client.get(f"{target.path}?{target.query}").status_code == 200
        with app.app_context():
            assert Calendar.query.filter_by(account_email=DEMO_EMAIL).one().is_connected

        # The meeting in progress ends at the bot service; the dispatcher polls it and stores its transcript.
        with app.app_context():
            recording = Bot.query.filter_by(state="joined_recording").one()
            end = recording.event.end_at
            recording_id = recording.id
            world.attendee.now = lambda: end + timedelta(minutes=1)
            world.player.play(end + timedelta(minutes=1))
            dispatcher.tick(now=end + timedelta(minutes=5))
            drain_queues()
            db.session.expire_all()
            bot = db.session.get(Bot, recording_id)
            assert bot.state == "ended" and bot.call_id is not None
    finally:
        world.stop()
