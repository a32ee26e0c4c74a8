"""The output hub (a real second PostgreSQL database) and signed outgoing webhooks, with outages."""
from datetime import timedelta

import pytest
import redis
from sqlalchemy import update

from callvault.jobs.exports import retry_due_exports
from callvault.calls.store import upsert_call
from callvault.extensions import db
from callvault.models import Call, CallExport, OutgoingWebhook, User, utcnow
from tests.support.calls import sample_call
from tests.support.exports import (HUB_SERVER_URL, WEBHOOK_SECRET, HubProxy, Receiver, closed_port, closed_port_url,
                                   create_hub_database, hub_rows, reset_hub)
from tests.support.web import csrf_from, login


@pytest.fixture(scope="session")
def hub_database():
    url, drop = create_hub_database()
    yield url
    drop()


@pytest.fixture
def hub_url(hub_database):
    reset_hub(hub_database)
    return hub_database


@pytest.fixture
def receiver():
    with Receiver() as server:
        yield server


def configure(app, **settings):
    app.config.update({"EXPORT_WEBHOOK_BACKOFF_SECONDS": 0.01, "EXPORT_WEBHOOK_SECRET": WEBHOOK_SECRET,
                       **settings})


def exports_of(app, call_id):
    with app.app_context():
        return {e.target: (e.status, e.attempts, e.last_error)
                for e in db.session.scalars(db.select(CallExport).where(CallExport.call_id == call_id))}


def make_everything_due(app):
    """The periodic retry's time has come."""
    with app.app_context():
        db.session.execute(update(CallExport).values(next_attempt_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()


def run_periodic_retry(app, drain):
    with app.app_context():
        retry_due_exports.enqueue()
    drain()


# --- the outbox -----------------------------------------------------------------------------------

def test_nothing_is_recorded_when_no_target_is_configured(app, member, make_call):
    call_id = make_call(member)
    assert exports_of(app, call_id) == {}


def test_the_intent_is_written_with_the_call_and_survives_redis_being_down(app, member, drain, hub_url):
    configure(app, EXPORT_DATABASE_URL=hub_url)
    working_redis = app.extensions["redis"]
    app.extensions["redis"] = redis.Redis(host="127.0.0.1", port=closed_port(), socket_connect_timeout=1)
    try:
        with app.app_context():
            call_id = upsert_call(db.session.get(User, member), sample_call()).call.id
    finally:
        app.extensions["redis"] = working_redis  # Redis is back
    assert exports_of(app, call_id) == {"database": ("pending", 0, None)}
    drain()  # nothing was queued
    assert hub_rows(hub_url, "SELECT to_regclass('meetings')") == [(None,)]

    # the periodic retry finds the pending row once it is due
    run_periodic_retry(app, drain)
    assert exports_of(app, call_id)["database"][0] == "pending"  # not due yet: the immediate job had its chance
    make_everything_due(app)
    run_periodic_retry(app, drain)
    assert exports_of(app, call_id) == {"database": ("done", 0, None)}
    assert hub_rows(hub_url, "SELECT id, title FROM meetings") == [(call_id, "Quarterly planning")]


def test_a_rolled_back_write_leaves_no_intent_and_queues_nothing(app, member, drain, hub_url):
    configure(app, EXPORT_DATABASE_URL=hub_url)
    with app.app_context():
        upsert_call(db.session.get(User, member), sample_call(), commit=False)
        db.session.rollback()
        assert db.session.query(CallExport).count() == 0
        from callvault.queues import get_queue
        assert get_queue("exports").count == 0


# --- the hub database ---------------------------------------------------------------------------

def test_calls_are_upserted_into_the_hub_idempotently(app, member, make_call, drain, hub_url):
    configure(app, EXPORT_DATABASE_URL=hub_url)
    call_id = make_call(member, segments=4)
    drain()
    assert exports_of(app, call_id) == {"database": ("done", 0, None)}
    meeting = hub_rows(hub_url, "SELECT id, source, external_id, title, owner_email, participants, content_hash "
                                "FROM meetings")
    assert len(meeting) == 1
    _, source, external_id, title, owner_email, participants, content_hash = meeting[0]
    assert (source, external_id, title, owner_email) == ("fathom", "1001", "Quarterly planning",
                                                        "member@example.com")
    assert [p["email"] for p in participants] == ["member@example.com", "guest@outside.example"]
    transcript = hub_rows(hub_url, "SELECT segment_count, segments, full_text FROM meeting_transcripts")[0]
    assert transcript[0] == 4 and transcript[1][3]["text"] == "Line number 3"
    assert "Guest Person: Line number 1" in transcript[2]

    make_call(member, segments=4)  # unchanged: nothing to do
    make_call(member, title="Renamed", segments=2)
    drain()
    assert hub_rows(hub_url, "SELECT id, title FROM meetings") == [(call_id, "Renamed")]
    assert hub_rows(hub_url, "SELECT segment_count FROM meeting_transcripts") == [(2,)]
    with app.app_context():
        assert db.session.get(Call, call_id).content_hash != content_hash


def test_hub_down_then_up_loses_nothing(app, client, auth, admin, member, make_call, drain, hub_url):
    """The hub (a real PostgreSQL database, reached through a relay) goes away at its usual address
    while calls arrive, and comes back."""
    with HubProxy(HUB_SERVER_URL) as proxy:
        configure(app, EXPORT_DATABASE_URL=proxy.url_for(hub_url))
        before = make_call(member, external_id="0", title="Before the outage")
        drain()
        assert exports_of(app, before)["database"] == ("done", 0, None)  # the pool holds a live connection

        proxy.down()
        first = make_call(member, external_id="1", title="While down")
        drain()
        status, attempts, error = exports_of(app, first)["database"]
        assert (status, attempts) == ("failed", 1) and "output hub" in error and "OperationalError" in error
        second = make_call(member, external_id="2", title="Also while down")
        make_call(member, external_id="1", title="While down, edited")
        drain()
        assert exports_of(app, second)["database"][0] == "failed"

        auth.login("member@example.com")
        page = client.get(f"/calls/{first}").get_data(as_text=True)
        assert "failed" in page and "Export again" in page
        admin_client = app.test_client()
        login(admin_client, "admin@example.com")
        failures = admin_client.get("/dashboard/api/failures/?days=1").get_json()
        assert failures["counts"]["export_failed"] == 2
        assert {item["title"] for item in failures["items"] if item["kind"] == "export_failed"} == {
            "While down, edited → database", "Also while down → database"}

        proxy.up()  # the hub is back, at the same address
        run_periodic_retry(app, drain)
        assert exports_of(app, first)["database"][0] == "failed"  # backing off: not due yet
        make_everything_due(app)
        run_periodic_retry(app, drain)
        assert exports_of(app, first)["database"] == ("done", 0, None)
        assert exports_of(app, second)["database"] == ("done", 0, None)
    assert sorted(hub_rows(hub_url, "SELECT id, title FROM meetings")) == [
        (before, "Before the outage"), (first, "While down, edited"), (second, "Also while down")]


def test_retry_backs_off(app, member, make_call, drain):
    configure(app, EXPORT_DATABASE_URL=closed_port_url(), EXPORT_RETRY_BASE_SECONDS=60)
    call_id = make_call(member)
    for expected_attempts in (1, 2, 3):
        make_everything_due(app)
        run_periodic_retry(app, drain) if expected_attempts > 1 else drain()
        with app.app_context():
            export = db.session.scalars(db.select(CallExport).where(CallExport.call_id == call_id)).one()
            assert export.attempts == expected_attempts
            delay = (export.next_attempt_at - export.last_attempt_at).total_seconds()
            assert delay == pytest.approx(60 * 2 ** (expected_attempts - 1), abs=1)


def test_cli_backfills_since_a_date_and_reports_failures(app, runner, member, make_call, hub_url):
    call_id = make_call(member)  # stored before exports were configured
    result = runner.invoke(args=["exports", "run"])
    assert result.exit_code == 1 and "EXPORT_DATABASE_URL" in result.output

    configure(app, EXPORT_DATABASE_URL=hub_url)
    result = runner.invoke(args=["exports", "run", "--since", "2026-11-01"])
    assert result.exit_code == 0, result.output
    assert "Delivered 1 of 1 export" in result.output
    assert hub_rows(hub_url, "SELECT id FROM meetings") == [(call_id,)]

    result = runner.invoke(args=["exports", "run", "--since", "last week"])
    assert result.exit_code == 1 and "--since must be an ISO 8601 date" in result.output
    result = runner.invoke(args=["exports", "run", "--target", "webhook"])
    assert result.exit_code == 1 and "EXPORT_WEBHOOK_URL" in result.output

    app.config["EXPORT_DATABASE_URL"] = closed_port_url()
    result = runner.invoke(args=["exports", "run", "--since", "2026-01-01"])
    assert result.exit_code == 1
    assert f"Error: call {call_id} → database: output hub: OperationalError" in result.output


def test_export_again_button(app, client, auth, member, other_member, make_call, drain, hub_url):
    configure(app, EXPORT_DATABASE_URL=hub_url)
    call_id = make_call(member)
    drain()
    hub_rows(hub_url, "DELETE FROM meetings")
    auth.login("member@example.com")
    page = client.get(f"/calls/{call_id}").get_data(as_text=True)
    response = client.post(f"/exports/calls/{call_id}/run", data={"csrf_token": csrf_from(page)})
    assert response.status_code == 302
    drain()
    assert hub_rows(hub_url, "SELECT id FROM meetings") == [(call_id,)]

    theirs = make_call(other_member, external_id="theirs")
    assert client.post(f"/exports/calls/{theirs}/run", data={"csrf_token": csrf_from(page)}).status_code == 404


# --- outgoing webhooks ------------------------------------------------------------------------------

def test_webhooks_are_signed_and_say_created_then_updated(app, member, make_call, drain, receiver):
    configure(app, EXPORT_WEBHOOK_URL=receiver.url + "?key=do-not-log-me")
    call_id = make_call(member, segments=3)
    drain()
    make_call(member, title="Renamed", segments=3)
    drain()
    assert receiver.rejected == []
    assert [m["type"] for m in receiver.messages] == ["call.created", "call.updated"]
    created = receiver.messages[0]["data"]
    assert created["id"] == call_id and created["title"] == "Quarterly planning"
    assert [s["text"] for s in created["segments"]] == ["Line number 0", "Line number 1", "Line number 2"]
    assert receiver.messages[1]["data"]["title"] == "Renamed"
    assert receiver.messages[0]["id"] != receiver.messages[1]["id"]
    with app.app_context():
        log = db.session.scalars(db.select(OutgoingWebhook).order_by(OutgoingWebhook.id)).all()
        assert [(d.event_type, d.status, d.attempts, d.response_code) for d in log] == [
            ("call.created", "success", 1, 200), ("call.updated", "success", 1, 200)]
        assert all(d.endpoint == receiver.url for d in log)  # no query string: it may hold a secret


def test_a_500_is_retried_with_the_same_message_id(app, member, make_call, drain, receiver):
    configure(app, EXPORT_WEBHOOK_URL=receiver.url, EXPORT_WEBHOOK_ATTEMPTS=3)
    receiver.statuses = [500]
    call_id = make_call(member)
    drain()
    assert [(m["type"], m["status"]) for m in receiver.messages] == [("call.created", 500), ("call.created", 200)]
    assert receiver.messages[0]["id"] == receiver.messages[1]["id"]
    assert exports_of(app, call_id) == {"webhook": ("done", 0, None)}
    with app.app_context():
        delivery = db.session.scalars(db.select(OutgoingWebhook)).one()
        assert (delivery.status, delivery.attempts, delivery.response_code) == ("success", 2, 200)


def test_a_receiver_outage_is_retried_later_and_still_says_created(app, member, make_call, drain, receiver):
    configure(app, EXPORT_WEBHOOK_URL=receiver.url, EXPORT_WEBHOOK_ATTEMPTS=2)
    receiver.statuses = [503, 503]
    call_id = make_call(member)
    drain()
    status, attempts, error = exports_of(app, call_id)["webhook"]
    assert (status, attempts, error) == ("failed", 1, "webhook: the receiver answered HTTP 503")
    with app.app_context():
        delivery = db.session.scalars(db.select(OutgoingWebhook)).one()
        assert (delivery.status, delivery.attempts, delivery.response_code) == ("failed", 2, 503)

    make_everything_due(app)
    run_periodic_retry(app, drain)
    assert exports_of(app, call_id) == {"webhook": ("done", 0, None)}
    assert [(m["type"], m["status"]) for m in receiver.messages] == [
        ("call.created", 503), ("call.created", 503), ("call.created", 200)]
    assert len({m["id"] for m in receiver.messages}) == 1
    with app.app_context():
        assert db.session.scalars(db.select(OutgoingWebhook)).one().status == "success"


def test_both_targets_and_an_unreachable_receiver(app, member, make_call, drain, hub_url):
    configure(app, EXPORT_DATABASE_URL=hub_url, EXPORT_WEBHOOK_URL="http://127.0.0.1:1/hook",
              EXPORT_WEBHOOK_ATTEMPTS=1)
    call_id = make_call(member)
    drain()
    exports = exports_of(app, call_id)
    assert exports["database"] == ("done", 0, None)
    assert exports["webhook"][0] == "failed" and "could not reach http://127.0.0.1:1/hook" in exports["webhook"][2]


def test_a_missing_secret_is_named(app, member, make_call, drain, receiver):
    configure(app, EXPORT_WEBHOOK_URL=receiver.url, EXPORT_WEBHOOK_SECRET=None)
    call_id = make_call(member)
    drain()
    assert "EXPORT_WEBHOOK_SECRET is not set" in exports_of(app, call_id)["webhook"][2]
    assert receiver.messages == []


def test_a_call_changed_during_its_delivery_is_delivered_again(app, member, make_call, receiver):
    from callvault.exports import runner
    configure(app, EXPORT_WEBHOOK_URL=receiver.url)

    def newer_version_arrives(message):  # a Fathom webhook stores a new version mid-delivery
        if len(receiver.messages) == 1:
            with app.app_context():
                upsert_call(db.session.get(User, member), sample_call(title="Newer"))
    receiver.on_message = newer_version_arrives
    call_id = make_call(member)
    with app.app_context():
        export_id = db.session.scalars(db.select(CallExport.id)).one()
        assert runner.run_export(export_id) == "done"  # run here, not by the queued job
        export = db.session.get(CallExport, export_id)
        assert export.exported_fingerprint == db.session.get(Call, call_id).content_hash
    assert [(m["type"], m["data"]["title"]) for m in receiver.messages] == [
        ("call.created", "Quarterly planning"), ("call.updated", "Newer")]
