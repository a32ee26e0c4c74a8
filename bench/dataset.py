"""A large, realistic vault in PostgreSQL for the benchmarks (bench/dashboard.py, bench/search.py).

    from bench.dataset import build, DEFAULT_CALLS, DEFAULT_SEGMENTS
    url = build("postgresql://postgres@127.0.0.1:5432/postgres", "callvault_bench")  # a SQLAlchemy-ready URL

Creates the database afresh, creates the tables from the models (`db.create_all()`, so it needs no
migrations), and loads with COPY: 20 members and an admin, calls spread over the last year
(a fifth from bots), three participants and two action items per call, transcript segments (ten
3-hour calls of 5,000 segments, the rest spread evenly), then what the dashboard reads: export
rows (2% of webhook exports failed), Fathom webhook deliveries, sync jobs and their items, Fathom
connections, calendars (two per member, two disconnected) and their events (about one per call,
from a year ago to four weeks ahead, a meeting on two attendees' calendars being two events) and
one recording bot per meeting with a link, with its state transitions.
Deterministic (seeded) so runs compare. `--reuse` in the benchmarks skips all this.
"""
import os
import random
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

DEFAULT_CALLS, DEFAULT_SEGMENTS = 50_000, 2_500_000
LONG_CALLS, LONG_SEGMENTS = 10, 5000
USERS = 20  # members; the admin is user 1
WORDS = ("pricing roadmap hiring budget launch customer churn onboarding security migration quarter review "
         "design feedback contract renewal pipeline forecast latency incident retro agenda").split()
NOW = datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)


def sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def database_url(server: str, name: str) -> str:
    return server.rsplit("/", 1)[0] + "/" + name


def database_exists(server: str, name: str) -> bool:
    with psycopg.connect(server, autocommit=True) as connection:
        return connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None


def drop_database(server: str, name: str) -> None:
    with psycopg.connect(server, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def recreate_database(server: str, name: str) -> str:
    drop_database(server, name)
    with psycopg.connect(server, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return database_url(server, name)


def copy(connection, table: str, columns: tuple, rows) -> int:
    count = 0
    with connection.cursor().copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as out:
        for row in rows:
            out.write_row(row)
            count += 1
    return count


def segment_counts(calls: int, segments: int) -> list[int]:
    """Ten 5,000-segment calls, the remaining segments spread evenly over the other calls."""
    rest = segments - LONG_CALLS * LONG_SEGMENTS
    base, extra = divmod(rest, calls - LONG_CALLS)
    return [LONG_SEGMENTS] * LONG_CALLS + [base + (1 if i < extra else 0) for i in range(calls - LONG_CALLS)]


def check_size(calls: int, segments: int) -> str | None:
    if calls <= LONG_CALLS or segments < LONG_CALLS * LONG_SEGMENTS + calls - LONG_CALLS:
        return f"need more than {LONG_CALLS} calls and enough segments for {LONG_CALLS} long ones"
    return None


def create_tables(url: str) -> None:
    """The models' tables, and on a database loaded earlier (`--reuse`) the tables and indexes added to
    the models since (create_all alone skips every index of a table that exists). A column added since
    is not: such a database is loaded again without --reuse."""
    os.environ.setdefault("SECRET_KEY", "bench")
    if "CREDENTIALS_ENCRYPTION_KEY" not in os.environ:
        from cryptography.fernet import Fernet
        os.environ["CREDENTIALS_ENCRYPTION_KEY"] = Fernet.generate_key().decode()
    from callvault import create_app
    from callvault.config import normalize_database_url
    from callvault.extensions import db
    app = create_app({"SQLALCHEMY_DATABASE_URI": normalize_database_url(url), "INPROCESS_WORKER": False})
    with app.app_context():
        db.create_all()
        with db.engine.begin() as connection:
            for table in db.metadata.sorted_tables:
                for index in table.indexes:
                    index.create(connection, checkfirst=True)
        db.engine.dispose()


def build(server: str, name: str, calls: int = DEFAULT_CALLS, segments: int = DEFAULT_SEGMENTS,
          dashboard_rows: bool = True, log=print) -> str:
    """Create and load database `name` on `server`; returns its URL (normalise it for SQLAlchemy)."""
    problem = check_size(calls, segments)
    if problem:
        raise ValueError(problem)
    url = recreate_database(server, name)
    create_tables(url)
    rng = random.Random(42)
    counts = segment_counts(calls, segments)
    starts = [NOW - timedelta(seconds=rng.randrange(365 * 86400)) for _ in range(calls)]
    started = time.perf_counter()
    with psycopg.connect(url) as connection:
        _load_vault(connection, rng, calls, counts, starts, log, started)
        if dashboard_rows:
            _load_dashboard_rows(connection, rng, calls, starts)
        for table in _tables(dashboard_rows):
            connection.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                               f"(SELECT max(id) FROM {table}))")
        connection.commit()
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE")
    log(f"  loaded and analysed in {time.perf_counter() - started:.0f}s")
    return url


def add_arguments(parser, requests: int) -> None:
    """The options every benchmark on this dataset takes (`prepare` reads them)."""
    parser.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432/postgres",
                        help="a PostgreSQL server URL whose user may create databases")
    parser.add_argument("--calls", type=int, default=DEFAULT_CALLS)
    parser.add_argument("--segments", type=int, default=DEFAULT_SEGMENTS)
    parser.add_argument("--requests", type=int, default=requests)
    parser.add_argument("--reuse", action="store_true", help="use the existing bench database as it is")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")


def log_line(line: str) -> None:
    print(line, flush=True)


def prepare(parser, args, name: str, **build_options) -> tuple[str, bool]:
    """(url, built): database `name` on `args.server`, loaded afresh unless `--reuse` finds it."""
    problem = check_size(args.calls, args.segments)
    if problem:
        parser.error(problem)
    if args.reuse and database_exists(args.server, name):
        create_tables(database_url(args.server, name))
        return database_url(args.server, name), False
    log_line(f"loading {args.calls:,} calls and {args.segments:,} segments into {name} …")
    return build(args.server, name, args.calls, args.segments, log=log_line, **build_options), True


def _tables(dashboard_rows: bool) -> tuple:
    vault = ("users", "host_emails", "calls", "participants", "action_items", "transcript_segments")
    return vault + (("call_exports", "webhook_deliveries", "sync_jobs", "sync_job_items", "fathom_connections",
                     "calendars", "calendar_events") if dashboard_rows else ())


def _load_vault(connection, rng, calls, counts, starts, log, started) -> None:
    copy(connection, "users", ("id", "email", "name", "role", "is_active", "created_at"),
         [(1, "admin@example.com", "Admin", "admin", True, NOW)]
         + [(i, f"user{i}@example.com", f"User {i}", "member", True, NOW) for i in range(2, USERS + 2)])
    copy(connection, "host_emails", ("id", "user_id", "email"),
         [(i, i, f"user{i}@example.com") for i in range(2, USERS + 2)])
    copy(connection, "calls", ("id", "owner_id", "source", "external_id", "title", "started_at", "ended_at",
                               "recorded_by_name", "recorded_by_email", "share_url", "summary_markdown",
                               "content_hash", "created_at", "updated_at"),
         ((i, 2 + i % USERS, "bot" if i % 5 == 0 else "fathom", str(1_000_000 + i), sentence(rng, 4),
           starts[i - 1], starts[i - 1] + timedelta(seconds=max(60, counts[i - 1] * 2)),
           f"User {2 + i % USERS}", f"user{2 + i % USERS}@example.com", f"https://fathom.video/share/{i}",
           "## Summary\n" + sentence(rng, 30) + "\n\n- " + sentence(rng, 8), f"{i:064x}", starts[i - 1],
           starts[i - 1]) for i in range(1, calls + 1)))
    log(f"  calls loaded ({time.perf_counter() - started:.0f}s)")
    copy(connection, "participants", ("id", "call_id", "position", "name", "email", "is_external", "is_organizer"),
         ((3 * (i - 1) + p + 1, i, p, f"Person {p}", f"person{p}.{i % 500}@example.com" if p else
           f"user{2 + i % USERS}@example.com", p == 2, p == 0) for i in range(1, calls + 1) for p in range(3)))
    copy(connection, "action_items", ("id", "call_id", "position", "description", "completed"),
         ((2 * (i - 1) + p + 1, i, p, sentence(rng, 6), p == 0) for i in range(1, calls + 1) for p in range(2)))
    phrases = [sentence(rng, rng.randrange(6, 22)) for _ in range(5000)]

    def segment_rows():
        seg_id = 0
        for call_id, n in enumerate(counts, start=1):
            for position in range(n):
                seg_id += 1
                yield (seg_id, call_id, position, f"Person {position % 3}", phrases[seg_id % 5000],
                       position * 2000, position * 2000 + 1900)
    n = copy(connection, "transcript_segments", ("id", "call_id", "position", "speaker", "text", "start_ms",
                                                 "end_ms"), segment_rows())
    log(f"  {n:,} segments loaded ({time.perf_counter() - started:.0f}s)")


def _load_dashboard_rows(connection, rng, calls, starts) -> None:
    def export_rows():
        for i in range(1, calls + 1):
            yield (2 * i - 1, i, "database", "done", f"{i:064x}", f"{i:064x}", 0, None, None,
                   starts[i - 1], starts[i - 1], starts[i - 1], starts[i - 1])
            failed = i % 50 == 0
            at = NOW - timedelta(hours=i % 200) if failed else starts[i - 1]
            yield (2 * i, i, "webhook", "failed" if failed else "done", f"{i:064x}",
                   None if failed else f"{i:064x}", 3 if failed else 0,
                   "webhook: the receiver answered HTTP 503" if failed else None,
                   at + timedelta(hours=1) if failed else None, at, None if failed else at, at, at)
    copy(connection, "call_exports", ("id", "call_id", "target", "status", "fingerprint", "exported_fingerprint",
                                      "attempts", "last_error", "next_attempt_at", "last_attempt_at",
                                      "exported_at", "created_at", "updated_at"), export_rows())
    statuses = ["success"] * 95 + ["failed"] * 3 + ["rejected", "duplicate"]
    copy(connection, "webhook_deliveries", ("id", "received_at", "source", "endpoint", "webhook_id", "status",
                                            "headers", "body", "body_size", "body_cap", "attempts"),
         ((i, NOW - timedelta(seconds=rng.randrange(365 * 86400)), "fathom", "/webhooks/fathom", f"msg_{i}",
           rng.choice(statuses), "{}", '{"recording_id": %d}' % i, 24, 65536, 1) for i in range(1, calls + 1)))
    copy(connection, "sync_jobs", ("id", "user_id", "source", "status", "params", "total", "done", "failed",
                                   "created_at", "finished_at", "cancel_requested", "listing_done"),
         ((j, 2 + j % USERS, "fathom", "failed" if j % 40 == 0 else "succeeded", "{}", 50, 49, 1,
           NOW - timedelta(hours=j * 8), NOW - timedelta(hours=j * 8) + timedelta(minutes=5), False, True)
          for j in range(1, 1001)))
    copy(connection, "sync_job_items", ("id", "sync_job_id", "external_id", "title", "status", "error"),
         ((k, 1 + (k - 1) // 50, str(k), sentence(rng, 3), "failed" if k % 50 == 0 else "done",
           "transcript missing" if k % 50 == 0 else None) for k in range(1, 50_001)))
    copy(connection, "fathom_connections", ("id", "user_id", "status", "last_error", "created_at", "updated_at"),
         ((u - 1, u, "needs_attention" if u % 10 == 0 else "ok", "token revoked" if u % 10 == 0 else None,
           NOW, NOW) for u in range(2, USERS + 2)))

    # Two calendars per member (Google service account + Microsoft OAuth); two were disconnected.
    calendars = []
    for u in range(2, USERS + 2):
        email = f"user{u}@example.com"
        for provider, method in (("google", "service_account"), ("microsoft", "oauth")):
            cid = len(calendars) + 1
            down = cid in (7, 24)
            calendars.append((cid, u, provider, method, email, f"{email}-{provider}-{method}",
                              "disconnected" if down else "connected",
                              "The provider refused the refresh token (invalid_grant)." if down else None,
                              NOW - timedelta(days=cid) if down else None, NOW, NOW))
    copy(connection, "calendars", ("id", "user_id", "provider", "auth_method", "account_email", "deduplication_key",
                                   "state", "disconnected_reason", "disconnected_at", "created_at", "updated_at"),
         calendars)

    # About one event per call, from a year ago to four weeks ahead; every fifth meeting is on a second
    # attendee's calendar too (same link, same time), every tenth has no link, 1 in 50 is cancelled.
    def event_rows():
        eid = 0
        span = (365 + 28) * 86400
        for m in range(1, calls + 1):
            start = (NOW - timedelta(days=365) + timedelta(seconds=rng.randrange(span))).replace(second=0)
            url = None if m % 10 == 0 else f"https://meet.google.com/{m:03d}-bench-{m % 997:03d}"
            owners = (1 + m % len(calendars), 1 + (m + 7) % len(calendars)) if m % 5 == 0 else (1 + m % len(calendars),)
            for cal in owners:
                eid += 1
                yield (eid, cal, f"evt{eid}", sentence(rng, 3), start, start + timedelta(minutes=30), False,
                       f"user{2 + m % USERS}@example.com", "[]", url, "google_meet" if url else None,
                       m % 50 == 7, False, NOW, NOW)
    copy(connection, "calendar_events", ("id", "calendar_id", "provider_event_id", "title", "start_at", "end_at",
                                         "is_all_day", "organizer_email", "attendees", "meeting_url",
                                         "meeting_platform", "is_cancelled", "is_deleted", "created_at",
                                         "updated_at"), event_rows())
    if connection.execute("SELECT to_regclass('bots')").fetchone()[0]:
        _load_bots(connection)


def _load_bots(connection) -> None:
    """One bot per meeting with a link (the first calendar entry's), with its transitions: past ones
    ended (1 in 25 missed, 1 in 50 cancelled with the event), future ones scheduled. An ended bot's
    transcript is in the vault (a call), as it is within minutes of the end: the dispatcher's retries
    are for the few whose fetch failed, not for a year of bots."""
    connection.execute("""
        INSERT INTO bots (meeting_key, meeting_url, join_at, event_id, owner_id, title, state, state_reason,
                          state_changed_at, generation, transcript_attempts, call_id, created_at, updated_at)
        SELECT md5(e.meeting_url || e.start_at::text), e.meeting_url, e.start_at, e.id, c.user_id, e.title,
               b.state,
               CASE WHEN b.state = 'missed' THEN 'no sign of joining 10 minutes after the start' END,
               least(e.start_at + interval '40 minutes', now()), 1,
               CASE WHEN b.state = 'ended' THEN 1 ELSE 0 END,
               CASE WHEN b.state = 'ended' THEN 1 + e.id % (SELECT max(id) FROM calls) END,
               e.created_at, e.updated_at
        FROM (SELECT DISTINCT ON (meeting_url, start_at) * FROM calendar_events
              WHERE meeting_url IS NOT NULL ORDER BY meeting_url, start_at, id) e
        JOIN calendars c ON c.id = e.calendar_id
        CROSS JOIN LATERAL (SELECT CASE WHEN e.is_cancelled THEN 'cancelled' WHEN e.start_at > now() THEN 'scheduled'
                                        WHEN e.id % 25 = 0 THEN 'missed' ELSE 'ended' END AS state) b""")
    connection.execute("""
        INSERT INTO bot_transitions (bot_id, from_state, to_state, reason, at)
        SELECT b.id, t.from_state, t.to_state, 'bench', b.join_at + t.after
        FROM bots b CROSS JOIN LATERAL (VALUES
            (NULL, 'scheduled', interval '-1 day', 0), ('scheduled', 'joining', interval '0', 1),
            ('joining', 'joined_recording', interval '1 minute', 1), ('joined_recording', 'ended', interval '31 minutes', 1)
        ) AS t(from_state, to_state, after, needs_end)
        WHERE t.needs_end = 0 OR b.state = 'ended'""")


if __name__ == "__main__":
    import argparse
    parser = argparse.ArgumentParser(description="Create and load a benchmark vault.")
    parser.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--name", default="callvault_bench")
    parser.add_argument("--calls", type=int, default=DEFAULT_CALLS)
    parser.add_argument("--segments", type=int, default=DEFAULT_SEGMENTS)
    args = parser.parse_args()
    print(build(args.server, args.name, args.calls, args.segments))
