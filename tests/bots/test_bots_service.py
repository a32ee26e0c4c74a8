"""Talking to the bot service: outages, lost answers, Attendee's strict validation, missing settings."""
import pytest

from callvault.bots.client import (AttendeeClient, AttendeeNotConfigured, AttendeeRefused, AttendeeUnavailable,
                                   ClientSettings)
from tests.support.bots import API_KEY, MEET, at, bots, calendar, event, sent_meeting, sync_changed, tick, user


def client_for(attendee, sleeps=None, **settings) -> AttendeeClient:
    options = {"timeout_seconds": 0.5, "max_attempts": 3, "retry_base_seconds": 1.0, **settings}
    return AttendeeClient(ClientSettings(attendee.base_url, API_KEY, **options),
                          sleep=(sleeps.append if sleeps is not None else lambda s: None))


def valid(**fields) -> dict:
    return {"meeting_url": MEET, "bot_name": "Notetaker", "join_at": at(2).isoformat(), **fields}


def test_client_retries_5xx_with_backoff_and_gives_up_clearly(attendee):
    sleeps = []
    with client_for(attendee, sleeps) as client:
        attendee.fail_next(2, status=502)
        bot, adopted = client.create_bot(valid())
        assert not adopted and bot["state"] == "scheduled" and attendee.count("POST", "/api/v1/bots") == 3
        assert len(sleeps) == 2 and 0.5 <= sleeps[0] <= 1.0 and 1.0 <= sleeps[1] <= 2.0  # exponential, jittered
        attendee.fail_next(3, status=503)
        with pytest.raises(AttendeeUnavailable, match="503 3 times in a row"):
            client.get_bot(bot["id"])
        with pytest.raises(AttendeeRefused, match="400") as refused:
            client.create_bot(valid(join_at=at(-1).isoformat()))
        assert "join_at cannot be in the past" in str(refused.value)
    assert attendee.count("POST", "/api/v1/bots", status=400) == 1  # a 4xx is never retried


def test_client_key_errors_and_secrets_stay_out_of_messages(attendee):
    with pytest.raises(AttendeeNotConfigured, match="ATTENDEE_API_KEY"):
        AttendeeClient(ClientSettings(attendee.base_url, None))
    with AttendeeClient(ClientSettings(attendee.base_url, "wrong-key", max_attempts=1)) as client:
        with pytest.raises(AttendeeRefused) as refused:
            client.get_bot("bot_x")
    assert "401" in str(refused.value) and "wrong-key" not in str(refused.value)


def test_the_fake_is_as_strict_as_attendee(attendee):
    with client_for(attendee) as client:
        for payload, problem in [
            (valid(recording="mp4"), "Unexpected field(s): recording"),
            (valid(join_at=None), "may not be null"),
            (valid(metadata={"n": 1}), "must be a string"),
            (valid(metadata={"k": "x" * 1000}), "less than 1000"),
            (valid(webhooks=[{"url": "http://callvault.test/webhooks/attendee", "triggers": ["bot.state_change"]}]),
             "https"),
            (valid(webhooks=[{"url": "https://callvault.test/w", "triggers": ["bot.nonsense"]}]), "triggers"),
            (valid(meeting_url="https://example.com/meeting"), "Invalid meeting URL"),
        ]:
            with pytest.raises(AttendeeRefused) as refused:
                client.create_bot(payload)
            assert problem in str(refused.value), (payload, str(refused.value))
        bot, _ = client.create_bot(valid(deduplication_key="k-1"))
        with pytest.raises(AttendeeRefused, match="unexpected|Unexpected"):
            client._send("PATCH", f"/api/v1/bots/{bot['id']}", json={"bot_name": "x"})
        attendee.clock = at(1, 56)
        attendee.advance()
        with pytest.raises(AttendeeRefused, match="only be updated when in the scheduled state"):
            client.reschedule(bot["id"], join_at=at(3))
        with pytest.raises(AttendeeRefused, match="can only be deleted when in scheduled state"):
            client.delete_bot(bot["id"])


def test_a_duplicate_key_is_reconciled_not_retried(attendee):
    with client_for(attendee) as client:
        first, _ = client.create_bot(valid(deduplication_key="callvault-bot-7-1"))
        again, adopted = client.create_bot(valid(deduplication_key="callvault-bot-7-1"))
    assert adopted and again["id"] == first["id"] and len(attendee.live_bots()) == 1
    assert attendee.count("POST", "/api/v1/bots", status=400) == 1 and attendee.count("GET", "/api/v1/bots") == 1


def test_a_create_whose_answer_was_lost_is_found_by_its_key(bot_app, attendee):
    with bot_app.app_context():
        ada = user("ada@acme.test")
        sync_changed(event(calendar(ada, "ada@acme.test"), "Lost answer", at(2)))
        attendee.slow_next(seconds=2.5, path_prefix="/api/v1/bots", method="POST", after_work=True)
        tick(attendee, at(1, 30))
        [bot] = bots()
        [live] = attendee.live_bots()
        assert bot.state == "scheduled" and bot.attendee_id == live["id"]
        assert attendee.count("POST", "/api/v1/bots", status=201) == 1
        assert attendee.count("POST", "/api/v1/bots", status=400) == 1
        assert "deduplication key" in bot.transitions[-1].reason


def test_while_the_service_is_down_bots_wait_then_go_out_before_join_at(bot_app, attendee):
    with bot_app.app_context():
        ada = user("ada@acme.test")
        cal = calendar(ada, "ada@acme.test")
        sync_changed(event(cal, "First", at(2)), event(cal, "Second", at(2, 10), url="https://zoom.us/j/81234567890"))
        attendee.fail_next(100, status=503)
        for minute in range(10, 40, 10):  # half an hour of outage, the dispatcher ticking
            counts = tick(attendee, at(1, minute))
            assert counts.get("service_unavailable") == 2
        tried = attendee.count("POST", "/api/v1/bots")
        assert tried == 3 * 3  # per tick: one bot tried 3 times, then the rest wait for the next tick
        assert all(b.state == "pending" and "503" in b.last_error for b in bots())
        attendee._faults.clear()
        tick(attendee, at(1, 40))
        assert [b.state for b in bots()] == ["scheduled", "scheduled"]
        assert all(b.last_error is None for b in bots())
        assert {b["join_at"] for b in attendee.live_bots()} == {at(2).isoformat().replace("+00:00", "Z"),
                                                                at(2, 10).isoformat().replace("+00:00", "Z")}


def test_an_outage_past_join_at_sends_the_bot_at_once_or_marks_it_missed_once_the_meeting_ended(bot_app, attendee):
    bot_app.config["BOT_LEAD_MINUTES"] = 20
    with bot_app.app_context():
        ada = user("ada@acme.test")
        cal = calendar(ada, "ada@acme.test")
        sync_changed(event(cal, "Short outage", at(2)), event(cal, "Long outage", at(2, 30),
                                                             url="https://zoom.us/j/81234567890"))
        attendee.fail_next(100, status=500)
        tick(attendee, at(1, 50))
        attendee._faults.clear()
        tick(attendee, at(2, 3))  # back 3 minutes after the first meeting started: it joins at once
        first, second = bots()
        assert first.state == "joining" and attendee.bots[first.attendee_id]["join_at"] is None
        assert second.state == "pending" and second.attendee_id is None
        attendee.fail_next(100, status=500)  # down again, this time for good
        tick(attendee, at(2, 15))
        tick(attendee, at(2, 41))  # the second meeting (2:30–3:00) still runs: still worth sending a bot
        assert bots()[1].state == "pending"
        tick(attendee, at(3, 1))
        first, second = bots()
        assert second.state == "missed" and "the meeting ended" in second.state_reason
        assert "never took a bot" in second.state_reason
        assert "500" in second.state_reason and second.transitions[-1].at == at(3, 1)


def test_https_public_url_subscribes_bot_level_webhooks(bot_app, attendee):
    bot_app.config["PUBLIC_BASE_URL"] = "https://callvault.example"
    with bot_app.app_context():
        sent_meeting(attendee, "Hooked")
    [sent] = attendee.requests_to("POST", "/api/v1/bots")
    assert sent["json"]["webhooks"] == [{"url": "https://callvault.example/webhooks/attendee",
                                         "triggers": ["bot.state_change"]}]
    assert sent["headers"]["Authorization"] == f"Token {API_KEY}"


def test_without_an_api_key_bots_wait_with_a_clear_reason(bot_app, attendee):
    bot_app.config["ATTENDEE_API_KEY"] = None
    with bot_app.app_context():
        _, bot = sent_meeting(attendee, "Unconfigured")
        assert bot.state == "pending" and "ATTENDEE_API_KEY is not set" in bot.last_error
        assert attendee.count() == 0
