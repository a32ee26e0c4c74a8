"""Every goal of issue 17 (and the MCP goal of issue 16) measured in one run, printed as one table.

    .venv/bin/python bench/run_all.py [--server postgresql://postgres@127.0.0.1:5432/postgres]
                                      [--calls 50000] [--segments 2500000] [--requests 30]
                                      [--browser 5] [--intake 1000] [--skip-intake] [--skip-mcp]
                                      [--reuse] [--keep]

Loads one PostgreSQL vault (callvault_bench_all: bench/dataset.py with the dashboard's rows, the
words bench/search.py sprinkles and the full-text schema) and measures on it, one after another:

- pages and APIs through the Flask test client (dashboard page and htmx refresh, the dashboard's
  JSON APIs, the library, a call page, the viewer of a short and a 5,000-segment call);
- the 5,000-segment viewer's DOM-ready in Chromium (desktop and phone);
- every full-text query shape in the library (htmx) and the API, as an admin and as a member;
- MCP `search_meetings` and `get_transcript` over HTTP against gunicorn (bench/mcp.py);
- webhook intake and drain (bench/webhooks.py, its own database), with the workers paused during the
  load (the goals) and again with them draining on the same CPUs (shown beside).

Each row shows p50 and p95 (intake: throughput and p99), the goal, and the ratio to the goal
(< 1 meets it). Baselines measured in the same run sit in the table too: GET /healthz through the
same client, the JSON API under MCP, the bare endpoint under intake. The machine's load average is
printed before and after, as the numbers move with it. `--reuse` keeps an existing database.
"""
import argparse
import gc
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# This file's folder must not come first on sys.path: bench/mcp.py would shadow the SDK's `mcp`.
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
from bench import dashboard, dataset, search  # noqa: E402
from bench import mcp as mcp_bench  # noqa: E402

from callvault import create_app  # noqa: E402
from callvault.config import normalize_database_url  # noqa: E402
from callvault.extensions import db  # noqa: E402
from callvault.transcripts.links import create_token  # noqa: E402

DB_NAME = "callvault_bench_all"
PAGE_GOAL, DOM_GOAL, SEARCH_GOAL, MCP_GOAL = 150.0, 500.0, 150.0, 200.0
percentile = dashboard.percentile


class Table:
    def __init__(self):
        self.rows = []

    def timed(self, item: str, label: str, samples: list[float], goal: float | None) -> None:
        p50, p95 = statistics.median(samples), percentile(samples, .95)
        self.rows.append((item, label, f"{p50:.1f}", f"{p95:.1f}", f"p95 < {goal:.0f}" if goal else "baseline",
                          f"{p95 / goal:.2f}" if goal else "", ("ok" if p95 < goal else "MISS") if goal else ""))
        print(f"  {label:60} p50 {p50:7.1f}  p95 {p95:7.1f}", flush=True)

    def other(self, item: str, label: str, first: str, second: str, goal: str, ratio: float | None, met):
        self.rows.append((item, label, first, second, goal, "" if ratio is None else f"{ratio:.2f}",
                          "" if met is None else ("ok" if met else "MISS")))

    def print(self) -> None:
        head = ("item", "measure", "p50 ms", "p95 ms", "goal", "ratio", "")
        widths = [max(len(str(r[i])) for r in self.rows + [head]) for i in range(len(head))]
        line = "  ".join(f"{{:{'<' if i < 2 else '>'}{w}}}" for i, w in enumerate(widths))
        print("\n" + line.format(*head))
        print("  ".join("-" * w for w in widths))
        for row in self.rows:
            print(line.format(*row))
        missed = sum(1 for r in self.rows if r[-1] == "MISS")
        print(f"\n{len([r for r in self.rows if r[-1]])} goals measured, {missed} missed. "
              "ratio = p95 / goal (intake: goal / measured; < 1 meets it)")


def time_requests(http, path: str, headers: dict, requests: int) -> list[float]:
    for _ in range(3):
        response = http.get(path, headers=headers)
        assert response.status_code == 200, (path, response.status_code)
    samples = []
    for _ in range(requests):
        started = time.perf_counter()
        response = http.get(path, headers=headers)
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (path, response.status_code)
    return samples


def pages(app, table: Table, requests: int, browser_loads: int) -> None:
    print("\npages and APIs (Flask test client)", flush=True)
    with app.app_context():
        from callvault.models import User
        db.session.get(User, 1).set_password("bench-password-1")
        db.session.commit()
        day = db.session.execute(db.text("SELECT date(started_at) FROM calls GROUP BY 1 ORDER BY count(*) DESC "
                                         "LIMIT 1")).scalar().isoformat()
        short_call = db.session.execute(db.text("SELECT max(id) FROM calls")).scalar()
    long_call = mcp_bench.LONG_CALL
    client = app.test_client()
    assert client.post("/login", data={"email": "admin@example.com", "password": "bench-password-1"}).status_code == 302
    anonymous = app.test_client()

    def viewer(call_id):
        token = create_token("bench-secret", call_id, "person1.%d@example.com" % (call_id % 500))
        return f"/dashboard/transcripts/{call_id}/?token={token}"

    cases = [
        ("baseline", "GET /healthz", anonymous, "/healthz", {}, None),
        ("3 pages", "GET /dashboard/ (page)", client, f"/dashboard/?date={day}", {}, PAGE_GOAL),
        ("3 pages", "GET /dashboard/ (htmx refresh)", client, f"/dashboard/?date={day}",
         {"HX-Request": "true", "HX-Target": "dash-body"}, PAGE_GOAL),
        ("3 pages", "GET /dashboard/api/summary/", client, "/dashboard/api/summary/", {}, PAGE_GOAL),
        ("3 pages", "GET /dashboard/api/pipeline/", client, f"/dashboard/api/pipeline/?date={day}", {}, PAGE_GOAL),
        ("3 pages", "GET /dashboard/api/events/", client, f"/dashboard/api/events/?date={day}", {}, PAGE_GOAL),
        ("3 pages", "GET /dashboard/api/failures/?days=7", client, "/dashboard/api/failures/?days=7", {}, PAGE_GOAL),
        ("3 pages", "GET /dashboard/api/failures/?days=90", client, "/dashboard/api/failures/?days=90", {},
         PAGE_GOAL),
        ("3 pages", "GET /calls (library, admin)", client, "/calls", {}, PAGE_GOAL),
        ("3 pages", "GET /calls (library, htmx next page)", client, "/calls?source=fathom",
         {"HX-Request": "true", "HX-Target": "calls-table"}, PAGE_GOAL),
        ("3 pages", f"GET /calls/{long_call} (call page, 5,000 segments)", client, f"/calls/{long_call}", {},
         PAGE_GOAL),
        ("3 pages", f"GET /calls/{short_call} (call page, short call)", client, f"/calls/{short_call}", {},
         PAGE_GOAL),
        ("3 pages", "viewer, 5,000 segments", anonymous, viewer(long_call), {}, PAGE_GOAL),
        ("3 pages", "viewer, short call", anonymous, viewer(short_call), {}, PAGE_GOAL),
    ]
    for item, label, http, path, headers, goal in cases:
        table.timed(item, label, time_requests(http, path, headers, requests), goal)
    if browser_loads:
        measured = dashboard.measure_in_browser(app, viewer(long_call), browser_loads)
        for (viewport, timing), samples in measured.items():
            if timing in ("first byte", "DOM ready"):
                table.timed("3 viewer in Chromium", f"5,000 segments, {viewport}, {timing}", samples,
                            DOM_GOAL if timing == "DOM ready" else None)


def searches(app, table: Table, requests: int) -> None:
    print("\nfull-text search (library htmx and API, admin and member)", flush=True)
    with app.app_context():
        from callvault import accounts
        from callvault.models import User
        for user_id, password in ((1, "bench-password-1"), (search.MEMBER_ID, "bench-password-2")):
            db.session.get(User, user_id).set_password(password)
        db.session.commit()
        tokens = {who: accounts.issue_api_token(db.session.get(User, uid))
                  for who, uid in (("admin", 1), ("member", search.MEMBER_ID))}
    clients = {}
    for who, email, password in (("admin", "admin@example.com", "bench-password-1"),
                                 ("member", f"user{search.MEMBER_ID}@example.com", "bench-password-2")):
        clients[who] = app.test_client()
        assert clients[who].post("/login", data={"email": email, "password": password}).status_code == 302
    for label, q in search.QUERIES:
        for who in ("admin", "member"):
            library = time_requests(clients[who], "/calls?" + _query(q), {"HX-Request": "true",
                                                                         "HX-Target": "calls-table"}, requests)
            table.timed("4 search", f"library  {q}  ({who})", library, SEARCH_GOAL)
            api = time_requests(clients[who], "/api/v1/calls?limit=25&" + _query(q),
                                {"Authorization": f"Bearer {tokens[who]}"}, requests)
            table.timed("4 search", f"API  {q}  ({who})", api, SEARCH_GOAL)


def _query(q: str) -> str:
    from urllib.parse import urlencode
    return urlencode({"q": q})


def mcp_tools(url: str, table: Table, requests: int) -> None:
    import anyio
    print("\nMCP over HTTP (gunicorn, the SDK's client), the JSON API as baseline", flush=True)
    from bench.webhooks import lease_redis_db, release_redis_db
    issued = mcp_bench.tokens(url)
    port = mcp_bench.free_port()
    redis_url = lease_redis_db("redis://127.0.0.1:6379")
    server = mcp_bench.serve(normalize_database_url(url), port, redis_url)
    rows = []
    try:
        anyio.run(mcp_bench.measure, f"http://127.0.0.1:{port}", issued, requests, rows)
    finally:
        server.terminate()
        server.wait(timeout=30)
        release_redis_db(redis_url)
    for label, samples, baseline in rows:
        is_tool = label.startswith("MCP")
        table.timed("16 MCP", label, samples, MCP_GOAL if is_tool else None)


def intake(server: str, deliveries: int, table: Table) -> None:
    """bench/webhooks.py's `main(argv)` twice: the bare endpoint and the real one in one run, then the drain.

    The goals are judged with the workers paused during the load (`--drain-after`): web and worker
    processes are the Procfile's separate process types, on machines of their own in production; here
    they share 2 CPUs, and a drain running during the load takes CPU from gunicorn that the bare
    endpoint's run never had to give. The drain then starts at the last acknowledgement (the stricter
    timing). The second run, with the workers draining during the load, is shown beside it."""
    from bench import webhooks
    for apart in (True, False):
        how = "workers paused during the load" if apart else "workers draining during the load, same CPUs"
        print(f"\nwebhook intake and drain ({deliveries} deliveries, bench/webhooks.py, {how})", flush=True)
        result = webhooks.main(["--deliveries", str(deliveries), "--server", server] + (["--drain-after"] if apart else []))
        bare, full = result["bare"], result["intake"]
        suffix = "" if apart else " (drain on the same CPUs)"
        table.other("1 intake", f"bare verify + 204: accepted/s, p99 ms{suffix}", f"{bare['per_second']:.0f}/s",
                    f"{bare['p99_ms']:.1f}", "baseline", None, None)
        throughput, p99 = full["per_second"] / bare["per_second"], full["p99_ms"] / bare["p99_ms"]
        table.other("1 intake", f"POST /webhooks/fathom: accepted/s, p99 ms{suffix}", f"{full['per_second']:.0f}/s",
                    f"{full['p99_ms']:.1f}", ">= 0.5 x bare/s" if apart else f"{throughput:.2f} x bare/s",
                    0.5 / throughput if apart else None, throughput >= 0.5 if apart else None)
        table.other("1 intake", f"  p99 against the bare endpoint's{suffix}", "", f"x{p99:.1f}",
                    "<= 2 x bare p99" if apart else "", p99 / 2 if apart else None, p99 <= 2 if apart else None)
        drain = (result.get("drain") or {}).get("seconds_after_last_ack")
        if drain is not None:
            table.other("2 drain", f"every delivery a call, s after the last ack{suffix}", f"{drain:.1f} s", "",
                        "< 10 s" if apart else "", drain / 10 if apart else None, drain < 10 if apart else None)


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    dataset.add_arguments(parser, requests=30)
    parser.add_argument("--browser", type=int, default=5, metavar="LOADS",
                        help="loads of the 5,000-segment viewer in Chromium per viewport (0: skip)")
    parser.add_argument("--intake", type=int, default=1000, metavar="DELIVERIES", help="webhook deliveries to POST")
    parser.add_argument("--skip-intake", action="store_true")
    parser.add_argument("--skip-mcp", action="store_true")
    args = parser.parse_args()
    print(f"load average {load_average()} on {os.cpu_count()} CPUs", flush=True)
    url, built = dataset.prepare(parser, args, DB_NAME)
    if built:
        search.sprinkle(url, dataset.log_line)
        search.apply_search_schema(url, dataset.log_line)
    app = create_app({"SQLALCHEMY_DATABASE_URI": normalize_database_url(url), "INPROCESS_WORKER": False,
                      "WTF_CSRF_ENABLED": False, "TRANSCRIPT_TOKEN_SECRET": "bench-secret",
                      "EXPORT_DATABASE_URL": "postgresql://hub/x", "EXPORT_WEBHOOK_URL": "https://hooks.example/x"})
    gc.freeze()  # as app.py does for the web process
    import logging
    logging.getLogger("callvault").setLevel(logging.WARNING)
    table = Table()
    try:
        pages(app, table, args.requests, args.browser)
        searches(app, table, args.requests)
        with app.app_context():
            db.engine.dispose()
        if not args.skip_mcp:
            mcp_tools(url, table, args.requests)
        if not args.skip_intake:
            intake(args.server, args.intake, table)
    finally:
        with app.app_context():
            db.engine.dispose()
        if not args.keep:
            dataset.drop_database(args.server, DB_NAME)
    table.print()
    print(f"load average {load_average()} at the end")


if __name__ == "__main__":
    main()
