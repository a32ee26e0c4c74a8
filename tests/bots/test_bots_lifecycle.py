"""A bot's life from the service's webhooks (signed, logged, deduped) and polling, to a call in the vault."""
import json
from datetime import timedelta

import requests

from callvault.bots import stats
from callvault.dashboard import figures
from callvault.extensions import db
from callvault import signals
from callvault.bots import dispatcher
from callvault.models import Bot, Call, ProcessedWebhook, WebhookDelivery
from callvault.queues import get_queue
from tests.support.bots import at, bots, event, sent_meeting, sync_changed, tick, user
from tests.support.webhooks import record_inbox


def deliveries(**filters):
    db.session.expire_all()
    return WebhookDelivery.query.filter_by(source="attendee", **filters).order_by(WebhookDelivery.id).all()


def scheduled_bot(app, attendee, live_server, title="Customer call", start=None):
    attendee.project_webhook_url = live_server.url + "/webhooks/attendee"
    with app.app_context():
        _, bot = sent_meeting(attendee, title, start, name="Ada Lovelace")
        return bot.id, bot.attendee_id


def test_signed_webhooks_move_the_bot_and_duplicates_and_forgeries_do_not(bot_app, attendee, live_server, drain):
    bot_id, remote = scheduled_bot(bot_app, attendee, live_server)
    attendee.clock = at(2)
    # Attendee signs the payload re-serialised compactly with raw UTF-8; requests sends \\u escapes.
    payload = attendee.set_state(remote, "joining", "join_requested", event_metadata={"note": "Zoë – café"})
    assert attendee.deliveries[-1]["status"] == 202
    drain()
    with bot_app.app_context():
        [bot] = bots()
        assert bot.state == "joining" and bot.transitions[-1].reason == "webhook: join_requested"
        [row] = deliveries()
        assert (row.status, row.signature_valid, row.webhook_id) == ("success", True, payload["idempotency_key"])
        assert row.endpoint == "/webhooks/attendee" and row.headers["X-Webhook-Signature"] == "[redacted]"

    assert attendee.deliver(attendee.project_webhook_url, payload) == 200  # Attendee retrying: a duplicate
    forged = dict(payload, idempotency_key="forged-1", data=dict(payload["data"], new_state="ended"))
    assert attendee.deliver(attendee.project_webhook_url, forged, signature="bm90IGEgc2lnbmF0dXJl") == 401
    raw_hmac = requests.post(attendee.project_webhook_url, data=json.dumps(payload).encode(), timeout=5,
                             headers={"Content-Type": "application/json", "X-Webhook-Signature": "x"})
    assert raw_hmac.status_code == 401
    drain()
    with bot_app.app_context():
        assert [b.state for b in bots()] == ["joining"] and len(bots()[0].transitions) == 3
        assert [r.status for r in deliveries()] == ["success", "duplicate", "rejected", "rejected"]
        assert deliveries()[2].signature_valid is False
        assert ProcessedWebhook.query.filter_by(source="attendee").count() == 1


def test_nothing_a_sender_puts_in_a_webhook_gives_a_500(bot_app, client, attendee):
    attendee_secret = bot_app.config["ATTENDEE_WEBHOOK_SECRET"]
    from sandboxes.attendee import sign
    cases = [
        (b"not json", {"X-Webhook-Signature": "abc"}, 401),
        (b'{"a": "\\ud800"}', {"X-Webhook-Signature": "abc"}, 401),
        (b"[" * 100000 + b"]" * 100000, {}, 401),
        (b"\xff\xfe", {"X-Webhook-Signature": "\u00e9".encode().decode("latin-1")}, 401),
        (json.dumps([1, 2]).encode(), {"X-Webhook-Signature": sign([1, 2], attendee_secret)}, 400),
        (json.dumps({"trigger": "x"}).encode(), {"X-Webhook-Signature": sign({"trigger": "x"}, attendee_secret)}, 400),
    ]
    for body, headers, status in cases:
        response = client.post("/webhooks/attendee", data=body, headers={"Content-Type": "application/json", **headers})
        assert response.status_code == status, (body[:30], response.get_data(as_text=True))
    signed = {"idempotency_key": "k1", "trigger": "bot.state_change", "bot_id": "bot_unknown",
              "data": {"new_state": 7, "created_at": "not a time"}}
    response = client.post("/webhooks/attendee", json=signed,
                           headers={"X-Webhook-Signature": sign(signed, attendee_secret)})
    assert response.status_code == 202
    bot_app.config["ATTENDEE_WEBHOOK_SECRET"] = None
    assert client.post("/webhooks/attendee", json=signed).status_code == 503
    bot_app.config["MAX_CONTENT_LENGTH"] = 1000
    assert client.post("/webhooks/attendee", data=b"{" + b" " * 5000 + b"}").status_code == 413
    record_inbox(bot_app)  # with the Redis inbox (TEST_REDIS_URL): the rows a worker's drain writes
    with bot_app.app_context():
        assert len(deliveries()) == len(cases) + 3
        assert deliveries()[-2].error_message.startswith("ATTENDEE_WEBHOOK_SECRET is not set")
        assert deliveries()[-1].status == "rejected" and deliveries()[-1].body_size == 5002


def test_an_ended_bot_becomes_a_call_linked_to_fathoms_recording(bot_app, attendee, live_server, drain, make_call):
    bot_id, remote = scheduled_bot(bot_app, attendee, live_server)
    with bot_app.app_context():
        ada = bots()[0].owner_id
    fathom = make_call(ada, external_id="555", title="Customer call (Fathom)", started_at=at(2, 1))
    start_ms = int(at(2, 1).timestamp() * 1000)
    attendee.add_utterance(remote, "Ada Lovelace", "Thanks for joining.", start_ms + 5000, 1800)
    attendee.add_utterance(remote, "Carol", "Happy to be here — café first?", start_ms + 9000, 2500)
    attendee.add_utterance(remote, "Ada Lovelace", "", start_ms + 12000, 100)  # nothing said: skipped
    for moment, state, kind in [(at(2), "joining", "join_requested"), (at(2, 1), "joined_recording", "bot_joined"),
                                (at(2, 31), "leaving", "leave_requested"),
                                (at(2, 32), "post_processing", "bot_left_meeting"),
                                (at(2, 33), "ended", "post_processing_completed")]:
        attendee.clock = moment
        attendee.set_state(remote, state, kind)
    drain()  # the webhooks, then the transcript fetch they asked for
    with bot_app.app_context():
        [bot] = bots()
        assert bot.state == "ended" and bot.call_id and bot.fathom_call_id == fathom
        assert [t.to_state for t in bot.transitions] == ["pending", "scheduled", "joining", "joined_recording",
                                                         "leaving", "post_processing", "ended"]
        call = db.session.get(Call, bot.call_id)
        assert (call.source, call.external_id, call.title, call.owner_id) == ("bot", remote, "Customer call", ada)
        assert call.started_at == at(2, 1) and call.recorded_by_email == "ada@acme.test"
        assert [(p.email, p.is_external) for p in call.participants] == [
            ("ada@acme.test", False), ("bob@acme.test", False), ("carol@client.test", True)]
        assert [(s.speaker, s.text, s.start_ms, s.end_ms) for s in call.segments] == [
            ("Ada Lovelace", "Thanks for joining.", 5000, 6800),
            ("Carol", "Happy to be here — café first?", 9000, 11500)]
        assert {e.target for e in call.exports} <= {"database", "webhook"}  # exports recorded by the store


def test_polling_catches_what_lost_webhooks_missed(bot_app, attendee, live_server, drain):
    bot_id, remote = scheduled_bot(bot_app, attendee, live_server)
    attendee.project_webhook_url = None  # every webhook lost (Attendee gives up after ~3 s)
    attendee.clock = at(2, 1)
    attendee.set_state(remote, "joining", "join_requested")
    attendee.set_state(remote, "joined_recording", "bot_joined")
    attendee.add_utterance(remote, "Ada Lovelace", "Hello", int(at(2, 2).timestamp() * 1000))
    with bot_app.app_context():
        tick(attendee, at(2, 2))  # join_at passed and it has not moved: polled
        assert bots()[0].state == "joined_recording"
        assert bots()[0].transitions[-1].reason == "polled: no webhook reported this"
        polls = attendee.count("GET", f"/api/v1/bots/{remote}")
        tick(attendee, at(2, 20))  # recording a meeting that is not over: nothing should have moved
        assert attendee.count("GET", f"/api/v1/bots/{remote}") == polls
        attendee.set_state(remote, "ended", "post_processing_completed")
        tick(attendee, at(2, 35))
        assert bots()[0].state == "ended"
    drain()
    with bot_app.app_context():
        [bot] = bots()
        assert bot.call_id and Call.query.count() == 1


def test_a_late_webhook_revives_a_missed_bot_and_stale_news_is_ignored(bot_app, attendee, live_server, drain):
    bot_id, remote = scheduled_bot(bot_app, attendee, live_server)
    with bot_app.app_context():
        tick(attendee, at(2, 31), stage=False)  # the meeting (2:00–2:30) ended and no bot joined
        assert bots()[0].state == "missed"
    attendee.clock = at(2, 32)
    staged = attendee.set_state(remote, "staged", "staged")
    joined = attendee.set_state(remote, "joined_recording", "bot_joined")
    drain()
    attendee.deliver(attendee.project_webhook_url, dict(staged, idempotency_key="late-copy"))
    drain()
    with bot_app.app_context():
        [bot] = bots()
        assert bot.state == "joined_recording" and bot.remote_state == "joined_recording"
        assert [(t.from_state, t.to_state) for t in bot.transitions][-2:] == [("scheduled", "missed"),
                                                                              ("missed", "joined_recording")]
        assert joined["data"]["new_state"] == "joined_recording"


def test_dashboard_figures_come_from_the_bots(bot_app, attendee, live_server, drain):
    bot_id, remote = scheduled_bot(bot_app, attendee, live_server)
    with bot_app.app_context():
        ada = bots()[0].owner_id
        cal = bots()[0].event.calendar_id
        sync_changed(event(cal, "Nobody came", at(3), url="https://zoom.us/j/81234567890"))
        attendee.down = True  # the service is down until both meetings are over
        tick(attendee, at(3, 31), stage=False)
        day = at(2).date()
        start, end = figures.day_bounds(day)
        assert figures.bots_scheduled_stage(start, end).count == 2
        assert figures.bots_joined_stage(start, end).count == 0
        found = figures.missed_bots(at(-24))
        # The second meeting never reached the service: missed. The first bot is at the service, which cannot
        # be asked while it is down, so it is not called missed on a guess (it is once the service says so).
        assert [f.kind for f in found] == ["missed_bot"]
        assert "before a bot could join" in found[0].detail
        listing = figures.events(day)
        with_bots = [e for e in listing["events"] if e.get("bot")]
        assert sorted(e["bot"]["state"] for e in with_bots) == ["missed", "scheduled"]
        assert stats.by_state(start, end) == {"missed": 1, "scheduled": 1}
        assert [b.owner_id for b in bots()] == [ada, ada]  # both bots are Ada's, and the failure says whose
        assert found[0].title.endswith("(ada@acme.test)")


def test_a_failed_transcript_fetch_is_retried_with_backoff(bot_app, attendee, live_server, drain):
    bot_id, remote = scheduled_bot(bot_app, attendee, live_server)
    attendee.add_utterance(remote, "Ada Lovelace", "Hello", int(at(2, 1).timestamp() * 1000))
    attendee.clock = at(2, 30)
    attendee.fail_next(3, status=503, path_prefix=f"/api/v1/bots/{remote}/transcript")
    attendee.set_state(remote, "ended", "post_processing_completed")
    drain()
    with bot_app.app_context():
        [bot] = bots()
        assert bot.state == "ended" and bot.call_id is None and bot.transcript_attempts == 1
        assert "503" in bot.transcript_error
        assert tick(attendee, bot.state_changed_at + timedelta(seconds=90)) == {}  # not yet: backoff
        assert tick(attendee, bot.state_changed_at + timedelta(minutes=3)) == {"transcript_requested": 1}
    drain()
    with bot_app.app_context():
        [bot] = bots()
        assert bot.call_id and bot.transcript_error is None and Call.query.count() == 1


def test_a_fathom_recording_arriving_later_is_linked_by_the_dispatcher(bot_app, attendee, live_server, drain,
                                                                         make_call):
    bot_id, remote = scheduled_bot(bot_app, attendee, live_server)
    attendee.clock = at(2, 30)
    attendee.set_state(remote, "ended", "post_processing_completed")
    drain()
    with bot_app.app_context():
        [bot] = bots()
        assert bot.call_id and bot.fathom_call_id is None
        owner, someone_else = bot.owner_id, user("zed@elsewhere.test")
    make_call(someone_else, external_id="999", started_at=at(2, 2))  # nobody in common: not it
    fathom = make_call(owner, external_id="777", started_at=at(2, 2))
    with bot_app.app_context():
        assert tick(attendee, at(2, 40))["linked_to_fathom"] == 1
        assert bots()[0].fathom_call_id == fathom


def test_a_service_bot_that_vanished_is_replaced(bot_app, attendee, live_server):
    bot_id, remote = scheduled_bot(bot_app, attendee, live_server)
    del attendee.bots[remote]  # deleted at the service by someone else
    with bot_app.app_context():
        tick(attendee, at(2), stage=False)  # due, never heard of: polled, 404, replaced, sent again
        tick(attendee, at(2, 1), stage=False)
        [bot] = bots()
        assert bot.attendee_id != remote and bot.generation == 2 and bot.state == "joining"
        assert any("no longer has bot" in t.reason for t in bot.transitions)


def test_a_backlog_of_transcript_retries_is_worked_off_a_bounded_batch_per_pass(bot_app, attendee, monkeypatch):
    """After an outage many ended bots wait for their transcript: a pass asks again for at most
    TRANSCRIPT_RETRIES_PER_TICK of them, the longest waiting first, and reads none still in backoff."""
    monkeypatch.setattr(dispatcher, "TRANSCRIPT_RETRIES_PER_TICK", 3)
    now = at(5)
    with bot_app.app_context():
        owner = user("ada@acme.test")
        def ended(minutes_ago: float, attempts: int) -> int:
            bot = Bot(meeting_url=f"https://meet.google.com/aaa-bbbb-{len(bots()):03d}", join_at=now - timedelta(hours=1),
                      owner_id=owner, title="Backlog", state="ended", transcript_attempts=attempts,
                      state_changed_at=now - timedelta(minutes=minutes_ago))
            db.session.add(bot)
            db.session.commit()
            return bot.id
        due = [ended(50 - n, attempts=n % 3) for n in range(5)]  # 2**attempts minutes passed for each
        waiting = ended(10, attempts=5)  # due 32 minutes after its end
        assert dispatcher._due(now) == due[:3]
        assert tick(attendee, now) == {"transcript_requested": 3}
        monkeypatch.setattr(dispatcher, "TRANSCRIPT_RETRIES_PER_TICK", 10)
        assert dispatcher._due(now) == due  # the waiting one is not read before its time
        assert dispatcher._due(now + timedelta(minutes=23)) == due + [waiting]


def test_a_transcript_asked_for_again_while_its_fetch_waits_is_fetched_once(bot_app, attendee, live_server, drain):
    bot_id, remote = scheduled_bot(bot_app, attendee, live_server)
    attendee.add_utterance(remote, "Ada Lovelace", "Hello", int(at(2, 1).timestamp() * 1000))
    attendee.clock = at(2, 30)
    attendee.set_state(remote, "ended", "post_processing_completed")  # the ending queues the first fetch
    with bot_app.app_context():
        for _ in range(3):  # the dispatcher's retries and a person's "fetch again", while it still waits
            signals.notify(signals.bot_transcript_due, bot_id=bot_id)
        waiting = [job.func_name for job in get_queue("bots").get_jobs()]
        assert waiting.count("callvault.jobs.bots.fetch_transcript") == 1
    drain()
    with bot_app.app_context():
        [bot] = bots()
        assert bot.call_id and bot.transcript_attempts == 1 and Call.query.count() == 1
