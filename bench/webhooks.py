"""Webhook intake under load: signed Fathom deliveries POSTed at gunicorn. Run by hand.

    .venv/bin/python bench/webhooks.py [--deliveries 2000] [--concurrency 16] [--drain-after]
                                       [--server postgresql://postgres@127.0.0.1:5432/postgres]
                                       [--redis redis://127.0.0.1:6379]

Starts the Procfile's `web` command (gunicorn, same flags) on a fresh PostgreSQL database
(callvault_bench_webhooks) and a Redis database index leased the way the test suite leases its
own (so a concurrent test run's database is never flushed), plus two `worker` processes. A load client then
POSTs the same number of signed deliveries first at a bare endpoint that only verifies the
signature and answers 204, then at POST /webhooks/fathom (every one a different meeting). It
reports accepted/s and p50/p99 acknowledgement latency for both (the ratio is the figure), and the
time until every accepted delivery is a call in the database.

The workers run beside gunicorn on the same CPUs, draining while the load goes on. With --drain-after
they are started and warm before the load, paused (SIGSTOP) during it and resumed at the last
acknowledgement: intake and processing timed apart, as when web and worker processes run on machines
of their own (the Procfile's process types; on 2 CPUs a drain during the load takes CPU from gunicorn
that the bare endpoint's run never had to share).
"""
import argparse
import gc
import http.client
import json
import os
import shlex
import signal
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

import psycopg
import redis
from cryptography.fernet import Fernet
from standardwebhooks import Webhook

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DB_NAME = "callvault_bench_webhooks"
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
RECORDER = "bench@example.com"
BARE_PATH, WEBHOOK_PATH = "/bench/bare", "/webhooks/fathom"


def bench_app(overrides: dict | None = None):
    """The app gunicorn serves here: CallVault plus the bare endpoint, in the same processes."""
    from flask import request

    from callvault import create_app
    from callvault.extensions import csrf

    app = create_app(overrides)
    webhook = Webhook(os.environ["FATHOM_OAUTH_WEBHOOK_SECRET"])

    @csrf.exempt
    @app.post(BARE_PATH)
    def bare():
        try:
            webhook.verify(request.get_data(), request.headers, json_parse=False)
        except Exception:
            return "", 401
        return "", 204

    gc.freeze()  # as app.py does
    return app


# --- setting up ----------------------------------------------------------------------------------

def lease_redis_db(url: str) -> str:
    """A free Redis database index (1-15), leased with the test suite's keys in db 0 for an hour."""
    from urllib.parse import urlsplit, urlunsplit

    base = redis.Redis.from_url(urlunsplit(urlsplit(url)._replace(path="/0")))
    for index in range(15, 0, -1):
        if base.set(f"callvault-test-lease:{index}", f"bench-{os.getpid()}", nx=True, ex=3600):
            return urlunsplit(urlsplit(url)._replace(path=f"/{index}"))
    raise SystemExit("every Redis database 1-15 is leased by a test run; try again later")


def release_redis_db(url: str) -> None:
    from urllib.parse import urlsplit, urlunsplit

    index = urlsplit(url).path.lstrip("/")
    redis.Redis.from_url(urlunsplit(urlsplit(url)._replace(path="/0"))).delete(f"callvault-test-lease:{index}")


def prepare(server: str, redis_url: str) -> dict:
    with psycopg.connect(server, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{DB_NAME}"')
    env = {**os.environ, "DATABASE_URL": server.rsplit("/", 1)[0] + "/" + DB_NAME, "REDIS_URL": redis_url,
           "SECRET_KEY": "bench", "CREDENTIALS_ENCRYPTION_KEY": Fernet.generate_key().decode(),
           "FATHOM_OAUTH_WEBHOOK_SECRET": SECRET, "CALLVAULT_ENV": "production", "PORT": "8765",
           "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}  # gunicorn, python: the venv's
    redis.Redis.from_url(redis_url).flushdb()
    code = ("from callvault import create_app; from callvault.extensions import db; "
            "from callvault.accounts import create_user; app = create_app()\n"
            f"with app.app_context(): db.create_all(); create_user({RECORDER!r}, 'bench-password-1')")
    subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, check=True)
    return env


def payloads(n: int) -> list[bytes]:
    """Realistic meetings (40 transcript lines, summary, action items), each a different recording."""
    from sandboxes.fathom import FathomSandbox

    sandbox = FathomSandbox(seed=7)
    return [json.dumps(sandbox.add_meeting(RECORDER)).encode() for _ in range(n)]


def sign(body: bytes, index: int, run: str) -> dict:
    msg_id, now = f"msg_{run}_{index}", datetime.now(timezone.utc)
    return {"content-type": "application/json", "webhook-id": msg_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": Webhook(SECRET).sign(msg_id, now, body.decode())}


def start(command: str, env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen(["bash", "-c", f"exec {command}"], env=env, cwd=ROOT, stdout=log.open("ab"),
                            stderr=subprocess.STDOUT, start_new_session=True)


def procfile(name: str) -> str:
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.startswith(f"{name}:"):
            return line.split(":", 1)[1].strip()
    raise SystemExit(f"Procfile has no {name} process")


def wait_for_workers(redis_url: str, count: int) -> None:
    """Until `count` RQ workers have registered (imports done, listening)."""
    from rq import Worker
    connection = redis.Redis.from_url(redis_url)
    deadline = time.monotonic() + 60
    while Worker.count(connection=connection) < count:
        if time.monotonic() > deadline:
            raise SystemExit(f"the {count} workers did not start within a minute")
        time.sleep(0.2)


def wait_until_up(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit("gunicorn did not come up; see /tmp/callvault-bench-web.log")


# --- load ----------------------------------------------------------------------------------------

def _post_many(port: int, path: str, requests: list[tuple[bytes, dict]]) -> list[tuple[int, float]]:
    connection, results = http.client.HTTPConnection("127.0.0.1", port, timeout=60), []
    for body, headers in requests:
        started = time.perf_counter()
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        results.append((response.status, time.perf_counter() - started))
        if response.getheader("connection", "").lower() == "close":
            connection.close()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    return results


def _process_share(port: int, path: str, requests: list, threads: int) -> list[tuple[int, float]]:
    results, lock = [], threading.Lock()

    def run(share):
        got = _post_many(port, path, share)
        with lock:
            results.extend(got)

    workers = [threading.Thread(target=run, args=(requests[i::threads],)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return results


def load(port: int, path: str, requests: list, concurrency: int, processes: int = 2) -> dict:
    """POST every request, `concurrency` at a time (keep-alive connections, over `processes` processes)."""
    started = time.perf_counter()
    with ProcessPoolExecutor(processes) as pool:
        shares = [pool.submit(_process_share, port, path, requests[i::processes], concurrency // processes)
                  for i in range(processes)]
        results = [r for share in shares for r in share.result()]
    elapsed = time.perf_counter() - started
    accepted = sorted(latency for status, latency in results if 200 <= status < 300)
    statuses = {}
    for status, _ in results:
        statuses[status] = statuses.get(status, 0) + 1
    return {"accepted": len(accepted), "statuses": statuses, "seconds": elapsed, "per_second": len(accepted) / elapsed,
            "p50_ms": 1000 * statistics.median(accepted),
            "p99_ms": 1000 * accepted[min(len(accepted) - 1, int(len(accepted) * 0.99))]}


def count_calls(database_url: str) -> int:
    with psycopg.connect(database_url) as connection:
        return connection.execute("SELECT count(*) FROM calls").fetchone()[0]


def delivery_states(database_url: str) -> dict:
    with psycopg.connect(database_url) as connection:
        return dict(connection.execute("SELECT status, count(*) FROM webhook_deliveries GROUP BY status").fetchall())


def main(argv: list[str] | None = None) -> dict:
    """Run the benchmark (argv as on the command line), print the table, and return its numbers:
    {"bare": {...}, "intake": {...}, "ratio": {...}, "drain": {...}} (see `run`)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deliveries", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379", help="server; a free db index is leased")
    parser.add_argument("--drain-after", action="store_true",
                        help="pause the (started, warm) workers during the load and resume them at the last ack")
    args = parser.parse_args(argv)

    redis_url = lease_redis_db(args.redis)
    try:
        return run(args, redis_url)
    finally:
        release_redis_db(redis_url)


def run(args, redis_url: str) -> dict:
    env = prepare(args.server, redis_url)
    port, database_url = int(env["PORT"]), env["DATABASE_URL"]
    bodies = payloads(args.deliveries)
    web_command = procfile("web").replace("app:app", shlex.quote("bench.webhooks:bench_app()"), 1)
    processes = [start(web_command, env, Path("/tmp/callvault-bench-web.log"))]
    workers = [start(procfile("worker"), env, Path("/tmp/callvault-bench-worker.log")) for _ in range(2)]
    processes += workers
    try:
        wait_until_up(port)
        wait_for_workers(redis_url, len(workers))
        if args.drain_after:
            for worker in workers:
                os.killpg(worker.pid, signal.SIGSTOP)
        load(port, BARE_PATH, [(b, sign(b, i, "warm")) for i, b in enumerate(bodies[:50])], args.concurrency)

        bare = load(port, BARE_PATH, [(b, sign(b, i, "bare")) for i, b in enumerate(bodies)], args.concurrency)
        first_post = time.perf_counter()
        full = load(port, WEBHOOK_PATH, [(b, sign(b, i, "full")) for i, b in enumerate(bodies)], args.concurrency)
        last_ack = time.perf_counter()
        if args.drain_after:
            for worker in workers:
                os.killpg(worker.pid, signal.SIGCONT)
        while count_calls(database_url) < full["accepted"]:
            if time.perf_counter() - last_ack > 600:
                raise SystemExit(f"gave up: {count_calls(database_url)} calls after 10 minutes")
            time.sleep(0.1)
        all_calls = time.perf_counter()
    finally:
        for process in processes:
            os.killpg(process.pid, signal.SIGCONT)  # a paused worker must be running to stop
            os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            process.wait(timeout=30)

    print(f"{args.deliveries} deliveries of ~{statistics.mean(map(len, bodies)) / 1024:.1f} KB, "
          f"concurrency {args.concurrency}, `{procfile('web')}`, 2 workers"
          f"{' paused during the load' if args.drain_after else ' running during the load'}, {os.cpu_count()} CPUs")
    for name, result in (("bare verify + 204", bare), ("POST /webhooks/fathom", full)):
        print(f"  {name:22} {result['per_second']:7.1f} accepted/s   p50 {result['p50_ms']:6.1f} ms   "
              f"p99 {result['p99_ms']:6.1f} ms   statuses {result['statuses']}")
    print(f"  ratio (full/bare)      {full['per_second'] / bare['per_second']:7.2f} throughput   "
          f"p50 x{full['p50_ms'] / bare['p50_ms']:.1f}   p99 x{full['p99_ms'] / bare['p99_ms']:.1f}")
    print(f"  every accepted delivery a call: {all_calls - first_post:.1f} s after the first POST, "
          f"{all_calls - last_ack:.1f} s after the last acknowledgement")
    states = delivery_states(database_url)
    print(f"  delivery rows: {states}; calls: {count_calls(database_url)}")
    keys = ("per_second", "p50_ms", "p99_ms", "accepted", "statuses")
    return {"deliveries": args.deliveries, "concurrency": args.concurrency, "drain_after": args.drain_after,
            "bare": {k: bare[k] for k in keys}, "intake": {k: full[k] for k in keys},
            "ratio": {"throughput": full["per_second"] / bare["per_second"],
                      "p50": full["p50_ms"] / bare["p50_ms"], "p99": full["p99_ms"] / bare["p99_ms"]},
            "drain": {"seconds_after_first_post": all_calls - first_post,
                      "seconds_after_last_ack": all_calls - last_ack},
            "delivery_rows": states, "calls": count_calls(database_url)}


if __name__ == "__main__":
    main(sys.argv[1:])
