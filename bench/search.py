"""Search latency on a large vault, and enrichment throughput. Run by hand; prints p50/p95.

    .venv/bin/python bench/search.py [--server postgresql://postgres@127.0.0.1:5432/postgres]
                                     [--calls 50000] [--segments 2500000] [--requests 20]
                                     [--enrich 200] [--reuse] [--keep]

Builds a PostgreSQL database (callvault_bench_search) with bench/dataset.py (the vault only: users,
calls, participants, action items, segments), sprinkles words of known frequency into it (the
dataset's own vocabulary has 22 words, so each is in ~40% of all lines), applies the full-text DDL
(`ensure_search_schema`: generated tsvector columns and GIN indexes) and times:

- the library's search (an htmx request through the Flask test client: ranking, matching lines,
  highlighting and the template) and the API's `q=` filter, for an admin (all 50,000 calls) and
  a member (2,500 calls), over typical queries;
- enrichment (`enrich_call`: chunking, embeddings, AI titles and summaries written back) against
  the fake OpenAI-compatible server on loopback, and with the offline default, in calls per second.

`--reuse` skips loading when the database exists; `--keep` keeps it afterwards.
"""
import argparse
import gc
import logging
import os
import statistics
import sys
import time
from pathlib import Path

import psycopg
from cryptography.fernet import Fernet

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import dataset  # noqa: E402

os.environ.setdefault("SECRET_KEY", "bench")
os.environ.setdefault("CREDENTIALS_ENCRYPTION_KEY", Fernet.generate_key().decode())
for _name in ("DATABASE_URL", "REDIS_URL", "AI_API_BASE_URL", "AI_API_KEY", "AI_EMBEDDING_MODEL", "AI_CHAT_MODEL"):
    os.environ.pop(_name, None)

from callvault import create_app  # noqa: E402
from callvault.config import normalize_database_url  # noqa: E402
from callvault.extensions import db  # noqa: E402
from callvault.search import enrichment, providers  # noqa: E402
from callvault.search.schema import ensure_search_schema  # noqa: E402
from sandboxes.ai_provider import FakeAIServer  # noqa: E402

DB_NAME = "callvault_bench_search"
MEMBER_ID = 2  # user2@example.com owns every 20th call
# (word, how many lines get it): a rare word, a medium one, and one that is also in titles.
SPRINKLED = (("zanzibar", 40), ("kubernetes", 2_500), ("okrs", 25_000))
QUERIES = (
    ("common word (~40% of lines)", "pricing"),
    ("two common words", "pricing roadmap"),
    ("phrase of common words", '"pricing roadmap"'),
    ("medium word (2,500 lines)", "kubernetes"),
    ("frequent word (25,000 lines)", "okrs"),
    ("rare word (40 lines)", "zanzibar"),
    ("no match", "xylophone"),
    ("word being typed (prefix)", "kuber"),
    ("phrase with a rare word", '"kubernetes migration"'),
    ("-word", "kubernetes -pricing"),
    ("OR", "zanzibar OR kubernetes"),
)


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def sprinkle(url: str, log) -> None:
    """Put each SPRINKLED word into that many lines (spread evenly), and a few into titles and summaries."""
    with psycopg.connect(url) as connection:
        total = connection.execute("SELECT max(id) FROM transcript_segments").fetchone()[0]
        for offset, (word, lines) in enumerate(SPRINKLED):
            step = total // lines
            connection.execute(
                "UPDATE transcript_segments SET text = text || ' ' || %s || ' migration plan.' "
                "WHERE id %% %s = %s AND id <= %s", (word.capitalize(), step, offset + 1, step * lines))
            connection.execute("UPDATE calls SET title = title || ' ' || %s WHERE id %% %s = %s",
                               (word, max(1, 50_000 // max(1, lines // 50)), offset))
        connection.commit()
    log("  words sprinkled")


def apply_search_schema(url: str, log) -> None:
    started = time.perf_counter()
    app = create_app({"SQLALCHEMY_DATABASE_URI": normalize_database_url(url), "INPROCESS_WORKER": False})
    with app.app_context():
        db.create_all()
        with db.engine.begin() as connection:
            connection.execute(db.text("SET maintenance_work_mem = '512MB'"))
            ensure_search_schema(connection)
        db.engine.dispose()
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE calls")
        connection.execute("VACUUM ANALYZE transcript_segments")
        sizes = connection.execute(
            "SELECT pg_size_pretty(pg_relation_size('search_segments_tsv_idx')), "
            "pg_size_pretty(pg_relation_size('search_calls_tsv_idx'))").fetchone()
    log(f"  full-text columns and GIN indexes built in {time.perf_counter() - started:.0f}s "
        f"(segments index {sizes[0]}, calls index {sizes[1]})")


def measure_search(app, requests: int) -> None:
    logging.getLogger("callvault").setLevel(logging.WARNING)
    with app.app_context():
        from callvault.models import User
        for user_id, password in ((1, "bench-password-1"), (MEMBER_ID, "bench-password-2")):
            db.session.get(User, user_id).set_password(password)
        db.session.commit()
        counts = db.session.execute(db.text(
            "SELECT (SELECT count(*) FROM calls), (SELECT count(*) FROM transcript_segments), "
            "(SELECT count(*) FROM calls WHERE owner_id = :m)"), {"m": MEMBER_ID}).one()
    print(f"vault: {counts[0]:,} calls, {counts[1]:,} segments; the member owns {counts[2]:,} calls")
    clients = {}
    for who, email, password in (("admin", "admin@example.com", "bench-password-1"),
                                 ("member", f"user{MEMBER_ID}@example.com", "bench-password-2")):
        client = app.test_client()
        assert client.post("/login", data={"email": email, "password": password}).status_code == 302
        clients[who] = client
    from callvault import accounts
    from callvault.models import User
    with app.app_context():
        tokens = {who: accounts.issue_api_token(db.session.get(User, uid))
                  for who, uid in (("admin", 1), ("member", MEMBER_ID))}

    def library(who, q):
        response = clients[who].get("/calls", query_string={"q": q},
                                    headers={"HX-Request": "true", "HX-Target": "calls-table"})
        assert response.status_code == 200
        return response.get_data(as_text=True)

    def api(who, q):
        response = clients[who].get("/api/v1/calls", query_string={"q": q, "limit": 25},
                                    headers={"Authorization": f"Bearer {tokens[who]}"})
        assert response.status_code == 200
        return response.json

    print(f"\n{'library search (htmx), query':44} {'who':7} {'matches':>8} {'p50 ms':>8} {'p95 ms':>8} "
          f"{'max ms':>8}   ({requests} requests each, after 2 warm-ups)")
    time_queries(library, requests, _matches)
    print(f"\n{'API GET /api/v1/calls?q= (newest 25)':44} {'who':7} {'':>8} {'p50 ms':>8} {'p95 ms':>8} "
          f"{'max ms':>8}")
    time_queries(api, requests)


def time_queries(fetch, requests: int, matches=None) -> None:
    """One line per query and user: `fetch(who, q)` timed, with `matches(result)` when given."""
    for label, q in QUERIES:
        for who in ("admin", "member"):
            samples, result = timed(lambda: fetch(who, q), requests)
            shown = matches(result) if matches else ""
            print(f"{label + '  ' + q:44} {who:7} {shown:>8} {statistics.median(samples):8.1f} "
                  f"{percentile(samples, .95):8.1f} {max(samples):8.1f}", flush=True)


def _matches(body: str) -> str:
    import re
    found = re.search(r"(\d+)(\+?) calls? match", body)
    if found:
        return f"{found.group(1)}{found.group(2)}"
    return "newest" if "too many lines to rank" in body else "?"  # broad: newest first, unranked


def timed(run, requests: int):
    for _ in range(2):
        result = run()
    samples = []
    for _ in range(requests):
        started = time.perf_counter()
        result = run()
        samples.append((time.perf_counter() - started) * 1000)
    return samples, result


def measure_enrichment(app, calls: int) -> None:
    """Enrich `calls` ordinary calls (50 lines each), half of them bot recordings lacking a title and summary."""
    with app.app_context():
        ids = [row[0] for row in db.session.execute(db.text(
            "SELECT id FROM calls WHERE id > 10 ORDER BY id LIMIT :n"), {"n": calls * 2})]
        first, second = ids[:calls], ids[calls:]
        for batch in (first, second):
            db.session.execute(db.text("UPDATE calls SET title = 'Untitled meeting', summary_markdown = NULL "
                                       "WHERE id = ANY(:ids) AND id % 2 = 0"), {"ids": batch})
        db.session.execute(db.text("DELETE FROM call_enrichments WHERE call_id = ANY(:ids)"), {"ids": ids})
        db.session.execute(db.text("DELETE FROM transcript_chunks WHERE call_id = ANY(:ids)"), {"ids": ids})
        db.session.commit()
        lines = db.session.execute(db.text("SELECT count(*) FROM transcript_segments WHERE call_id = ANY(:ids)"),
                                   {"ids": ids}).scalar()
    print(f"\nenrichment, {calls} calls each ({lines / len(ids):.0f} lines per call, half lacking a title "
          "and summary), one worker, sequential:")
    with FakeAIServer(api_key="bench-key") as fake:
        provider = providers.OpenAICompatibleProvider(fake.base_url, "bench-key", "fake-embed", "fake-chat",
                                                      retry_base=0.01)
        rate, detail = _enrich_all(app, first, provider)
        print(f"  fake OpenAI-compatible server (loopback): {rate:7.1f} calls/s   {detail}; "
              f"{len(fake.requests)} HTTP requests")
    rate, detail = _enrich_all(app, second, providers.OfflineProvider())
    print(f"  offline default (key-phrase titles):      {rate:7.1f} calls/s   {detail}")
    with app.app_context():
        again = time.perf_counter()
        with providers.OfflineProvider() as offline:
            for call_id in second:
                enrichment.enrich_call(call_id, offline)
        print(f"  re-run on up-to-date calls (idempotent):  {len(second) / (time.perf_counter() - again):7.1f} "
              "calls/s")


def _enrich_all(app, ids, provider):
    with app.app_context():
        started = time.perf_counter()
        statuses = [enrichment.enrich_call(call_id, provider) for call_id in ids]
        elapsed = time.perf_counter() - started
        chunks = db.session.execute(db.text("SELECT count(*), count(embedding) FROM transcript_chunks "
                                            "WHERE call_id = ANY(:ids)"), {"ids": ids}).one()
    provider.close()
    done = statuses.count("done")
    return len(ids) / elapsed, f"{done}/{len(ids)} done, {chunks[0]} passages, {chunks[1]} embedded"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    dataset.add_arguments(parser, requests=20)
    parser.add_argument("--enrich", type=int, default=200, help="calls to enrich per provider")
    args = parser.parse_args()
    url, built = dataset.prepare(parser, args, DB_NAME, dashboard_rows=False)
    if built:
        sprinkle(url, dataset.log_line)
        apply_search_schema(url, dataset.log_line)
    app = create_app({"SQLALCHEMY_DATABASE_URI": normalize_database_url(url), "INPROCESS_WORKER": False,
                      "WTF_CSRF_ENABLED": False})
    gc.freeze()  # as app.py does for the web process
    try:
        measure_search(app, args.requests)
        if args.enrich:
            measure_enrichment(app, args.enrich)
    finally:
        with app.app_context():
            db.engine.dispose()
        if not args.keep:
            dataset.drop_database(args.server, DB_NAME)

if __name__ == "__main__":
    main()
