"""MCP tool latency over HTTP on a large vault, against the JSON API as the baseline. Run by hand.

    .venv/bin/python bench/mcp.py [--server postgresql://postgres@127.0.0.1:5432/postgres]
                                  [--calls 50000] [--segments 2500000] [--requests 40] [--reuse] [--keep]

Builds a PostgreSQL database (callvault_bench_mcp) with bench/dataset.py plus the full-text schema
and the words of known frequency bench/search.py sprinkles, serves it with gunicorn as the Procfile
does (one worker, 4 threads, on loopback), and times with the official SDK's client, one session, one
POST per tool call:

- `search_meetings` for an admin (every call) and a member (a twentieth of them) over typical
  queries, against `GET /api/v1/calls?q=…` (the same words, newest 25) as the baseline;
- `get_transcript` of a 5,000-segment call: the first page, a page from the middle (start_segment),
  and ten minutes by time, against `GET /api/v1/calls/<id>` (the whole call with its segments).

Prints p50 / p95 / max in milliseconds and the ratio of each tool's p50 to its baseline's.
`--reuse` skips loading when the database exists; `--keep` keeps it afterwards.
"""
import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import anyio
import httpx2
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, this file's folder comes first on sys.path, and this file would shadow the SDK's `mcp`.
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
from bench import dataset  # noqa: E402
from bench.search import MEMBER_ID, apply_search_schema, percentile, sprinkle  # noqa: E402
from bench.webhooks import lease_redis_db, release_redis_db  # noqa: E402

os.environ.setdefault("SECRET_KEY", "bench")
os.environ.setdefault("CREDENTIALS_ENCRYPTION_KEY", Fernet.generate_key().decode())
os.environ.setdefault("TRANSCRIPT_TOKEN_SECRET", "bench")
for _name in ("DATABASE_URL", "REDIS_URL", "AI_API_BASE_URL", "AI_API_KEY", "AI_EMBEDDING_MODEL", "AI_CHAT_MODEL"):
    os.environ.pop(_name, None)

from mcp import Client  # noqa: E402
from mcp.client.streamable_http import streamable_http_client  # noqa: E402

from callvault import accounts, create_app  # noqa: E402
from callvault.config import normalize_database_url  # noqa: E402
from callvault.extensions import db  # noqa: E402
from callvault.models import User  # noqa: E402

DB_NAME = "callvault_bench_mcp"
LONG_CALL = 1  # bench/dataset.py: calls 1-10 have 5,000 segments each
QUERIES = (("common word (~40% of lines)", "pricing"), ("two common words", "pricing roadmap"),
           ("phrase", '"pricing roadmap"'), ("medium word (2,500 lines)", "kubernetes"),
           ("rare word (40 lines)", "zanzibar"), ("OR", "zanzibar OR kubernetes"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(url: str, port: int, redis_url: str) -> subprocess.Popen:
    """gunicorn on loopback, as the Procfile's web process (one worker, four threads), with a Redis of
    its own: a web process runs no jobs. Without REDIS_URL it would run the in-process worker, whose
    periodic jobs over the whole vault took the CPU (and the GIL) from the requests being timed."""
    env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": redis_url, "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
           "CALLVAULT_ENV": "development"}
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "app:app", "--bind", f"127.0.0.1:{port}",
                               "--workers", "1", "--threads", "4", "--log-level", "warning"],
                              cwd=ROOT, env=env, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            if httpx2.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code < 600:
                return server
        except httpx2.HTTPError:
            time.sleep(0.1)
    server.kill()
    raise SystemExit("gunicorn did not start")


def tokens(url: str) -> dict:
    app = create_app({"SQLALCHEMY_DATABASE_URI": normalize_database_url(url), "INPROCESS_WORKER": False})
    with app.app_context():
        issued = {who: accounts.issue_api_token(db.session.get(User, uid), "bench")
                  for who, uid in (("admin", 1), ("member", MEMBER_ID))}
        db.engine.dispose()
    return issued


def report(label: str, samples: list[float], baseline: float | None = None, rows: list | None = None) -> float:
    """Print one line; append (label, samples, baseline p50) to `rows` when given."""
    p50 = statistics.median(samples)
    if rows is not None:
        rows.append((label, samples, baseline))
    ratio = f"{p50 / baseline:6.2f}x" if baseline else ""
    print(f"{label:58} {p50:8.1f} {percentile(samples, .95):8.1f} {max(samples):8.1f}  {ratio}", flush=True)
    return p50


async def measure(base: str, issued: dict, requests: int, rows: list | None = None) -> None:
    """Time every case; each is printed, and appended to `rows` when given (see `report`)."""
    async def timed(run) -> list[float]:
        for _ in range(2):
            await run()
        samples = []
        for _ in range(requests):
            started = time.perf_counter()
            await run()
            samples.append((time.perf_counter() - started) * 1000)
        return samples

    print(f"\n{'(p50 / p95 / max in ms; ratio = p50 / baseline p50)':58} {'p50':>8} {'p95':>8} {'max':>8}  ratio")
    for who in ("admin", "member"):
        headers = {"Authorization": f"Bearer {issued[who]}"}
        api = httpx2.AsyncClient(base_url=base, headers=headers, timeout=60)
        mcp_http = httpx2.AsyncClient(headers=headers, timeout=60)
        async with api, Client(streamable_http_client(base + "/mcp", http_client=mcp_http)) as client:
            for label, q in QUERIES:
                async def baseline_search(q=q):
                    assert (await api.get("/api/v1/calls", params={"q": q, "limit": 25})).status_code == 200

                async def tool_search(q=q):
                    result = await client.call_tool("search_meetings", {"query": q, "limit": 10})
                    assert not result.is_error, result
                base_p50 = report(f"API  GET /api/v1/calls?q={q}  ({who})", await timed(baseline_search), None, rows)
                report(f"MCP  search_meetings {label}  ({who})", await timed(tool_search), base_p50, rows)
        if who == "member":
            continue
        async with httpx2.AsyncClient(base_url=base, headers=headers, timeout=60) as api, \
                Client(streamable_http_client(base + "/mcp", http_client=httpx2.AsyncClient(headers=headers,
                                                                                            timeout=60))) as client:
            async def whole_call():
                assert (await api.get(f"/api/v1/calls/{LONG_CALL}")).status_code == 200
            base_p50 = report(f"API  GET /api/v1/calls/{LONG_CALL} (5,000 segments)  ({who})", await timed(whole_call),
                              None, rows)
            for label, arguments in (("first page (200 segments)", {}),
                                     ("middle page (start_segment 2500, 200)", {"start_segment": 2500}),
                                     ("ten minutes by time (start 3600 s)", {"start_seconds": 3600,
                                                                             "end_seconds": 4200}),
                                     ("500 segments (the largest page)", {"max_segments": 500})):
                async def page(arguments=arguments):
                    result = await client.call_tool("get_transcript", {"meeting_id": LONG_CALL, **arguments})
                    assert not result.is_error and result.structured_content["segments"], result
                report(f"MCP  get_transcript {label}  ({who})", await timed(page), base_p50, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    dataset.add_arguments(parser, requests=40)
    args = parser.parse_args()
    url, built = dataset.prepare(parser, args, DB_NAME, dashboard_rows=False)
    if built:
        sprinkle(url, dataset.log_line)
        apply_search_schema(url, dataset.log_line)
    issued = tokens(url)
    port = free_port()
    redis_url = lease_redis_db("redis://127.0.0.1:6379")
    server = serve(normalize_database_url(url), port, redis_url)
    try:
        print(f"gunicorn on 127.0.0.1:{port}; {args.calls:,} calls, {args.segments:,} segments")
        anyio.run(measure, f"http://127.0.0.1:{port}", issued, args.requests)
    finally:
        server.terminate()
        server.wait(timeout=30)
        release_redis_db(redis_url)
        if not args.keep:
            dataset.drop_database(args.server, DB_NAME)


if __name__ == "__main__":
    main()
