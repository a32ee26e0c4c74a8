"""Issue 13 item 10: a delivery whose job is lost with its worker is queued again, at most
WEBHOOK_MAX_ATTEMPTS times, then given up as failed and listed on the dashboard."""
import pytest
from rq.job import Job, JobStatus

from callvault.dashboard import figures
from callvault.extensions import db
from callvault.jobs.webhooks import sweep_webhook_deliveries
from callvault.models import GAVE_UP, Call, WebhookDelivery
from callvault.queues import get_redis
from callvault.webhooks import intake
from tests.support.webhooks import SECRET, URL, encode, meeting, signed, use_intake
from tests.support.workers import heartbeat_key_expires, worker_takes

JOB_ID = "webhook-delivery-{}"


@pytest.fixture
def app(app):
    """The database intake: what is lost here is a delivery's own processing job, which only it queues
    (and the sweep, for either intake; the inbox's own crash tests are in test_webhook_inbox.py)."""
    app.config["FATHOM_OAUTH_WEBHOOK_SECRET"] = SECRET
    return use_intake(app, "database")


def lose_the_job(delivery_id: int) -> None:
    """A worker takes the delivery's job and is killed mid-job (its heartbeat key then expires)."""
    heartbeat_key_expires(worker_takes(JOB_ID.format(delivery_id))[1])


def test_a_lost_delivery_is_retried_then_given_up_and_listed(app, client, member, drain):
    body = encode(meeting())
    assert client.post(URL, data=body, headers=signed(body)).status_code == 202
    with app.app_context():
        delivery_id = WebhookDelivery.query.one().id
        assert app.config["WEBHOOK_MAX_ATTEMPTS"] == 3
        for attempt in (1, 2):
            lose_the_job(delivery_id)
            assert sweep_webhook_deliveries() == {"requeued": 1, "abandoned": 0, "gave_up": 0}
            delivery = db.session.get(WebhookDelivery, delivery_id, populate_existing=True)
            assert (delivery.status, delivery.attempts) == ("pending", attempt)
            assert Job.fetch(JOB_ID.format(delivery_id), connection=get_redis()).get_status() == JobStatus.QUEUED

        lose_the_job(delivery_id)
        assert sweep_webhook_deliveries() == {"requeued": 0, "abandoned": 0, "gave_up": 1}
        delivery = db.session.get(WebhookDelivery, delivery_id, populate_existing=True)
        assert delivery.status == "failed" and delivery.attempts == 3
        assert delivery.error_message == (f"{GAVE_UP}its processing was cut off 3 times (the worker was killed, or "
                                          "ran out of memory); replay it once the cause is fixed")
        assert sweep_webhook_deliveries()["requeued"] == 0  # not re-queued every minute forever

        listed = figures.failures(7)
        assert listed["counts"]["gave_up"] == 1 and listed["counts"]["webhook_failed"] == 0
        [item] = listed["items"]
        assert item["kind"] == "gave_up" and item["action"]["command"] == f"flask webhooks replay {delivery_id}"

        assert intake.replay(delivery_id).status == "success"  # once the cause is fixed
        assert db.session.query(Call).count() == 1


def test_a_delivery_queued_while_redis_was_down_is_not_counted_as_lost(app, client, member, drain):
    body = encode(meeting())
    client.post(URL, data=body, headers=signed(body))
    with app.app_context():
        delivery_id = WebhookDelivery.query.one().id
        Job.fetch(JOB_ID.format(delivery_id), connection=get_redis()).delete()  # never reached Redis
        assert sweep_webhook_deliveries()["requeued"] == 1
        assert db.session.get(WebhookDelivery, delivery_id).attempts == 0
    drain()
    with app.app_context():
        assert db.session.get(WebhookDelivery, delivery_id, populate_existing=True).status == "success"
