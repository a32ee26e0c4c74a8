"""Search jobs (queue `default`): enrich one call (its passages and their vectors, soon after it lands),
re-queue enrichments that are due, and re-embed calls whose vectors come from another model."""
from flask import current_app

from .. import signals
from ..search import enrichment, providers, status
from .declaration import job


@job(queue="default", timeout=900)
def enrich_call(call_id: int):
    with providers.from_config(current_app.config) as provider:
        return enrichment.enrich_call(call_id, provider)


@job(queue="default")
def retry_due_enrichments():
    """Every 5 minutes: enrichments that are pending or failed and due (Redis was down, or a provider failed)."""
    return enrich_call.enqueue_each(enrichment.lease_due())


@job(queue="default")
def reembed_stale_calls():
    """Every minute: a batch of calls embedded with another model than the current one, queued for enrichment."""
    with providers.from_config(current_app.config) as provider:
        return len(status.mark_stale_embeddings(provider.embedding_model))


def _queue_enrichment(_sender, call_ids):
    return enrich_call.enqueue_each(call_ids)


def connect() -> None:
    signals.enrichment_due.connect(_queue_enrichment)
