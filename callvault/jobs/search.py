"""Search jobs (queue `default`): enrich one call, and re-queue enrichments that are due."""
from flask import current_app

from .. import signals
from ..search import enrichment, providers
from .declaration import job


@job(queue="default", timeout=900)
def enrich_call(call_id: int):
    with providers.from_config(current_app.config) as provider:
        return enrichment.enrich_call(call_id, provider)


@job(queue="default")
def retry_due_enrichments():
    """Every 5 minutes: enrichments that are pending or failed and due (Redis was down, or a provider failed)."""
    return enrich_call.enqueue_each(enrichment.lease_due())


def _queue_enrichment(_sender, call_ids):
    return enrich_call.enqueue_each(call_ids)


def connect() -> None:
    signals.enrichment_due.connect(_queue_enrichment)
