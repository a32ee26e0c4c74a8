"""Fathom webhooks: real Standard-Webhooks-signed requests at the endpoints, then the queue."""
import json
import threading
from datetime import datetime, timedelta, timezone

import pytest
import redis
import requests
from rq.job import Job

from callvault.calls.store import upsert_call
from callvault.extensions import db
from callvault.fathom.mapping import meeting_to_call_data
from callvault.jobs.periodic import PERIODIC_JOBS
from callvault.jobs.webhooks import process_delivery, sweep_webhook_deliveries
from callvault.models import Call, ProcessedWebhook, User, WebhookDelivery
from callvault.queues import drain_queues, get_redis
from callvault.webhooks import intake
from tests.support.backends import TEST_REDIS_URL
from tests.support.exports import HubProxy as TcpRelay
from tests.support.web import LiveServer
from tests.support.webhooks import OLD_SECRET, PERSONAL_SECRET, SECRET, URL, encode, meeting, record_inbox, signed, use_intake


@pytest.fixture
def app(app, intake_way):
    app.config["FATHOM_OAUTH_WEBHOOK_SECRET"] = SECRET
    return use_intake(app, intake_way)


def deliver(app, client, body: bytes, headers: dict, url=URL):
    """POST and return (response, its log row), checking it left exactly one row."""
    with app.app_context():
        before = db.session.query(WebhookDelivery).count()
    response = client.post(url, data=body, headers=headers)
    assert response.status_code < 500 or response.status_code == 503, response.get_data(as_text=True)
    with app.app_context():
        assert db.session.query(WebhookDelivery).count() == before + 1
        row = row_of(response)
        db.session.expunge(row)
    return response, row


def row_of(response) -> WebhookDelivery:
    """The log row of a request, found by the receipt it was answered with (either intake)."""
    row = db.session.query(WebhookDelivery).filter_by(receipt=response.headers["X-Webhook-Receipt"]).one()
    if "X-Webhook-Delivery" in response.headers:  # the database intake also names the row's id
        assert row.id == int(response.headers["X-Webhook-Delivery"])
    return row


def rows(app, **filters):
    with app.app_context():
        return db.session.query(WebhookDelivery).filter_by(**filters).order_by(WebhookDelivery.id).all()


def calls(app):
    with app.app_context():
        return [(c.external_id, c.owner_id) for c in db.session.query(Call).order_by(Call.id)]


def test_valid_delivery_is_stored_acknowledged_then_processed(app, client, drain, member):
    body = encode(meeting())
    headers = signed(body)
    response, row = deliver(app, client, body, headers)
    assert response.status_code == 202 and response.json["status"] == "accepted"
    assert row.status == "pending" and row.signature_valid is True and row.webhook_id == headers["webhook-id"]
    assert row.body == body.decode() and row.body_size == len(body) and not row.body_truncated
    assert row.headers["Webhook-Signature"] == "[redacted]" and row.headers["Webhook-Id"] == headers["webhook-id"]
    drain()
    [row] = rows(app)
    assert row.status == "success" and row.user_id == member and row.attempts == 1 and row.processed_at
    assert calls(app) == [("104819048", member)]
    with app.app_context():
        call = db.session.get(Call, row.call_id)
        assert call.title == "Team Sync Meeting" and call.segments.count() == 1


def test_secrets_and_tokens_are_redacted_from_logged_headers():
    kept = intake.redact_headers({"Authorization": "Bearer x", "Cookie": "s=1", "X-Api-Key": "k",
                                  "X-Client-Secret": "s", "X-Refresh-Token": "t", "webhook-signature": "v1,x",
                                  "User-Agent": "Svix-Webhooks/1.0", "X-Big": "y" * 10_000})
    assert {k for k, v in kept.items() if v == "[redacted]"} == {
        "Authorization", "Cookie", "X-Api-Key", "X-Client-Secret", "X-Refresh-Token", "webhook-signature"}
    assert kept["User-Agent"] == "Svix-Webhooks/1.0" and len(kept["X-Big"]) == intake.HEADER_VALUE_CAP


def test_two_signatures_during_secret_rotation(app, client, member):
    body = encode(meeting())
    response, row = deliver(app, client, body, signed(body, secrets=[OLD_SECRET, SECRET]))
    assert response.status_code == 202 and row.signature_valid is True
    response, _ = deliver(app, client, body, signed(body, secrets=[OLD_SECRET]))
    assert response.status_code == 401


def test_duplicate_webhook_id_is_logged_and_answered_2xx(app, client, drain, member):
    body = encode(meeting())
    headers = signed(body)
    first, first_row = deliver(app, client, body, headers)
    second, second_row = deliver(app, client, body, headers)  # while the first is still pending
    assert first.status_code == 202 and second.status_code == 200 and second.json["status"] == "duplicate"
    assert second_row.status == "duplicate"
    assert second_row.error_message == f"already received as delivery {first_row.id}"
    drain()
    assert [r.status for r in rows(app)] == ["success", "duplicate"]
    third, third_row = deliver(app, client, body, headers)  # after it was processed
    assert third.status_code == 200 and third_row.status == "duplicate"
    drain()
    assert len(calls(app)) == 1


def test_twenty_concurrent_copies_make_one_call(app, app_factory, live_server, member):
    """Two web servers, each its own app (engine, pool, sessions) as two web processes would be, on
    the test database (PostgreSQL when TEST_DATABASE_URL is set); 20 threads released at once."""
    other = app_factory(FATHOM_OAUTH_WEBHOOK_SECRET=SECRET, WEBHOOK_INTAKE=app.config["WEBHOOK_INTAKE"])
    if app.config["INPROCESS_QUEUE"]:  # fakeredis: the two "processes" share one Redis, as in production
        other.extensions["redis"] = app.extensions["redis"]
    body = encode(meeting())
    headers = signed(body)
    answers, start = [], threading.Barrier(20)
    with LiveServer(other) as other_server:
        urls = [server.url + URL for server in (live_server, other_server)]

        def post(url):
            start.wait()
            response = requests.post(url, data=body, headers=headers, timeout=60)
            answers.append((response.status_code, response.headers["X-Webhook-Receipt"]))

        threads = [threading.Thread(target=post, args=(urls[i % 2],)) for i in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert sorted(status for status, _ in answers) == [200] * 19 + [202]
    record_inbox(app)
    logged = rows(app)
    [winner] = [r.id for r in logged for status, receipt in answers if status == 202 and r.receipt == receipt]
    assert len(logged) == 20 and sorted(r.receipt for r in logged) == sorted(d for _, d in answers)
    assert {r.error_message for r in logged if r.status == "duplicate"} == {f"already received as delivery {winner}"}
    for each in (app, other):  # without TEST_REDIS_URL each app has its own in-process queue
        with each.app_context():
            drain_queues()
    assert sorted(r.status for r in rows(app)) == ["duplicate"] * 19 + ["success"]
    assert len(calls(app)) == 1
    with app.app_context():
        assert db.session.query(ProcessedWebhook).one().delivery_id == winner


def test_bad_signatures_are_401_and_logged(app, client, member):
    body = encode(meeting())
    now = datetime.now(timezone.utc)
    cases = {"tampered body": (signed(body), "No matching signature"),
             "wrong secret": (signed(body, secret=OLD_SECRET), "No matching signature"),
             "10 minutes old": (signed(body, at=now - timedelta(minutes=10)), "too old"),
             "10 minutes ahead": (signed(body, at=now + timedelta(minutes=10)), "too new")}
    for case, (headers, expected) in cases.items():
        sent = body.replace(b"Team Sync", b"Team Sink") if case == "tampered body" else body
        response, row = deliver(app, client, sent, headers)
        assert response.status_code == 401 and response.json["error"]["code"] == "invalid_signature", case
        assert row.status == "rejected" and row.signature_valid is False and expected in row.error_message, case
    with app.app_context():
        assert db.session.query(ProcessedWebhook).count() == 0


def test_missing_headers_are_401(app, client):
    body = encode(meeting())
    for missing in ("webhook-id", "webhook-timestamp", "webhook-signature"):
        headers = signed(body)
        del headers[missing]
        response, row = deliver(app, client, body, headers)
        assert response.status_code == 401 and "Missing required headers" in row.error_message, missing


def test_malformed_signature_headers_are_401_not_500(app, client):
    body = encode(meeting())
    for signature in ("garbage", "v1", "v1,", "v1,a,b", "v1,***not base64***", "v1,abc", "v2,abc v1", " ",
                      "v1,YWJj v1,YWJj,x"):
        response, row = deliver(app, client, body, {**signed(body), "webhook-signature": signature})
        assert response.status_code == 401 and row.status == "rejected" and row.signature_valid is False, signature


def test_verified_bodies_that_are_not_meetings_are_400(app, client):
    for body, reason in [
        (b"this is not json", "the body is not JSON"),
        (b"[1, 2, 3]", "the body is not a JSON object"),
        (encode({k: v for k, v in meeting().items() if k != "recording_id"}), "the meeting has no recording_id"),
        (encode(meeting(recording_id={"id": 5})), "recording_id is not a usable id"),
    ]:
        response, row = deliver(app, client, body, signed(body))
        assert response.status_code == 400 and response.json["error"]["message"] == reason, reason
        assert row.status == "rejected" and row.signature_valid is True and row.error_message == reason, reason
    with app.app_context():
        assert db.session.query(ProcessedWebhook).count() == 0


def test_oversized_body_is_413_with_a_log_row(app, client):
    body = b'{"recording_id": 1, "padding": "' + b"x" * (12 * 1024 * 1024) + b'"}'
    response, row = deliver(app, client, body, signed(body))
    assert response.status_code == 413 and response.json["error"]["code"] == "too_large"
    assert row.status == "rejected" and row.body_size == len(body) and row.body_cap == intake.PREVIEW_CAP
    assert row.body_truncated and len(row.body) == intake.PREVIEW_CAP and row.body.startswith('{"recording_id"')
    assert row.webhook_id and row.headers["Webhook-Signature"] == "[redacted]"


def test_oversized_chunked_body_is_413_not_cut_at_the_limit(app, live_server):
    """Without a Content-Length the body must not be read as its first 10 MB and judged as such."""
    body = b'{"recording_id": 1, "padding": "' + b"x" * (12 * 1024 * 1024) + b'"}'
    chunks = (body[i:i + 65536] for i in range(0, len(body), 65536))
    response = requests.post(live_server.url + URL, data=chunks, headers=signed(body), timeout=60)
    assert response.status_code == 413 and response.json()["error"]["code"] == "too_large"
    record_inbox(app)
    [row] = rows(app)
    assert row.receipt == response.headers["X-Webhook-Receipt"] and row.status == "rejected"
    assert row.body_truncated and row.body_cap == intake.PREVIEW_CAP and row.body.startswith('{"recording_id"')
    assert row.error_message == f"the body is larger than the limit of {app.config['MAX_CONTENT_LENGTH']} bytes"


def test_body_at_the_limit_is_accepted_and_one_byte_more_is_413(app, client, member):
    limit = app.config["MAX_CONTENT_LENGTH"]
    prefix = encode(meeting())[:-1] + b', "padding": "'
    body = prefix + b"x" * (limit - len(prefix) - 2) + b'"}'
    assert len(body) == limit
    response, row = deliver(app, client, body, signed(body))
    assert response.status_code == 202 and row.body_size == limit and not row.body_truncated
    bigger = body[:-2] + b'x"}'
    response, row = deliver(app, client, bigger, signed(bigger))
    assert response.status_code == 413 and row.body_size == limit + 1


def test_unknown_recorder_fails_then_replays_after_the_email_is_added(app, client, drain, runner, member):
    body = encode(meeting(email="Max.Alias@Example.com"))
    response, row = deliver(app, client, body, signed(body))
    assert response.status_code == 202
    drain()
    [row] = rows(app)
    assert row.status == "failed" and row.error_message == (
        "no user has host email max.alias@example.com approved; once an admin approves it on the accounts page, "
        "the delivery is processed again")
    assert calls(app) == []

    result = runner.invoke(args=["webhooks", "replay", str(row.id)])
    assert result.exit_code == 1 and "failed again: no user has host email" in result.output
    added = runner.invoke(args=["users", "host-email", "member@example.com", "--add", "max.alias@example.com"])
    assert added.exit_code == 0
    result = runner.invoke(args=["webhooks", "replay", str(row.id)])
    assert result.exit_code == 0, result.output
    [row] = rows(app)
    assert row.status == "success" and row.attempts == 3 and row.error_message is None
    assert result.output.strip() == f"Delivery {row.id} processed: call {row.call_id}."
    assert calls(app) == [("104819048", member)]


def test_replay_refuses_unknown_and_unverified_deliveries(app, client, runner):
    body = encode(meeting())
    _, row = deliver(app, client, body, signed(body, secret=OLD_SECRET))
    result = runner.invoke(args=["webhooks", "replay", str(row.id)])
    assert result.exit_code == 1 and "without a verified signature" in result.output
    result = runner.invoke(args=["webhooks", "replay", "999999"])
    assert result.exit_code == 1 and result.output.strip() == "Error: there is no webhook delivery 999999"


def test_oauth_endpoint_without_its_secret_is_503_naming_the_variable(app, client):
    app.config["FATHOM_OAUTH_WEBHOOK_SECRET"] = None
    body = encode(meeting())
    response, row = deliver(app, client, body, signed(body))
    assert response.status_code == 503 and "FATHOM_OAUTH_WEBHOOK_SECRET" in response.json["error"]["message"]
    assert row.status == "rejected" and "FATHOM_OAUTH_WEBHOOK_SECRET is not set" in row.error_message


def test_personal_webhook_belongs_to_its_user(app, client, drain, member, other_member, personal_key):
    body = encode(meeting(email="member@example.com"))  # recorded by someone else: the key decides
    response, row = deliver(app, client, body, signed(body, secret=PERSONAL_SECRET), url=f"{URL}/{personal_key}")
    assert response.status_code == 202 and row.endpoint == "/webhooks/fathom/<key>" and row.user_id == other_member
    drain()
    assert calls(app) == [("104819048", other_member)]
    response, _ = deliver(app, client, body, signed(body, secret=SECRET), url=f"{URL}/{personal_key}")
    assert response.status_code == 401


def test_unknown_personal_key_is_404_with_a_log_row(app, client, personal_key):
    body = encode(meeting())
    for key in ("unknown-key", "x" * 300, "a/b/c", "%00", "caf%C3%A9", "k3y_-Abc%20"):
        response, row = deliver(app, client, body, signed(body, secret=PERSONAL_SECRET), url=f"{URL}/{key}")
        assert response.status_code == 404 and row.status == "rejected", key
        assert "no personal webhook" in row.error_message


def test_webhooks_arriving_at_a_dead_redis_wait_for_the_sweeper(app, app_factory, drain, member):
    """A web process whose Redis is unreachable (nothing listens there) still stores and acknowledges;
    a process with a working Redis sweeps the pending deliveries later. Runs on every backend."""
    dead = app_factory(REDIS_URL="redis://127.0.0.1:1/0", INPROCESS_QUEUE=False, FATHOM_OAUTH_WEBHOOK_SECRET=SECRET)
    client = use_intake(dead, "redis").test_client()  # the inbox is unreachable: the database takes them
    for recording_id in range(5000, 5005):
        body = encode(meeting(recording_id=recording_id))
        assert deliver(dead, client, body, signed(body))[0].status_code == 202
    assert [r.status for r in rows(app)] == ["pending"] * 5

    with app.app_context():
        assert sweep_webhook_deliveries() == {"requeued": 5, "abandoned": 0, "gave_up": 0}
        assert sweep_webhook_deliveries() == {"requeued": 0, "abandoned": 0, "gave_up": 0}  # their jobs are queued: left alone
    drain()
    assert [r.status for r in rows(app)] == ["success"] * 5 and [r.attempts for r in rows(app)] == [1] * 5
    assert sorted(calls(app)) == [(str(i), member) for i in range(5000, 5005)]


@pytest.mark.skipif(not TEST_REDIS_URL, reason="needs a real Redis server to cut off and restore "
                                               "(TEST_REDIS_URL); the dead-Redis test above covers fakeredis runs")
def test_nothing_is_lost_while_redis_is_down(app_factory, member, intake_way):
    """Redis goes away while webhooks arrive (its connections cut, new ones refused) and comes back at
    the same address; the periodic sweeper, run as the scheduler runs it, requeues what was left."""
    with TcpRelay(TEST_REDIS_URL) as relay:
        web = app_factory(REDIS_URL=relay.url_for(TEST_REDIS_URL), INPROCESS_QUEUE=False,
                          FATHOM_OAUTH_WEBHOOK_SECRET=SECRET)
        client = use_intake(web, intake_way).test_client()
        before = encode(meeting(recording_id=4999))
        assert deliver(web, client, before, signed(before))[0].status_code == 202  # queued normally

        relay.down()
        for recording_id in range(5000, 5005):
            body = encode(meeting(recording_id=recording_id))
            assert deliver(web, client, body, signed(body))[0].status_code == 202
        with web.app_context():
            with pytest.raises(redis.RedisError):
                sweep_webhook_deliveries()  # nothing can be requeued yet; the rows wait in the database
        assert [r.status for r in rows(web)] == ["pending"] * 6

        relay.up()
        with web.app_context():
            [sweeper] = [p for p in PERIODIC_JOBS if p.job is sweep_webhook_deliveries]
            job = sweeper.job.enqueue()
            drain_queues()  # the sweeper, then the five jobs it queued, then the one queued before
            assert Job.fetch(job.id, connection=get_redis()).return_value() == {"requeued": 5, "abandoned": 0, "gave_up": 0}
            get_redis().connection_pool.disconnect()
    assert [r.status for r in rows(web)] == ["success"] * 6 and [r.attempts for r in rows(web)] == [1] * 6
    assert sorted(calls(web)) == [(str(i), member) for i in range(4999, 5005)]


def test_a_job_queued_twice_processes_once(app, client, drain, member):
    body = encode(meeting())
    _, row = deliver(app, client, body, signed(body))
    with app.app_context():
        process_delivery.enqueue(row.id)
    drain()
    [row] = rows(app)
    assert row.status == "success" and row.attempts == 1


def test_sweeper_fails_rows_abandoned_before_judgement(app):
    with app.app_context():
        an_hour_ago = datetime.now(timezone.utc) - timedelta(hours=1)
        old = WebhookDelivery(source="fathom", endpoint=URL, received_at=an_hour_ago)
        fresh = WebhookDelivery(source="fathom", endpoint=URL)
        db.session.add_all([old, fresh])
        db.session.commit()
        assert intake.sweep() == {"requeued": 0, "abandoned": 1, "gave_up": 0}
        assert db.session.get(WebhookDelivery, old.id).status == "failed"
        assert db.session.get(WebhookDelivery, fresh.id).status == "pending"


def test_sweeper_runs_every_minute_on_the_webhooks_queue(app, drain):
    [sweeper] = [p for p in PERIODIC_JOBS if p.job is sweep_webhook_deliveries]
    assert sweeper.job.queue == "webhooks" and sweeper.interval_seconds == 60
    with app.app_context():
        job = sweeper.job.enqueue()
    drain()
    with app.app_context():
        assert Job.fetch(job.id, connection=get_redis()).return_value() == {"requeued": 0, "abandoned": 0, "gave_up": 0}


def test_same_meeting_by_manual_sync_and_webhook_is_one_call(app, client, drain, member):
    payload = meeting()
    with app.app_context():
        upsert_call(db.session.get(User, member), meeting_to_call_data(json.loads(json.dumps(payload))))
    body = encode({**payload, "title": "Renamed in Fathom"})
    deliver(app, client, body, signed(body))
    drain()
    with app.app_context():
        [call] = db.session.query(Call).all()
        assert call.title == "Renamed in Fathom"


def test_content_a_webhook_does_not_carry_is_kept(app, client, drain, member):
    payload = meeting(action_items=[{"description": "Send the notes", "completed": False}])
    with app.app_context():
        upsert_call(db.session.get(User, member), meeting_to_call_data(payload))
    body = encode({**payload, "title": "New title", "transcript": None, "default_summary": None,
                   "action_items": None})
    deliver(app, client, body, signed(body))
    drain()
    with app.app_context():
        [call] = db.session.query(Call).all()
        assert call.title == "New title" and call.summary_markdown == "## Summary\nWe synced."
        assert [s.text for s in call.segments] == ["Hello everyone"]
        assert [a.description for a in call.action_items] == ["Send the notes"]


FUZZ = {
    "non-UTF-8 body": lambda: (b"\xff\xfe\x00garbage\x80", signed(b"x")),
    "NUL bytes in body": lambda: (b'{"recording_id": 1, "title": "a\x00b"}', signed(b"x")),
    "huge header": lambda: (encode(meeting()), {**signed(b"x"), "X-Huge": "h" * 100_000}),
    "many headers": lambda: (encode(meeting()), {**signed(b"x"), **{f"X-H{i}": str(i) for i in range(300)}}),
    "webhook-id with NUL": lambda: (encode(meeting()), {**signed(b"x"), "webhook-id": "msg_\x00"}),
    "absurd timestamp": lambda: (encode(meeting()), {**signed(b"x"), "webhook-timestamp": "1e400"}),
    "nan timestamp": lambda: (encode(meeting()), {**signed(b"x"), "webhook-timestamp": "nan"}),
    "empty body": lambda: (b"", signed(b"")),
}


def test_odd_unsigned_inputs_never_500(app, client):
    for case, make in FUZZ.items():
        body, headers = make()
        response, row = deliver(app, client, body, headers)
        assert response.status_code in (400, 401) and row.status == "rejected", case


def test_odd_signed_bodies_never_500(app, client, drain, member):
    for payload, status in [
        ('{"recording_id": NaN}', 400),
        ('{"recording_id": 1e400}', 400),
        ('{"recording_id": ' + "9" * 5000 + "}", 400),
        ("[" * 100_000 + "]" * 100_000, 400),
        ('{"recording_id": [1]}', 400),
        ('{"recording_id": true}', 400),
        ('"just a string"', 400),
        ('{"recording_id": 7, "title": "nul \\u0000 inside", "recorded_by": {"email": ["x"]}}', 202),
        ('{"recording_id": 8, "title": {"a": 1}, "transcript": "nope", "recorded_by": "me"}', 202),
    ]:
        body = payload.encode()
        response, row = deliver(app, client, body, signed(body))
        assert response.status_code == status, payload[:60]
    drain()
    assert [r.status for r in rows(app)] == ["rejected"] * 7 + ["failed", "failed"]
    assert [r.error_message for r in rows(app)][-2:] == [
        "the meeting has no recorded_by.email, so its owner is unknown"] * 2


def test_signed_body_with_nul_in_a_string_becomes_a_call(app, client, drain, member):
    body = encode(meeting(title="before\u0000after"))
    deliver(app, client, body, signed(body))
    drain()
    [row] = rows(app)
    assert row.status == "success", row.error_message
    with app.app_context():
        assert db.session.get(Call, row.call_id).title == "before\ufffdafter"


def test_overlong_signed_webhook_id_is_400(app, client):
    body = encode(meeting())
    response, row = deliver(app, client, body, signed(body, msg_id="m" * 500))
    assert response.status_code == 400 and row.status == "rejected" and len(row.webhook_id) == 200
