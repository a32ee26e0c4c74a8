"""Issue 13 item 4: unsigned requests cannot fill the database; the delivery log expires."""
import json
from datetime import timedelta

import pytest

from callvault.extensions import db
from callvault.jobs.periodic import PERIODIC_JOBS
from callvault.jobs.webhooks import expire_webhook_deliveries
from callvault.models import ProcessedWebhook, WebhookDelivery, utcnow
from callvault.webhooks import intake
from tests.support.webhooks import SECRET, URL, encode, meeting, signed, use_intake

NINE_MB = 9 * 1024 * 1024


@pytest.fixture
def app(app, intake_way):
    app.config["FATHOM_OAUTH_WEBHOOK_SECRET"] = SECRET
    return use_intake(app, intake_way)


def stored_size(row: WebhookDelivery) -> int:
    return len(row.body or "") + len(json.dumps(row.headers))


def test_five_unsigned_nine_megabyte_posts_store_a_few_kilobytes_each(app, client):
    assert app.config["MAX_CONTENT_LENGTH"] > NINE_MB  # they are within the size limit, so judged
    body = b'{"recording_id": 1, "padding": "' + b"x" * NINE_MB + b'"}'
    noisy_headers = {"Content-Type": "application/json", **{f"X-Filler-{i}": "y" * 1900 for i in range(60)}}
    for _ in range(5):
        assert client.post(URL, data=body, headers=noisy_headers).status_code == 401
    with app.app_context():
        rows = WebhookDelivery.query.all()
        assert len(rows) == 5
        for row in rows:
            assert row.status == "rejected" and row.body_size == len(body) and row.body_truncated
            assert len(row.body) == intake.PREVIEW_CAP and row.body.startswith('{"recording_id": 1')
            assert stored_size(row) <= intake.PREVIEW_CAP + intake.HEADERS_CAP + 200, stored_size(row)
            assert row.headers[intake.TRUNCATED_HEADERS] == "further headers were not stored"


def test_a_verified_delivery_keeps_its_whole_body_and_a_duplicate_its_preview(app, client, member, drain):
    long_meeting = meeting(transcript=[{"speaker": {"display_name": "Max Member"}, "text": f"Sentence {i}. " * 20,
                                        "timestamp": "00:00:10"} for i in range(200)])
    body = encode(long_meeting)
    assert len(body) > 10 * intake.PREVIEW_CAP
    headers = signed(body)
    assert client.post(URL, data=body, headers=headers).status_code == 202
    assert client.post(URL, data=body, headers=headers).status_code == 200  # the sender's retry
    drain()
    with app.app_context():
        original, duplicate = WebhookDelivery.query.order_by(WebhookDelivery.id).all()
        assert original.status == "success" and original.body == body.decode() and not original.body_truncated
        assert duplicate.status == "duplicate" and len(duplicate.body) == intake.PREVIEW_CAP
        with pytest.raises(intake.ReplayRefused, match="only its first 4096 bytes were kept"):
            intake.replay(duplicate.id)


def test_the_retention_job_deletes_old_rows_and_keeps_recent_claims(app, client, member, drain):
    app.config["WEBHOOK_RETENTION_DAYS"] = 2
    assert expire_webhook_deliveries in [periodic.job for periodic in PERIODIC_JOBS]
    bodies = [encode(meeting(recording_id=i)) for i in (1, 2, 3)]
    headers = [signed(body) for body in bodies]
    for body, header in zip(bodies, headers):
        client.post(URL, data=body, headers=header)
    client.post(URL, data=b"unsigned", headers={"Content-Type": "application/json"})
    drain()
    now = utcnow()
    with app.app_context():
        ids = [d.id for d in WebhookDelivery.query.order_by(WebhookDelivery.id)]
        ages = {ids[0]: timedelta(days=3), ids[1]: timedelta(days=9), ids[3]: timedelta(days=3)}
        for delivery_id, age in ages.items():
            db.session.get(WebhookDelivery, delivery_id).received_at = now - age
            claim = ProcessedWebhook.query.filter_by(delivery_id=delivery_id).first()
            if claim:
                claim.claimed_at = now - age
        db.session.commit()

    with app.app_context():
        assert expire_webhook_deliveries() == {"deliveries": 3, "claims": 1}

    with app.app_context():
        assert [d.id for d in WebhookDelivery.query] == [ids[2]]
        # The 3-day-old claim outlives its delivery: a late retry of that message is still a duplicate.
        claims = {c.webhook_id: c.delivery_id for c in ProcessedWebhook.query}
        assert claims == {headers[0]["webhook-id"]: None, headers[2]["webhook-id"]: ids[2]}
    late_retry = client.post(URL, data=bodies[0], headers=signed(bodies[0], msg_id=headers[0]["webhook-id"]))
    assert late_retry.status_code == 200 and late_retry.json["status"] == "duplicate"
