"""Search: full-text over titles, summaries and transcripts, and AI enrichment for semantic search.

Plain modules, no Flask requests: fulltext (query syntax and SQL for both backends), schema (the
index's DDL), highlight, chunking, embedders (the offline model), providers (the AI HTTP client and
the offline default), enrichment (the job's work), vectors (the in-memory semantic index), semantic
(rank fusion), status (embedding progress, re-embedding after a model change), results (the hits
the library, the API and MCP show).
"""


def init_app(app) -> None:
    """A stored call becomes due for enrichment (passages, vectors, a title), in its own transaction."""
    from .. import signals
    from . import enrichment

    signals.call_stored.connect(enrichment.record_enrichment_intent)
