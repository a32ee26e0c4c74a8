"""The full-text index's DDL, for both dialects; `ensure_search_schema` applies it idempotently.

PostgreSQL: a `search_tsv` column GENERATED ALWAYS … STORED on `calls` (title weighted A, summary B,
recorder's name C) and on `transcript_segments`, each with a GIN index; the database keeps them current.
SQLite: FTS5 external-content tables over the same two tables, kept in sync by triggers.

Both use the `simple` configuration (PostgreSQL) / `unicode61` tokenizer (SQLite): lower-cased
words, no stemming and no stop words, so any language works. PostgreSQL's parser would keep
`bob@example.com`, `3.5` or a URL as one token where FTS5 and the query parser (fulltext.WORD)
see several words, so its text goes through `_words()` first: every run of characters that are
not letters or digits becomes a space, and both backends agree on what a word is.

Every object's name starts with `search_` so Alembic's autogenerate can ignore them
(`include_object`); the migration that adds the index runs a copy of this DDL as of its revision.

On SQLite a migration that rebuilds `calls` or `transcript_segments` (batch mode) drops the
triggers; `ensure_search_schema` (run by `flask search reindex`) recreates them and rebuilds the index.
"""
from sqlalchemy import text

# Longer texts are indexed up to this many characters: a tsvector has a 1 MB limit, and failing
# to index must never fail storing a call.
MAX_INDEXED_CHARS = 200_000



def _words(column: str, limit: int | None = MAX_INDEXED_CHARS) -> str:
    """SQL for `column`'s words separated by spaces (see the module docstring), for to_tsvector."""
    value = f"left(coalesce({column}, ''), {limit})" if limit else f"coalesce({column}, '')"
    return f"to_tsvector('simple'::regconfig, regexp_replace({value}, '[^[:alnum:]]+', ' ', 'g'))"


POSTGRESQL_DDL = (
    "ALTER TABLE calls ADD COLUMN IF NOT EXISTS search_tsv tsvector GENERATED ALWAYS AS ("
    f"setweight({_words('title')}, 'A') || setweight({_words('summary_markdown')}, 'B') || "
    f"setweight({_words('recorded_by_name', None)}, 'C')) STORED",
    "ALTER TABLE transcript_segments ADD COLUMN IF NOT EXISTS search_tsv tsvector GENERATED ALWAYS AS ("
    f"{_words('text')}) STORED",
    "CREATE INDEX IF NOT EXISTS search_calls_tsv_idx ON calls USING gin (search_tsv)",
    "CREATE INDEX IF NOT EXISTS search_segments_tsv_idx ON transcript_segments USING gin (search_tsv)",
)

SQLITE_TABLES = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS search_fts_calls USING fts5(title, summary_markdown, recorded_by_name, "
    "content='calls', content_rowid='id', tokenize='unicode61 remove_diacritics 0')",
    "CREATE VIRTUAL TABLE IF NOT EXISTS search_fts_segments USING fts5(text, "
    "content='transcript_segments', content_rowid='id', tokenize='unicode61 remove_diacritics 0')",
)

SQLITE_TRIGGERS = {
    "search_calls_ai": "CREATE TRIGGER IF NOT EXISTS search_calls_ai AFTER INSERT ON calls BEGIN "
                       "INSERT INTO search_fts_calls(rowid, title, summary_markdown, recorded_by_name) "
                       "VALUES (new.id, new.title, new.summary_markdown, new.recorded_by_name); END",
    "search_calls_ad": "CREATE TRIGGER IF NOT EXISTS search_calls_ad AFTER DELETE ON calls BEGIN "
                       "INSERT INTO search_fts_calls(search_fts_calls, rowid, title, summary_markdown, "
                       "recorded_by_name) VALUES ('delete', old.id, old.title, old.summary_markdown, "
                       "old.recorded_by_name); END",
    "search_calls_au": "CREATE TRIGGER IF NOT EXISTS search_calls_au AFTER UPDATE OF title, summary_markdown, "
                       "recorded_by_name ON calls BEGIN "
                       "INSERT INTO search_fts_calls(search_fts_calls, rowid, title, summary_markdown, "
                       "recorded_by_name) VALUES ('delete', old.id, old.title, old.summary_markdown, "
                       "old.recorded_by_name); "
                       "INSERT INTO search_fts_calls(rowid, title, summary_markdown, recorded_by_name) "
                       "VALUES (new.id, new.title, new.summary_markdown, new.recorded_by_name); END",
    "search_segments_ai": "CREATE TRIGGER IF NOT EXISTS search_segments_ai AFTER INSERT ON transcript_segments "
                          "BEGIN INSERT INTO search_fts_segments(rowid, text) VALUES (new.id, new.text); END",
    "search_segments_ad": "CREATE TRIGGER IF NOT EXISTS search_segments_ad AFTER DELETE ON transcript_segments "
                          "BEGIN INSERT INTO search_fts_segments(search_fts_segments, rowid, text) "
                          "VALUES ('delete', old.id, old.text); END",
    "search_segments_au": "CREATE TRIGGER IF NOT EXISTS search_segments_au AFTER UPDATE OF text "
                          "ON transcript_segments BEGIN "
                          "INSERT INTO search_fts_segments(search_fts_segments, rowid, text) "
                          "VALUES ('delete', old.id, old.text); "
                          "INSERT INTO search_fts_segments(rowid, text) VALUES (new.id, new.text); END",
}


def ensure_search_schema(connection, rebuild: bool = False) -> None:
    """Create whatever part of the full-text index is missing (and fill it). With `rebuild` the index is
    re-read even when nothing was missing (`flask search reindex`). Safe to run any number of times."""
    if connection.dialect.name == "postgresql":
        for statement in POSTGRESQL_DDL:
            connection.execute(text(statement))
        return
    existing = set(connection.execute(text(
        "SELECT name FROM sqlite_master WHERE type IN ('table', 'trigger') AND name LIKE 'search%'")).scalars())
    if {"search_fts_calls", "search_fts_segments", *SQLITE_TRIGGERS} <= existing:
        if not rebuild:
            return
    else:
        for statement in (*SQLITE_TABLES, *SQLITE_TRIGGERS.values()):
            connection.execute(text(statement))
    rebuild_fulltext_index(connection)


def rebuild_fulltext_index(connection) -> None:
    """Re-read every title, summary and line into the index (SQLite; PostgreSQL's columns are always current)."""
    if connection.dialect.name == "sqlite":
        for table in ("search_fts_calls", "search_fts_segments"):
            connection.execute(text(f"INSERT INTO {table}({table}) VALUES ('rebuild')"))


def include_object(obj, name, type_, reflected, compare_to) -> bool:
    """Alembic filter: the full-text objects live here, not in the models, so autogenerate leaves them be."""
    return not (reflected and compare_to is None and (name or "").startswith("search_"))


def connect_fulltext_tables(cursor) -> None:
    """SQLite, on each new connection: open the FTS5 tables now, outside any transaction.

    FTS5 reads its configuration the first time a connection touches a table. If that happens
    inside a write transaction (the trigger of a call's INSERT), the read pins a snapshot and a
    concurrent writer fails with "database is locked" instead of waiting its turn.
    """
    tables = [row[0] for row in cursor.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('search_fts_calls', 'search_fts_segments')")]
    for table in tables:
        cursor.execute(f"SELECT rowid FROM {table} LIMIT 0").fetchall()
