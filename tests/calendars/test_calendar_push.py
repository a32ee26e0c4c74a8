"""Push notifications: Google channels and Graph subscriptions, receivers, debounce, renewal."""
from datetime import timedelta

import requests

from callvault.calendars import sync
from callvault.extensions import db
from callvault.jobs.calendars import manage_watch_channels
from callvault.models import CalendarCredential, WatchChannel, utcnow
from callvault.queues import get_queue
from tests.support.calendars import MEMBER_EMAIL, at, connect, only_calendar, point_at
from tests.support.web import csrf_from, login

GOOGLE_HOOK, MICROSOFT_HOOK = "/dashboard/webhook/google-calendar/", "/dashboard/webhook/microsoft-calendar/"
EVENTS = "/calendar/v3/calendars/primary/events"


def _queued(app) -> int:
    with app.app_context():
        return get_queue("calendar").count


def _connected(app, client, auth, provider, drain, sandbox):
    sandbox.add_user(MEMBER_EMAIL)
    auth.login(MEMBER_EMAIL)
    connect(client, provider)
    drain()  # first sync, and the channel or subscription
    with app.app_context():
        return WatchChannel.query.filter_by(state="active").one().channel_id


def test_google_receiver_checks_the_channel_and_debounces(calendar_app, google, client, auth, member, drain,
                                                          live_server, caplog):
    channel_id = _connected(calendar_app, client, auth, "google", drain, google)
    address = live_server.url + GOOGLE_HOOK
    lists_before = google.count(EVENTS)
    with calendar_app.app_context():
        stored = WatchChannel.query.one()
        assert google.channels[channel_id]["token"] == stored.token and len(stored.token) >= 40  # random, per channel
        assert stored.token not in stored.token_encrypted  # encrypted at rest
        assert google.channels[channel_id]["address"] == "https://callvault.test" + GOOGLE_HOOK

    assert google.push(channel_id, "sync", address=address).status_code == 200  # opens every channel: ignored
    assert _queued(calendar_app) == 0
    answers = [google.push(channel_id, "exists", address=address).status_code for _ in range(10)]
    assert answers == [200] * 10 and _queued(calendar_app) == 1  # ten notifications, one sync
    drain()
    assert google.count(EVENTS) == lists_before + 1

    assert google.push(channel_id, "exists", token="forged", address=address).status_code == 401
    assert google.push(channel_id, "exists", token="", address=address).status_code == 401
    unknown = requests.post(address, headers={"X-Goog-Channel-ID": "no-such-channel", "X-Goog-Channel-Token": "x",
                                              "X-Goog-Resource-State": "exists"}, timeout=5)
    assert unknown.status_code == 404
    assert requests.post(address, data=b'{"not": "google"}', timeout=5).status_code == 400
    assert _queued(calendar_app) == 0
    rejected = [line for line in caplog.text.splitlines() if "calendar_push_rejected" in line]
    assert len(rejected) == 4 and all("forged" not in line for line in rejected)  # logged, without the token


def test_a_change_pushed_during_a_sync_gets_exactly_one_more_sync(calendar_app, google, client, auth, member, drain):
    google.add_user(MEMBER_EMAIL)
    google.add_event(MEMBER_EMAIL, "Standup", at(1), at(1, 1))
    auth.login(MEMBER_EMAIL)
    connect(client, "google")
    drain()
    with calendar_app.app_context():
        calendar_id = only_calendar().id

    fired = []

    def notifications_while_listing(entry):  # three pushes arrive while the first sync is listing
        if entry["path"] == EVENTS and not fired:
            with calendar_app.app_context():
                fired.extend(sync.request_sync(calendar_id) for _ in range(3))

    google.on_request = notifications_while_listing
    before = google.count(EVENTS)
    with calendar_app.app_context():
        assert sync.request_sync(calendar_id) is True
    drain()
    assert fired == [False] * 3  # a sync was running: no new job, one follow-up instead
    assert google.count(EVENTS) == before + 2 and _queued(calendar_app) == 0
    with calendar_app.app_context():
        assert sync.request_sync(calendar_id) is True  # idle again: the next request queues at once


def test_microsoft_subscription_handshake_notifications_and_lifecycle(calendar_app, microsoft, client, auth, member,
                                                                      drain, live_server):
    point_at(calendar_app, microsoft=microsoft, PUBLIC_BASE_URL=live_server.url)
    microsoft.validate_subscriptions = True  # Graph calls our URL back before it answers
    subscription_id = _connected(calendar_app, client, auth, "microsoft", drain, microsoft)
    subscription = microsoft.subscriptions[subscription_id]
    assert subscription["notificationUrl"] == subscription["lifecycleNotificationUrl"] == live_server.url + MICROSOFT_HOOK
    assert subscription["resource"] == "me/events" and subscription["changeType"] == "created,updated,deleted"

    handshake = requests.post(live_server.url + MICROSOFT_HOOK + "?validationToken=Validation%3a+Testing+client+"
                              "application+reachability+for+subscription+Request-Id%3a+25b2-4c41", timeout=5)
    assert handshake.status_code == 200 and handshake.headers["Content-Type"].startswith("text/plain")
    assert handshake.text == "Validation: Testing client application reachability for subscription Request-Id: 25b2-4c41"

    assert microsoft.notify(subscription_id).status_code == 202
    assert microsoft.notify(subscription_id, change_type="created").status_code == 202
    assert _queued(calendar_app) == 1
    assert microsoft.notify(subscription_id, client_state="forged").status_code == 401
    unknown = requests.post(live_server.url + MICROSOFT_HOOK, timeout=5, json={"value": [
        {"subscriptionId": "00000000-0000-0000-0000-000000000000", "clientState": "x", "changeType": "updated"}]})
    assert unknown.status_code == 404
    assert requests.post(live_server.url + MICROSOFT_HOOK, data=b"\xff{", timeout=5).status_code == 400
    drain()

    patches = microsoft.count("/v1.0/subscriptions/", method="PATCH")
    assert microsoft.lifecycle(subscription_id, "reauthorizationRequired").status_code == 202
    assert microsoft.lifecycle(subscription_id, "missed").status_code == 202
    full_rounds = len([e for e in microsoft.requests_to("/v1.0/me/calendarView/delta") if "startDateTime" in e["query"]])
    drain()
    assert microsoft.count("/v1.0/subscriptions/", method="PATCH") == patches + 1
    assert len([e for e in microsoft.requests_to("/v1.0/me/calendarView/delta")
                if "startDateTime" in e["query"]]) == full_rounds + 1  # "missed": a full resync

    assert microsoft.lifecycle(subscription_id, "subscriptionRemoved").status_code == 202
    drain()
    with calendar_app.app_context():
        channels = WatchChannel.query.order_by(WatchChannel.id).all()
        assert [c.state for c in channels] == ["stopped", "active"]
        assert channels[1].channel_id in microsoft.subscriptions and subscription_id not in microsoft.subscriptions


def test_renewal_before_expiry_and_the_cli(calendar_app, google, microsoft, client, auth, member, other_member,
                                           drain, runner):
    google_channel = _connected(calendar_app, client, auth, "google", drain, google)
    other = calendar_app.test_client()
    microsoft.add_user("other@example.com")
    login(other, "other@example.com")
    connect(other, "microsoft", "other@example.com")
    drain()
    with calendar_app.app_context():
        channels = {c.provider: c for c in WatchChannel.query.filter_by(state="active")}
        ms_channel = channels["microsoft"].channel_id
        for channel in channels.values():
            channel.expires_at = utcnow() + timedelta(hours=3)  # within a day: due
        db.session.commit()

    listing = runner.invoke(args=["watch-channels", "manage", "--list"])
    assert listing.exit_code == 0 and listing.output.count("active") == 2
    renewed = runner.invoke(args=["watch-channels", "manage", "--renew-expiring"])
    assert renewed.exit_code == 0, renewed.output
    assert "0 created, 2 renewed, 0 stopped, 0 failed." in renewed.output
    assert google_channel not in google.channels and len(google.channels) == 1  # replaced, the old one stopped
    with calendar_app.app_context():
        active = {c.provider: c for c in WatchChannel.query.filter_by(state="active")}
        assert active["google"].channel_id in google.channels
        assert active["microsoft"].channel_id == ms_channel and active["microsoft"].renewed_at
        assert all(c.expires_at > utcnow() + timedelta(days=2) for c in active.values())
        assert manage_watch_channels() == {"created": 0, "renewed": 0, "stopped": 0, "failed": 0}  # nothing due

        for channel in WatchChannel.query.filter_by(state="active"):  # expired while nobody looked
            channel.expires_at = utcnow() - timedelta(minutes=1)
        db.session.commit()
        assert manage_watch_channels()["created"] == 2

        live = [c.channel_id for c in WatchChannel.query.filter_by(state="active")]
    stopped = runner.invoke(args=["watch-channels", "manage", "--stop"])
    assert stopped.exit_code == 0 and "Stopped 2 channel(s)." in stopped.output
    assert not set(live) & (set(google.channels) | set(microsoft.subscriptions))


def test_push_setup_failures_are_recorded_not_fatal(calendar_app, google, client, auth, member, drain, runner):
    google.add_user(MEMBER_EMAIL)
    google.fail_next(1, 400, "/calendar/v3/calendars/primary/events/watch")
    auth.login(MEMBER_EMAIL)
    connect(client, "google")
    drain()
    with calendar_app.app_context():
        calendar = only_calendar()
        assert calendar.is_connected and "Push notifications are not set up" in calendar.push_error
    page = client.get("/settings/").get_data(as_text=True)
    assert "no push channel yet: Push notifications are not set up" in page
    result = runner.invoke(args=["watch-channels", "manage"])
    assert result.exit_code == 0 and "1 created" in result.output


def test_sync_now_and_disconnect_buttons(calendar_app, google, client, auth, member, drain):
    _connected(calendar_app, client, auth, "google", drain, google)
    with calendar_app.app_context():
        calendar_id = only_calendar().id
    page = client.get("/settings/").get_data(as_text=True)
    assert "Last successful sync" in page and "Next renewal" in page and "Connect Microsoft 365" in page
    token = csrf_from(page)
    assert client.post(f"/calendars/{calendar_id}/sync").status_code == 400  # no CSRF token
    assert client.post(f"/calendars/{calendar_id}/sync", data={"csrf_token": token}).status_code == 302
    assert _queued(calendar_app) == 1
    drain()
    gone = client.post(f"/calendars/{calendar_id}/disconnect", data={"csrf_token": token}, follow_redirects=True)
    text = gone.get_data(as_text=True)
    assert "disconnected: push notifications stopped and its tokens deleted" in text
    assert "was disconnected" not in text  # the owner did it: no alarm banner
    assert google.channels == {}
    with calendar_app.app_context():
        assert not only_calendar().is_connected and CalendarCredential.query.count() == 0
    assert client.post(f"/calendars/{calendar_id + 1}/sync", data={"csrf_token": token}).status_code == 404
