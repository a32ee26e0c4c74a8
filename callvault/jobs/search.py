"""Search jobs (queue `default`): enrich one call, and re-queue enrichments that are due."""
from flask import current_app

from ..search import enrichment, providers
from . import job


@job
def enrich_call(call_id: int):
    with providers.from_config(current_app.config) as provider:
        return enrichment.enrich_call(call_id, provider)


@job
def retry_due_enrichments():
    return enrichment.queue_due()
