"""Fathom sync benchmark against the sandbox: meetings per minute and Fathom calls per meeting.

    .venv/bin/python bench/fathom_sync.py [--meetings 500] [--api-key-window 20] [--oauth-window 4]
                                          [--fail-rate 0.05] [--segments 20] [--only api_key|oauth]

Time is compressed: the sandbox's rate-limit window lasts W seconds instead of Fathom's 60, so
"meetings/min" below is meetings per Fathom minute (meetings ÷ elapsed × W). The ceiling is the
best any client can do under the limits: 30 heavy calls a window → 300 meetings/min with an API
key (10 meetings a page) and 15/min with OAuth (two heavy calls a meeting). A short run can beat
the steady ceiling by spending the first window's whole budget at once; "run ceiling" accounts for
that. Pick W large enough that the database is not the bottleneck (a few ms a meeting).

Runs on a temporary SQLite database and in-process fakeredis; nothing outside the process is touched.
"""
import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path

from cryptography.fernet import Fernet

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.update(CALLVAULT_ENV="testing", SECRET_KEY="bench", CREDENTIALS_ENCRYPTION_KEY=Fernet.generate_key().decode())
for name in ("DATABASE_URL", "REDIS_URL", "FATHOM_SANDBOX"):
    os.environ.pop(name, None)

from callvault import create_app  # noqa: E402
from callvault.accounts import create_user  # noqa: E402
from callvault.extensions import db  # noqa: E402
from callvault.fathom import credentials, listing, sync  # noqa: E402
from callvault.models import Call, FathomConnection, User  # noqa: E402
from sandboxes.fathom import FathomSandbox  # noqa: E402

EMAIL = "bench@example.com"
CLIENT_ID, CLIENT_SECRET, REDIRECT_URI = "bench", "bench-secret", "http://127.0.0.1/auth/fathom/callback/"
HEAVY_LIMIT = 30
MEETINGS_PER_PAGE = 10


def make_app(database_path: str):
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{database_path}", "INPROCESS_WORKER": False,
                      "FATHOM_RETRY_BASE_SECONDS": 0.05})
    with app.app_context():
        db.create_all()
        create_user(EMAIL, "bench-password-123")
    return app


def fresh_sandbox(app, args, window: float) -> FathomSandbox:
    sandbox = FathomSandbox(seed=11, window_seconds=window, heavy_limit=HEAVY_LIMIT, fail_rate=0).start()
    sandbox.add_oauth_client(CLIENT_ID, CLIENT_SECRET, REDIRECT_URI)
    sandbox.add_meetings(EMAIL, args.meetings, transcript_segments=args.segments)
    app.config.update(FATHOM_API_BASE_URL=sandbox.base_url, FATHOM_OAUTH_TOKEN_URL=sandbox.token_url,
                      FATHOM_OAUTH_AUTHORIZE_URL=sandbox.authorize_url, FATHOM_OAUTH_CLIENT_ID=CLIENT_ID,
                      FATHOM_OAUTH_CLIENT_SECRET=CLIENT_SECRET, FATHOM_OAUTH_REDIRECT_URI=REDIRECT_URI,
                      FATHOM_RATE_WINDOW_SECONDS=window)
    with app.app_context():
        app.extensions["redis"].flushall()
        db.session.execute(db.delete(Call))
        db.session.execute(db.delete(FathomConnection))
        db.session.commit()
    return sandbox


def connect(app, sandbox, kind: str) -> None:
    with app.app_context():
        user = db.session.execute(db.select(User).filter_by(email=EMAIL)).scalar_one()
        if kind == "api_key":
            db.session.add(FathomConnection(user_id=user.id, api_key=sandbox.add_api_key(EMAIL)))
            db.session.commit()
        else:
            credentials.connect_oauth(user, sandbox.issue_oauth_code(EMAIL, CLIENT_ID, REDIRECT_URI))


def run(app, sandbox, args, window: float, kind: str, after_fetch: bool) -> dict:
    connect(app, sandbox, kind)
    with app.app_context():
        user = db.session.execute(db.select(User).filter_by(email=EMAIL)).scalar_one()
        ids, fetch_calls = None, 0
        if after_fetch:  # the user pages through the fetch page first, then syncs what they saw
            before, cursor, ids = sandbox.count(), None, []
            while True:
                page, cursor = listing.fetch_meetings(user, cursor=cursor)
                ids += [m.recording_id for m in page]
                if not cursor:
                    break
            fetch_calls = sandbox.count() - before
            time.sleep(window)  # let the listing calls leave the window
        sandbox.fail_rate = args.fail_rate
        job_id = sync.start_sync(user, ids, enqueue_job=False).id
        before, started = sandbox.count(), time.monotonic()
        job = sync.run_sync(job_id)
        elapsed = time.monotonic() - started
        sandbox.fail_rate = 0
        calls = sandbox.count() - before
        stored = db.session.query(Call).count()
        distinct = db.session.query(Call.external_id).distinct().count()
    heavy_calls = (math.ceil(args.meetings / MEETINGS_PER_PAGE) if kind == "api_key" else 2 * args.meetings)
    fathom_minutes = elapsed / window
    run_ceiling_minutes = math.floor((heavy_calls - 1) / HEAVY_LIMIT)  # 0: the run fits in one window
    return {"kind": kind, "after_fetch": after_fetch, "status": job.status, "done": job.done, "failed": job.failed,
            "stored": stored, "distinct": distinct, "calls": calls, "fetch_calls": fetch_calls,
            "429": sandbox.count(status=429), "faults": sum(sandbox.count(status=s) for s in (500, 502, 503, 504)),
            "elapsed": elapsed, "window": window, "per_min": args.meetings / fathom_minutes,
            "steady_ceiling": HEAVY_LIMIT * (MEETINGS_PER_PAGE if kind == "api_key" else 0.5),
            "run_ceiling": args.meetings / run_ceiling_minutes if run_ceiling_minutes else math.inf}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--meetings", type=int, default=500)
    parser.add_argument("--segments", type=int, default=20, help="transcript segments per meeting")
    parser.add_argument("--api-key-window", type=float, default=20.0, help="seconds standing for Fathom's minute")
    parser.add_argument("--oauth-window", type=float, default=4.0, help="seconds standing for Fathom's minute")
    parser.add_argument("--fail-rate", type=float, default=0.0, help="share of calls answered 5xx")
    parser.add_argument("--only", choices=("api_key", "oauth"), help="run one credential's scenarios")
    args = parser.parse_args()

    scenarios = [(kind, after_fetch, args.api_key_window if kind == "api_key" else args.oauth_window)
                 for kind, after_fetch in (("api_key", False), ("oauth", True), ("oauth", False))
                 if args.only in (None, kind)]
    with tempfile.TemporaryDirectory() as tmp:
        app = make_app(str(Path(tmp) / "bench.sqlite3"))
        print(f"{args.meetings} meetings, {args.segments} transcript segments each, fail rate {args.fail_rate:.0%}")
        print(f"{'credential':<22}{'calls':>7}{'calls/mtg':>11}{'429s':>6}{'5xx':>5}{'elapsed':>9}"
              f"{'mtg/min':>9}{'ceiling':>9}{'run ceil':>10}{'stored':>8}  job")
        for kind, after_fetch, window in scenarios:
            sandbox = fresh_sandbox(app, args, window)
            try:
                r = run(app, sandbox, args, window, kind, after_fetch)
            finally:
                sandbox.stop()
            label = {"api_key": "API key", "oauth": "OAuth"}[kind] + (" (after fetch)" if after_fetch else "")
            print(f"{label:<22}{r['calls']:>7}{r['calls'] / args.meetings:>11.3f}{r['429']:>6}{r['faults']:>5}"
                  f"{r['elapsed']:>8.1f}s{r['per_min']:>9.1f}{r['steady_ceiling']:>9.0f}{r['run_ceiling']:>10.1f}"
                  f"{r['stored']:>8}  {r['status']} {r['done']}/{r['failed']}"
                  + (f"  (+{r['fetch_calls']} listing calls by the fetch page)" if after_fetch else ""))
            if r["stored"] != args.meetings or r["distinct"] != r["stored"]:
                print(f"  !! expected every meeting exactly once, found {r['stored']} rows "
                      f"({r['distinct']} distinct)")
        print(f"window: API key {args.api_key_window:g}s, OAuth {args.oauth_window:g}s = one Fathom minute; "
              f"mtg/min = meetings per Fathom minute")


if __name__ == "__main__":
    main()
