"""Semantic and hybrid search at scale: latency, memory and cold start. Run by hand; prints p50/p95.

    .venv/bin/python bench/semantic.py [--server postgresql://postgres@127.0.0.1:5432/postgres]
                                       [--calls 50000] [--segments 2500000] [--requests 30] [--reuse] [--keep]

Builds a PostgreSQL database (callvault_bench_semantic) with bench/dataset.py, applies the full-text
DDL, cuts every call into passages (`chunking.chunk_call`) and embeds them with the offline model,
writing vectors and sign codes with COPY (what `enrich_call` stores, without its per-call
transactions). Then measures, in this process:

- cold start: the first query's load of the in-memory index (search/vectors.py), its size in bytes
  and the process's resident memory before and after;
- semantic search alone (`vectors.best_passages`, the query's embedding included) for an admin over
  every call and for a member (2,500 calls: only their passages are scanned), against a baseline
  measured in the same run: the exact float32 scan of every vector, read from the database, that a
  query did before (what "no query loads all vectors" replaces; run once, it takes seconds);
- hybrid search end to end (the library's htmx request and the API's `q=`, sort=relevance), whose
  full-text half is bench/search.py's subject.

`--reuse` skips loading when the database exists; `--keep` keeps it afterwards.
"""
import argparse
import logging
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
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
from callvault.search import chunking, embedders, providers, vectors  # noqa: E402
from callvault.search.schema import ensure_search_schema  # noqa: E402

DB_NAME = "callvault_bench_semantic"
MEMBER_ID = 2  # owns every 20th call
QUESTIONS = ("did we agree on a discount for the renewal", "what did the customer say about onboarding problems",
             "when is the product going live", "who is responsible for the security review",
             "are we over budget this quarter", "why did clients cancel", "plans for hiring engineers",
             "what caused the outage", "feedback on the new design", "how is the sales forecast looking")
CALL_BATCH = 500


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def percentile(samples, q):
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def embed_passages(url: str, log) -> None:
    """Passages and their vectors for every call, as enrichment would store them."""
    started = time.perf_counter()
    model, passages = embedders.MODEL_NAME, 0
    with psycopg.connect(url) as connection:
        connection.execute("ALTER TABLE transcript_chunks ADD COLUMN IF NOT EXISTS embedding_code bytea")
        if connection.execute("SELECT count(*) FROM transcript_chunks").fetchone()[0]:
            log("  passages already embedded")
            return
        calls = connection.execute("SELECT id, title, summary_markdown FROM calls ORDER BY id").fetchall()
        for start in range(0, len(calls), CALL_BATCH):
            batch = calls[start:start + CALL_BATCH]
            segments: dict[int, list] = {}
            for row in connection.execute(
                    "SELECT call_id, speaker, text, start_ms, end_ms FROM transcript_segments "
                    "WHERE call_id BETWEEN %s AND %s ORDER BY call_id, position", (batch[0][0], batch[-1][0])):
                segments.setdefault(row[0], []).append(_Segment(*row[1:]))
            chunks = [(call_id, chunk) for call_id, title, summary in batch
                      for chunk in chunking.chunk_call(title, summary, segments.get(call_id, []))]
            vectors_ = embedders.embed([chunk.embedding_input for _, chunk in chunks])
            codes = np.packbits(vectors_ > 0, axis=1)
            dataset.copy(connection, "transcript_chunks", (
                "call_id", "position", "speaker", "start_ms", "end_ms", "text", "embedding", "embedding_code",
                "embedding_model"), (
                (call_id, c.position, c.speaker, c.start_ms, c.end_ms, c.text, vectors_[i].astype("<f4").tobytes(),
                 codes[i].tobytes(), model) for i, (call_id, c) in enumerate(chunks)))
            passages += len(chunks)
            if start // CALL_BATCH % 20 == 0:
                log(f"  {start + len(batch):,} calls, {passages:,} passages ({time.perf_counter() - started:.0f}s)")
        connection.commit()
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE transcript_chunks")
    log(f"  {passages:,} passages embedded and stored in {time.perf_counter() - started:.0f}s")


class _Segment:
    def __init__(self, speaker, text, start_ms, end_ms):
        self.speaker, self.text, self.start_ms, self.end_ms = speaker, text, start_ms, end_ms


def measure(app, requests: int) -> None:
    logging.getLogger("callvault").setLevel(logging.WARNING)
    from sqlalchemy import select

    from callvault.models import Call, TranscriptChunk, User
    with app.app_context():
        session = db.session
        passages = session.scalar(select(db.func.count()).select_from(TranscriptChunk))
        member_calls = list(session.scalars(select(Call.id).where(Call.owner_id == MEMBER_ID)))
        print(f"vault: {session.scalar(select(db.func.count()).select_from(Call)):,} calls, {passages:,} passages; "
              f"the member owns {len(member_calls):,} calls")
        provider = providers.OfflineProvider()
        provider.embed(["warm up the model"])
        before = rss_mb()
        started = time.perf_counter()
        index = vectors.index_for(session, provider.embedding_model)
        index.refresh(session)
        cold = time.perf_counter() - started
        after = rss_mb()
        print(f"cold start: index of {len(index):,} passages loaded in {cold:.2f}s; it holds "
              f"{index.nbytes / 2**20:.1f} MB ({index.nbytes / max(1, len(index)):.0f} bytes a passage); "
              f"process RSS {before:.0f} -> {after:.0f} MB")
        session.rollback()

        def semantic(visible):
            times = []
            for n in range(requests):
                q = QUESTIONS[n % len(QUESTIONS)]
                t = time.perf_counter()
                ids = None if visible is None else list(session.scalars(
                    select(Call.id).where(Call.owner_id == MEMBER_ID)))
                vector = provider.embed([q], interactive=True)[0]
                found = vectors.best_passages(session, ids, vector, provider.embedding_model,
                                              embedders.MIN_SIMILARITY)
                times.append((time.perf_counter() - t) * 1000)
                session.rollback()
                if visible is not None:
                    assert set(found) <= set(visible), "a member saw another person's passage"
            return times

        def baseline():
            """The old way: every vector of the visible calls read from the database and scanned."""
            t = time.perf_counter()
            vector = np.asarray(provider.embed([QUESTIONS[0]])[0])
            best = {}
            for call_id, data in session.execute(select(TranscriptChunk.call_id, TranscriptChunk.embedding)):
                s = float(np.frombuffer(data, dtype="<f4") @ vector)
                if s > best.get(call_id, -2):
                    best[call_id] = s
            session.rollback()
            return (time.perf_counter() - t) * 1000

        results = {"admin": semantic(None), "member": semantic(member_calls)}
        print(f"\nsemantic search ({requests} questions, the query's embedding included):")
        for who, times in results.items():
            print(f"  {who:<7} p50 {statistics.median(times):6.1f} ms   p95 {percentile(times, 0.95):6.1f} ms")
        print(f"  index after queries: {index.nbytes / 2**20:.1f} MB; process RSS {rss_mb():.0f} MB")
        base = baseline()
        print(f"  baseline (admin, exact scan of all vectors read from the database): {base:,.0f} ms "
              f"-> {base / percentile(results['admin'], 0.95):,.0f}x the new p95; process RSS {rss_mb():.0f} MB")

        from callvault import accounts
        for user_id, password in ((1, "bench-password-1"), (MEMBER_ID, "bench-password-2")):
            session.get(User, user_id).set_password(password)
        session.commit()
        tokens = {who: accounts.issue_api_token(session.get(User, uid)) for who, uid in (("admin", 1),
                                                                                         ("member", MEMBER_ID))}
        session.commit()
    clients = {}
    for who, email, password in (("admin", "admin@example.com", "bench-password-1"),
                                 ("member", f"user{MEMBER_ID}@example.com", "bench-password-2")):
        client = app.test_client()
        assert client.post("/login", data={"email": email, "password": password}).status_code == 302
        clients[who] = client
    print(f"\nhybrid search end to end ({requests} questions each; full-text + semantic, fused):")
    for who in ("admin", "member"):
        for surface in ("library", "api"):
            times = []
            for n in range(requests):
                q = QUESTIONS[n % len(QUESTIONS)]
                t = time.perf_counter()
                if surface == "library":
                    response = clients[who].get("/calls", query_string={"q": q},
                                                headers={"HX-Request": "true", "HX-Target": "calls-table"})
                else:
                    response = app.test_client().get("/api/v1/calls", query_string={"q": q, "limit": 25},
                                                     headers={"Authorization": f"Bearer {tokens[who]}"})
                assert response.status_code == 200, response.status_code
                times.append((time.perf_counter() - t) * 1000)
            print(f"  {who:<7} {surface:<8} p50 {statistics.median(times):6.1f} ms   "
                  f"p95 {percentile(times, 0.95):6.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    dataset.add_arguments(parser, requests=30)
    parser.add_argument("--name", default=DB_NAME, help="the benchmark database's name")
    args = parser.parse_args()
    log = dataset.log_line
    if args.reuse and dataset.database_exists(args.server, args.name):
        url = dataset.database_url(args.server, args.name)
        log(f"reusing {args.name}")
    else:
        log(f"building {args.name}: {args.calls:,} calls, {args.segments:,} segments")
        url = dataset.build(args.server, args.name, args.calls, args.segments, dashboard_rows=False, log=log)
    app = create_app({"SQLALCHEMY_DATABASE_URI": normalize_database_url(url), "INPROCESS_WORKER": False,
                      "WTF_CSRF_ENABLED": False})
    with app.app_context():
        db.create_all()
        with db.engine.begin() as connection:
            ensure_search_schema(connection)
        db.engine.dispose()
    embed_passages(url, log)
    try:
        measure(app, args.requests)
    finally:
        with app.app_context():
            db.engine.dispose()
        if not args.keep:
            dataset.drop_database(args.server, args.name)


if __name__ == "__main__":
    main()
