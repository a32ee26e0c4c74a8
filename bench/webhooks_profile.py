"""Where the webhook intake and the drain spend their time: pyinstrument over both. Run by hand.

    .venv/bin/python bench/webhooks_profile.py [--deliveries 300]
                                               [--server postgresql://postgres@127.0.0.1:5432/postgres]

1. The request path: POST /webhooks/fathom (the Redis inbox intake, on fakeredis so that only our own
   code and Redis's client are measured) beside the bench's bare verify-only endpoint, through Flask's
   test client, in this process.
2. The drain: the same deliveries recorded (`intake.record`) and processed (`intake.process_many`) in
   batches on a fresh PostgreSQL database (callvault_profile_webhooks).
Prints ms per delivery for each and writes the profiles to /tmp/callvault-profile-*.txt.
"""
import argparse
import logging
import os
import sys
import time
from pathlib import Path

import psycopg
from cryptography.fernet import Fernet
from pyinstrument import Profiler

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DB_NAME = "callvault_profile_webhooks"


def profiled(name: str, work, count: int) -> float:
    profiler = Profiler(interval=0.0005)
    profiler.start()
    started = time.perf_counter()
    work()
    elapsed = time.perf_counter() - started
    profiler.stop()
    Path(f"/tmp/callvault-profile-{name}.txt").write_text(profiler.output_text(unicode=False, color=False))
    return 1000 * elapsed / count


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deliveries", type=int, default=300)
    parser.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args(argv)
    from bench.webhooks import BARE_PATH, RECORDER, SECRET, WEBHOOK_PATH, payloads, sign

    os.environ.update(SECRET_KEY="profile", CREDENTIALS_ENCRYPTION_KEY=Fernet.generate_key().decode(),
                      CALLVAULT_ENV="testing", FATHOM_OAUTH_WEBHOOK_SECRET=SECRET)
    with psycopg.connect(args.server, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{DB_NAME}"')
    database_url = args.server.replace("postgresql://", "postgresql+psycopg://", 1).rsplit("/", 1)[0] + "/" + DB_NAME
    from bench.webhooks import bench_app
    from callvault.accounts import create_user
    from callvault.extensions import db
    from callvault.webhooks import intake

    app = bench_app({"WEBHOOK_INTAKE": "redis", "SQLALCHEMY_DATABASE_URI": database_url, "INPROCESS_WORKER": False})
    logging.disable(logging.INFO)
    bodies = payloads(args.deliveries)
    client = app.test_client()
    results = {}
    for name, path in (("bare", BARE_PATH), ("intake", WEBHOOK_PATH)):
        requests = [(body, sign(body, i, name)) for i, body in enumerate(bodies)]
        results[f"{name}_ms"] = profiled(name, lambda: [client.post(path, data=b, headers=h) for b, h in requests],
                                         len(requests))
    with app.app_context():
        db.create_all()
        create_user(RECORDER, "profile-password-1")
        batch = app.config["WEBHOOK_DRAIN_BATCH"]
        entries = [entry for _, entry in intake.inbox.read(len(bodies))]
        recorded = []
        results["record_ms"] = profiled("record", lambda: [recorded.extend(intake.record(entries[i:i + batch]))
                                                           for i in range(0, len(entries), batch)], len(entries))
        ids = [r.delivery_id for r in recorded]
        results["process_ms"] = profiled("process", lambda: [intake.process_many(ids[i:i + batch])
                                                             for i in range(0, len(ids), batch)], len(ids))
        db.session.remove()
        db.engine.dispose()
    print(f"{args.deliveries} deliveries, ms each: bare request {results['bare_ms']:.2f}, intake request "
          f"{results['intake_ms']:.2f}, recording {results['record_ms']:.2f}, processing {results['process_ms']:.2f}"
          " (profiles: /tmp/callvault-profile-{bare,intake,record,process}.txt)")
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
