"""`flask search …`: rebuild the full-text index and catch up enrichment."""
import sys

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import select

from ..extensions import db
from ..models import Call, CallEnrichment
from . import enrichment, providers
from .schema import ensure_search_schema
from .status import embedding_progress

search = AppGroup("search", help="Full-text search and AI enrichment.")


@search.command("reindex")
@click.option("--embeddings", is_flag=True,
              help="Also compute missing embeddings now (the offline model's, or AI_EMBEDDING_MODEL's).")
def search_reindex(embeddings):
    """Rebuild the full-text index, then enrich every call whose passages or title are missing or stale.

    Without --embeddings, passages still lacking a vector are left to the workers.
    """
    config = current_app.config
    with db.engine.begin() as connection:
        ensure_search_schema(connection, rebuild=True)

    failed = []
    with providers.from_config(config) as provider:
        model = provider.embedding_model if embeddings else None
        states = {row.call_id: row for row in db.session.execute(
            select(CallEnrichment.call_id, CallEnrichment.fingerprint, CallEnrichment.status,
                   CallEnrichment.embedding_model))}
        calls = db.session.execute(select(Call.id, Call.content_hash).order_by(Call.id)).all()
        todo = [call_id for call_id, content_hash in calls
                if enrichment.needs_enrichment(states.get(call_id), content_hash, model)]
        db.session.rollback()
        with click.progressbar(todo, label="Enriching calls", file=sys.stderr) as bar:
            for call_id in bar:
                if enrichment.enrich_call(call_id, provider, embed=embeddings) == "failed":
                    failed.append(call_id)
    click.echo(f"Full-text index rebuilt. Enriched {len(todo) - len(failed)} of {len(calls)} "
               f"call{'s' if len(calls) != 1 else ''}; {len(calls) - len(todo)} were up to date.")
    if failed:
        first = db.session.get(CallEnrichment, failed[0])
        raise click.ClickException(f"{len(failed)} call{'s' if len(failed) != 1 else ''} could not be enriched "
                                   f"(call {failed[0]}: {first.last_error}); the workers will retry them")


@search.command("status")
def search_status():
    """How many calls have passages embedded with the current model (the rest are being embedded)."""
    with providers.from_config(current_app.config) as provider:
        progress = embedding_progress(provider.embedding_model)
    click.echo(f"Embedding model: {progress.model}. {progress.embedded} of {progress.total} "
               f"call{'s' if progress.total != 1 else ''} embedded ({progress.percent}%).")
