"""The output hub: a PostgreSQL database (Supabase is one) that receives every stored meeting.

Its own engine, separate from the vault's. The tables are created if absent and documented in
docs/output-hub.md; writes are upserts keyed on the vault's call id, so exporting twice is harmless.
"""
import json
import os
import threading

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from ..config import normalize_database_url
from . import ExportError

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS meetings (
        id                bigint PRIMARY KEY,
        source            text NOT NULL,
        external_id       text NOT NULL,
        title             text NOT NULL,
        started_at        timestamptz NOT NULL,
        ended_at          timestamptz,
        duration_seconds  integer,
        owner_email       text,
        recorded_by_name  text,
        recorded_by_email text,
        participants      jsonb NOT NULL DEFAULT '[]'::jsonb,
        summary_markdown  text,
        action_items      jsonb NOT NULL DEFAULT '[]'::jsonb,
        recording_url     text,
        share_url         text,
        language          text,
        content_hash      text NOT NULL,
        created_at        timestamptz,
        updated_at        timestamptz,
        exported_at       timestamptz NOT NULL DEFAULT now()
    )""",
    "CREATE INDEX IF NOT EXISTS meetings_started_at_idx ON meetings (started_at DESC)",
    "CREATE INDEX IF NOT EXISTS meetings_source_external_id_idx ON meetings (source, external_id)",
    """CREATE TABLE IF NOT EXISTS meeting_transcripts (
        meeting_id    bigint PRIMARY KEY REFERENCES meetings (id) ON DELETE CASCADE,
        segments      jsonb NOT NULL DEFAULT '[]'::jsonb,
        full_text     text NOT NULL DEFAULT '',
        segment_count integer NOT NULL DEFAULT 0,
        updated_at    timestamptz NOT NULL DEFAULT now()
    )""",
)

_UPSERT_MEETING = text("""
    INSERT INTO meetings (id, source, external_id, title, started_at, ended_at, duration_seconds, owner_email,
                          recorded_by_name, recorded_by_email, participants, summary_markdown, action_items,
                          recording_url, share_url, language, content_hash, created_at, updated_at, exported_at)
    VALUES (:id, :source, :external_id, :title, :started_at, :ended_at, :duration_seconds, :owner_email,
            :recorded_by_name, :recorded_by_email, CAST(:participants AS jsonb), :summary_markdown,
            CAST(:action_items AS jsonb), :recording_url, :share_url, :language, :content_hash, :created_at,
            :updated_at, now())
    ON CONFLICT (id) DO UPDATE SET
        source = EXCLUDED.source, external_id = EXCLUDED.external_id, title = EXCLUDED.title,
        started_at = EXCLUDED.started_at, ended_at = EXCLUDED.ended_at,
        duration_seconds = EXCLUDED.duration_seconds, owner_email = EXCLUDED.owner_email,
        recorded_by_name = EXCLUDED.recorded_by_name, recorded_by_email = EXCLUDED.recorded_by_email,
        participants = EXCLUDED.participants, summary_markdown = EXCLUDED.summary_markdown,
        action_items = EXCLUDED.action_items, recording_url = EXCLUDED.recording_url,
        share_url = EXCLUDED.share_url, language = EXCLUDED.language, content_hash = EXCLUDED.content_hash,
        created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at, exported_at = now()
""")

_UPSERT_TRANSCRIPT = text("""
    INSERT INTO meeting_transcripts (meeting_id, segments, full_text, segment_count, updated_at)
    VALUES (:id, CAST(:segments AS jsonb), :full_text, :segment_count, now())
    ON CONFLICT (meeting_id) DO UPDATE SET
        segments = EXCLUDED.segments, full_text = EXCLUDED.full_text,
        segment_count = EXCLUDED.segment_count, updated_at = now()
""")

_SCHEMA_LOCK_KEY = 0x43564855  # "CVHU": serialises CREATE TABLE IF NOT EXISTS across workers
_engines: dict[tuple[int, str], Engine] = {}
_schema_ready: set[tuple[int, str]] = set()
_lock = threading.Lock()


def _engine(url: str) -> tuple[tuple[int, str], Engine]:
    """One engine per URL per process (a forked work horse must not reuse its parent's sockets)."""
    if not url:
        raise ExportError("EXPORT_DATABASE_URL is not set: there is no output hub to export to")
    url = normalize_database_url(url)
    if not url.startswith("postgresql"):
        raise ExportError("EXPORT_DATABASE_URL must be a PostgreSQL URL (postgresql://…)")
    key = (os.getpid(), url)
    with _lock:
        if key not in _engines:
            _engines[key] = create_engine(url, pool_pre_ping=True, pool_size=2, max_overflow=2,
                                          connect_args={"connect_timeout": 5})
        return key, _engines[key]


def _describe(exc: SQLAlchemyError) -> str:
    """The driver's own words (which never include the password), on one line."""
    detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return f"{type(getattr(exc, 'orig', None) or exc).__name__}: {detail[0] if detail else ''}"[:500]


def ensure_schema(url: str) -> None:
    key, engine = _engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK_KEY})
            for statement in SCHEMA:
                connection.execute(text(statement))
    except SQLAlchemyError as exc:
        raise ExportError(f"output hub: {_describe(exc)}") from None
    _schema_ready.add(key)


def upsert_meeting(url: str, meeting: dict, owner_email: str | None, content_hash: str) -> None:
    """Write one meeting and its transcript in one transaction. `meeting` is call_to_json with segments."""
    key, engine = _engine(url)
    if key not in _schema_ready:
        ensure_schema(url)
    segments = meeting.get("segments") or []
    row = {
        **{name: meeting[name] for name in ("id", "source", "external_id", "title", "started_at", "ended_at",
                                            "duration_seconds", "summary_markdown", "recording_url",
                                            "share_url", "created_at", "updated_at")},
        "language": meeting.get("language"),
        "owner_email": owner_email,
        "recorded_by_name": meeting["recorded_by"]["name"],
        "recorded_by_email": meeting["recorded_by"]["email"],
        "participants": json.dumps(meeting["participants"], ensure_ascii=False),
        "action_items": json.dumps(meeting["action_items"], ensure_ascii=False),
        "content_hash": content_hash,
        "segments": json.dumps(segments, ensure_ascii=False),
        "full_text": "\n".join(f"{s['speaker'] or 'Unknown'}: {s['text']}" for s in segments),
        "segment_count": len(segments),
    }
    try:
        with engine.begin() as connection:
            connection.execute(_UPSERT_MEETING, row)
            connection.execute(_UPSERT_TRANSCRIPT, row)
    except SQLAlchemyError as exc:
        raise ExportError(f"output hub: {_describe(exc)}") from None


def dispose_engines() -> None:
    """Close every hub connection this process holds (tests, and before dropping a hub database)."""
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()
        _schema_ready.clear()
