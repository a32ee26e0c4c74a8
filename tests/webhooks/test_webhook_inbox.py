"""Issue 17: the Redis inbox. A judged request is put on the inbox with its claim and answered; the
workers record it as a row and process it in batches. Nothing is lost when Redis is down (the database
takes the request on the request path), when a process dies between the answer and the drain, or when
a drain dies between its commit and deleting what it recorded; copies make one call whichever way they
came in."""
import threading

import pytest
import requests

from callvault.extensions import db
from callvault.jobs.webhooks import drain_webhook_inbox, sweep_webhook_deliveries
from callvault.models import Call, ProcessedWebhook, User, WebhookDelivery
from callvault.queues import drain_queues, get_queue, get_redis
from callvault.webhooks import inbox, intake
from tests.support.backends import TEST_DATABASE_URL
from tests.support.web import LiveServer
from tests.support.webhooks import PERSONAL_SECRET, SECRET, URL, encode, meeting, record_inbox, signed, use_intake

DEAD_REDIS = "redis://127.0.0.1:1/0"


@pytest.fixture
def app(app):
    app.config["FATHOM_OAUTH_WEBHOOK_SECRET"] = SECRET
    app.config["WEBHOOK_INTAKE"] = "redis"  # plain test client: nothing is recorded until a drain runs
    return app


def post(client, recording_id, headers=None, url=URL):
    body = encode(meeting(recording_id=recording_id))
    return client.post(url, data=body, headers=headers or signed(body))


def deliveries(app):
    with app.app_context():
        return [(d.status, d.webhook_id) for d in WebhookDelivery.query.order_by(WebhookDelivery.id)]


def call_ids(app):
    with app.app_context():
        return sorted(c.external_id for c in Call.query)


def sharing_redis(app, other):
    """Two apps stand for two processes: with fakeredis they must share its server, as they share Redis."""
    if app.config["INPROCESS_QUEUE"]:
        other.extensions["redis"] = app.extensions["redis"]
    return other


def test_an_accepted_request_is_in_the_inbox_not_yet_a_row(app, client, member, drain):
    response = post(client, 1)
    assert response.status_code == 202 and "X-Webhook-Delivery" not in response.headers
    assert deliveries(app) == []
    with app.app_context():
        assert intake.waiting_in_inbox() == 1
    assert drain() is True
    with app.app_context():
        row = WebhookDelivery.query.one()
        assert row.receipt == response.headers["X-Webhook-Receipt"] and row.status == "success"
        assert intake.waiting_in_inbox() == 0
    assert call_ids(app) == ["1"]


def test_unverified_requests_go_through_the_inbox_as_previews(app, client):
    body = b'{"recording_id": 1, "padding": "' + b"x" * 100_000 + b'"}'
    assert client.post(URL, data=body, headers=signed(body, secret="whsec_" + "A" * 32)).status_code == 401
    assert client.post(URL, data=b"not even json", headers={"X-Api-Key": "sekrit"}).status_code == 401
    with app.app_context():
        entries = [entry for _, entry in inbox.read(10)]
        assert [len(e["body"]) for e in entries] == [intake.PREVIEW_CAP, len(b"not even json")]
        assert entries[1]["headers"]["X-Api-Key"] == "[redacted]"
    record_inbox(app)
    with app.app_context():
        rows = WebhookDelivery.query.order_by(WebhookDelivery.id).all()
        assert [(r.status, r.signature_valid) for r in rows] == [("rejected", False)] * 2
        assert rows[0].body_truncated and rows[0].body_size == len(body) and len(rows[0].body) == intake.PREVIEW_CAP


def test_the_deliveries_page_says_how_many_requests_wait_in_the_inbox(app, client, auth, admin):
    post(client, 1)
    post(client, 2)
    auth.login("admin@example.com")
    page = client.get("/admin/webhook-deliveries/").get_data(as_text=True)
    assert "2 more requests were answered and are waiting in the inbox to be listed here." in page
    record_inbox(app)
    assert "inbox-waiting" not in client.get("/admin/webhook-deliveries/").get_data(as_text=True)


def test_redis_down_takes_the_database_path_and_loses_nothing(app, app_factory, member, drain):
    """Redis unreachable: each request is a row and a claim committed before its 2xx; a copy arriving
    later through the inbox is a duplicate of it; the sweep processes the rows once Redis is back."""
    down = use_intake(app_factory(REDIS_URL=DEAD_REDIS, INPROCESS_QUEUE=False, FATHOM_OAUTH_WEBHOOK_SECRET=SECRET),
                      "redis").test_client()
    body = encode(meeting(recording_id=7))
    headers = signed(body)
    first = down.post(URL, data=body, headers=headers)
    assert first.status_code == 202 and first.headers["X-Webhook-Delivery"]
    assert down.post(URL, data=body, headers=headers).status_code == 200  # the copy, still without Redis
    assert deliveries(app) == [("pending", headers["webhook-id"]), ("duplicate", headers["webhook-id"])]

    app.test_client().post(URL, data=body, headers=headers)  # Redis is back for this process: a third copy
    with app.app_context():
        assert sweep_webhook_deliveries()["requeued"] == 1
    drain()
    assert [s for s, _ in deliveries(app)] == ["success", "duplicate", "duplicate"]
    assert call_ids(app) == ["7"]
    with app.app_context():
        original = int(first.headers["X-Webhook-Delivery"])
        assert ProcessedWebhook.query.one().delivery_id == original
        assert WebhookDelivery.query.order_by(WebhookDelivery.id.desc()).first().error_message == (
            f"already received as delivery {original}")


def test_concurrent_copies_through_two_processes_and_both_ways_make_one_call(app, app_factory, member):
    """20 copies at once: 10 at a process whose Redis is down (database path), 10 at another process
    through the inbox. Exactly one is processed, whichever way it came in; every copy has its row."""
    down = app_factory(REDIS_URL=DEAD_REDIS, INPROCESS_QUEUE=False, FATHOM_OAUTH_WEBHOOK_SECRET=SECRET,
                       WEBHOOK_INTAKE="redis")
    up = sharing_redis(app, app_factory(FATHOM_OAUTH_WEBHOOK_SECRET=SECRET, WEBHOOK_INTAKE="redis"))
    body = encode(meeting(recording_id=42))
    headers = signed(body)
    answers, start = [], threading.Barrier(20)
    with LiveServer(down) as down_server, LiveServer(up) as up_server:
        def send(url):
            start.wait(timeout=30)
            answers.append(requests.post(url + URL, data=body, headers=headers, timeout=60).status_code)

        threads = [threading.Thread(target=send, args=((down_server, up_server)[i % 2].url,)) for i in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert sorted(answers)[:18] == [200] * 18 and set(answers) <= {200, 202}
    with app.app_context():
        drain_queues()  # the drain (recording the inbox, processing its batch)
        assert sweep_webhook_deliveries()["requeued"] <= 1  # a database-path winner: its job never reached Redis
        drain_queues()
    statuses = sorted(s for s, _ in deliveries(app))
    assert statuses == ["duplicate"] * 19 + ["success"]
    assert call_ids(app) == ["42"]
    with app.app_context():
        assert ProcessedWebhook.query.count() == 1


def test_the_drain_records_and_processes_in_batches(app, client, member):
    app.config["WEBHOOK_DRAIN_BATCH"] = 10
    for recording_id in range(100, 125):
        assert post(client, recording_id).status_code == 202
    with app.app_context():
        assert intake.waiting_in_inbox() == 25
        assert len(get_queue("webhooks")) == 1  # one drain asked for, not one job per request
        first = intake.record_from_inbox(10)  # a batch: ten rows in one transaction, then out of the inbox
        assert [r.status for r in first] == ["pending"] * 10 and intake.waiting_in_inbox() == 15
        assert intake.process_many([r.delivery_id for r in first]) == {"success": 10}
        assert drain_webhook_inbox() == {"recorded": 15, "success": 15}
        assert intake.waiting_in_inbox() == 0
    assert call_ids(app) == [str(i) for i in range(100, 125)]
    assert [s for s, _ in deliveries(app)] == ["success"] * 25


def test_a_crash_between_the_answer_and_the_drain_loses_nothing(app, app_factory, member):
    """The web process answered and died; no drain ran. The entries wait in Redis, and a worker
    started later (another process) records and processes them."""
    web = sharing_redis(app, app_factory(FATHOM_OAUTH_WEBHOOK_SECRET=SECRET, WEBHOOK_INTAKE="redis"))
    answers = [post(web.test_client(), recording_id).status_code for recording_id in (1, 2, 3)]
    assert answers == [202] * 3
    with web.app_context():
        db.engine.dispose()
    del web
    assert deliveries(app) == []
    with app.app_context():
        get_redis().delete(inbox.DRAIN_REQUESTED)  # its drain job was lost too: the sweep asks again
        for lost in get_queue("webhooks").jobs:
            lost.delete()
        sweep_webhook_deliveries()
        assert len(get_queue("webhooks")) == 1
        drain_queues()
    assert call_ids(app) == ["1", "2", "3"] and [s for s, _ in deliveries(app)] == ["success"] * 3


def test_a_drain_that_dies_after_its_commit_records_nothing_twice(app, client, member, drain):
    """A recorder committed a batch and died before deleting it from the inbox, and before processing
    it: the next drain finds those rows by their receipts (no second row) and processes them."""
    for recording_id in (1, 2, 3):
        post(client, recording_id)
    post(client, 1, headers=None)  # another message for the same meeting: a separate delivery
    with app.app_context():
        entries = [entry for _, entry in inbox.read(10)]
        died = intake.record(entries[:2])  # committed; then the process was killed
        assert [r.status for r in died] == ["pending", "pending"] and intake.waiting_in_inbox() == 4
        result = drain_webhook_inbox()
        assert result == {"recorded": 4, "success": 4}
        assert WebhookDelivery.query.count() == 4 and intake.waiting_in_inbox() == 0
        assert sorted(r.receipt for r in WebhookDelivery.query) == sorted(e["receipt"] for e in entries)
        assert sweep_webhook_deliveries()["requeued"] == 0
    drain()
    assert [s for s, _ in deliveries(app)] == ["success"] * 4
    assert call_ids(app) == ["1", "2", "3"]


def test_one_delivery_that_fails_in_a_batch_fails_alone(app, client, member):
    bodies = [encode(meeting(recording_id=i)) for i in (1, 2)] + [encode(meeting(recording_id=3, email="who@x.org"))]
    bodies.append(b'{"recording_id": 4, "title": {"a": 1}, "transcript": "nope", "recorded_by": "me"}')
    bodies.append(encode(meeting(recording_id=5)))
    for body in bodies:
        assert client.post(URL, data=body, headers=signed(body)).status_code == 202
    with app.app_context():
        assert drain_webhook_inbox() == {"recorded": 5, "success": 3, "failed": 2}
    assert [s for s, _ in deliveries(app)] == ["success", "success", "failed", "failed", "success"]
    assert call_ids(app) == ["1", "2", "5"]
    with app.app_context():
        failed = WebhookDelivery.query.filter_by(status="failed").order_by(WebhookDelivery.id).all()
        assert "no user has host email who@x.org" in failed[0].error_message and failed[0].attempts == 1
        assert failed[1].error_message == "the meeting has no recorded_by.email, so its owner is unknown"


def test_a_personal_webhook_whose_user_is_deleted_before_the_drain_fails_alone(app, client, member, other_member,
                                                                              personal_key):
    body = encode(meeting(recording_id=9, email="member@example.com"))
    assert client.post(f"{URL}/{personal_key}", data=body, headers=signed(body, secret=PERSONAL_SECRET)).status_code == 202
    post(client, 10)
    with app.app_context():
        db.session.delete(db.session.get(User, other_member))
        db.session.commit()
        assert drain_webhook_inbox() == {"recorded": 2, "success": 1, "failed": 1}
        failed = WebhookDelivery.query.filter_by(status="failed").one()
        assert failed.user_id is None
        assert failed.error_message == "the user this personal webhook belonged to no longer exists"
    assert call_ids(app) == ["10"]


def test_a_drain_lingers_on_the_empty_inbox_for_the_rest_of_a_burst(app, client, member):
    app.config["WEBHOOK_DRAIN_LINGER_SECONDS"] = 2.0
    post(client, 1)
    later = threading.Timer(0.3, lambda: post(app.test_client(), 2))
    later.start()
    with app.app_context():
        assert drain_webhook_inbox() == {"recorded": 2, "success": 2}  # one job, both requests
    later.join()
    assert call_ids(app) == ["1", "2"]


@pytest.mark.skipif(not TEST_DATABASE_URL, reason="row locks are PostgreSQL's (TEST_DATABASE_URL); SQLite "
                                                  "locks the whole database, so there is no batch to skip")
def test_the_sweep_leaves_alone_what_a_drain_is_processing(app, member):
    """A drain processes a batch under row locks and queues no job per delivery: the sweep must not take
    those rows for stragglers (each job it queued would wait on its row's lock, its worker idle)."""
    client = app.test_client()
    post(client, 31)
    with app.app_context():
        [entry] = [entry for _, entry in inbox.read(10)]
        [recorded] = intake.record([entry])
        with db.engine.connect() as drain:  # another process's transaction, as process_many holds it
            drain.execute(db.select(WebhookDelivery.id).where(WebhookDelivery.id == recorded.delivery_id)
                          .with_for_update())
            assert sweep_webhook_deliveries()["requeued"] == 0
            drain.rollback()
        assert sweep_webhook_deliveries()["requeued"] == 1  # nobody holds it: a straggler after all


def test_an_entry_that_can_never_be_recorded_is_set_aside_not_retried_for_ever(app, member):
    """One bad entry in the inbox (written by another version, or damaged) must not hold up the ones
    behind it: it is moved to the set-aside stream with why, and the good ones become rows."""
    client = app.test_client()
    assert post(client, 41).status_code == 202
    with app.app_context():
        get_redis().xadd(inbox.STREAM, {"entry": '{"source": "fathom"}'})  # no receipt, no body
        get_redis().xadd(inbox.STREAM, {"entry": "not json {"})
    assert post(client, 42).status_code == 202
    with app.app_context():
        counts = drain_webhook_inbox()
        assert counts["recorded"] == 2 and counts["success"] == 2
        assert inbox.waiting() == 0
        aside = {fields[b"entry"]: fields[b"error"] for _, fields in get_redis().xrange(inbox.DEAD_LETTERS)}
        assert aside.keys() == {b'{"source": "fathom"}', b"not json {"}
        assert b"KeyError" in aside[b'{"source": "fathom"}'] and b"not a JSON object" in aside[b"not json {"]
    assert call_ids(app) == ["41", "42"]
