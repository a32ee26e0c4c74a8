"""Webhook jobs (queue `webhooks`): processing one stored delivery, and the sweeper that requeues stragglers."""
from .. import signals
from ..webhooks import intake
from .declaration import job


@job(queue="webhooks", timeout=300)
def process_delivery(delivery_id: int) -> str | None:
    delivery = intake.process(delivery_id)
    return delivery.status if delivery else None


@job(queue="webhooks")
def sweep_webhook_deliveries() -> dict:
    """Every minute: requeue claimed deliveries whose job never ran or died; fail abandoned ones."""
    stragglers = [i for i in intake.claimed_pending() if not process_delivery.is_live(_job_id(i))]
    for delivery_id in stragglers:
        process_delivery.enqueue(delivery_id, job_id=_job_id(delivery_id))
    return intake.sweep(requeued=len(stragglers))


@job(queue="default")
def expire_webhook_deliveries() -> dict:
    """Every hour: delete the delivery log older than WEBHOOK_RETENTION_DAYS (and old webhook-id claims)."""
    return intake.expire()


def _queue_processing(_sender, delivery_id: int):
    """One job per delivery (a fixed id), so the web process and the sweeper never run it twice at once."""
    return process_delivery.enqueue_or_log(delivery_id, job_id=_job_id(delivery_id))


def _job_id(delivery_id: int) -> str:
    return f"webhook-delivery-{delivery_id}"


def connect() -> None:
    signals.delivery_accepted.connect(_queue_processing)
