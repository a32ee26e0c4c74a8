"""Webhook jobs (queue `webhooks`): draining the Redis inbox, processing one stored delivery, and the sweeper
that requeues stragglers."""
from rq.job import JobStatus

from .. import signals
from ..queues import release_abandoned_jobs
from ..webhooks import inbox, intake
from .declaration import LIVE_STATES, job


@job(queue="webhooks", timeout=300)
def process_delivery(delivery_id: int) -> str | None:
    delivery = intake.process(delivery_id)
    return delivery.status if delivery else None


@job(queue="webhooks", timeout=600)
def drain_webhook_inbox() -> dict:
    """Record the judged requests waiting in the Redis inbox as rows, in batches, and process them."""
    return intake.drain_inbox()


@job(queue="webhooks")
def sweep_webhook_deliveries() -> dict:
    """Every minute: requeue claimed deliveries whose job never ran (Redis was down) or was lost with
    its worker, giving up on one lost WEBHOOK_MAX_ATTEMPTS times; fail deliveries never judged."""
    release_abandoned_jobs(queue_names=(process_delivery.queue,))  # a dead worker's job: failed now
    if intake.waiting_in_inbox() and inbox.request_drain():  # a drain's job was lost, or its worker died
        drain_webhook_inbox.enqueue()
    requeued = gave_up = 0
    for delivery_id in intake.claimed_pending():
        status = process_delivery.status(_job_id(delivery_id))
        if status in LIVE_STATES:
            continue
        if status == JobStatus.FAILED and not intake.lost_attempt(delivery_id):  # processing records its
            gave_up += 1                                                        # own failures: it was cut off
            continue
        process_delivery.enqueue(delivery_id, job_id=_job_id(delivery_id))
        requeued += 1
    return intake.sweep(requeued=requeued, gave_up=gave_up)


@job(queue="default")
def expire_webhook_deliveries() -> dict:
    """Every hour: delete the delivery log older than WEBHOOK_RETENTION_DAYS (and old webhook-id claims)."""
    return intake.expire()


def _queue_processing(_sender, delivery_id: int):
    """One job per delivery (a fixed id), so the web process and the sweeper never run it twice at once."""
    return process_delivery.enqueue_or_log(delivery_id, job_id=_job_id(delivery_id))


def _job_id(delivery_id: int) -> str:
    return f"webhook-delivery-{delivery_id}"


def _queue_drain(_sender):
    return drain_webhook_inbox.enqueue_or_log()


def connect() -> None:
    signals.delivery_accepted.connect(_queue_processing)
    signals.webhook_inbox_due.connect(_queue_drain)
