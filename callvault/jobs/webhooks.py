"""Webhook jobs: processing one stored delivery, and the sweeper that requeues stragglers."""
from ..webhooks import intake
from . import job


@job
def process_delivery(delivery_id: int) -> str | None:
    delivery = intake.process(delivery_id)
    return delivery.status if delivery else None


@job
def sweep_webhook_deliveries() -> dict:
    return intake.sweep()
