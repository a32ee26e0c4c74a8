"""Dashboard and transcript-viewer response times on a large vault. Run by hand; prints p50/p95.

    .venv/bin/python bench/dashboard.py [--server postgresql://postgres@127.0.0.1:5432/postgres]
                                        [--calls 50000] [--segments 2500000] [--requests 40]
                                        [--browser 10] [--reuse] [--keep]

Creates a PostgreSQL database (callvault_bench) with bench/dataset.py — users, calls spread over the
last year, participants, action items, transcript segments (ten 3-hour calls of 5,000 segments, the
rest shorter), exports, webhook deliveries, sync jobs, calendars and their events — then times each
page and API through the Flask test client (templates included, no network). `--reuse` skips loading
when the database exists. Request logging is silenced while timing.
"""
import argparse
import gc
import logging
import os
import statistics
import sys
import time
from pathlib import Path

from cryptography.fernet import Fernet

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import dataset  # noqa: E402
os.environ.setdefault("SECRET_KEY", "bench")
os.environ.setdefault("CREDENTIALS_ENCRYPTION_KEY", Fernet.generate_key().decode())
for name in ("DATABASE_URL", "REDIS_URL", "EXPORT_DATABASE_URL", "EXPORT_WEBHOOK_URL"):
    os.environ.pop(name, None)

from callvault import create_app  # noqa: E402
from callvault.config import normalize_database_url  # noqa: E402
from callvault.extensions import db  # noqa: E402
from callvault.transcripts.links import create_token  # noqa: E402

LONG_SEGMENTS = dataset.LONG_SEGMENTS

DB_NAME = "callvault_bench"


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


CHROMIUM = "/usr/bin/chromium"


def measure_in_browser(app, path: str, loads: int) -> dict:
    """Load `path` in headless Chromium (desktop and a 390px phone) through a real HTTP server and
    report the browser's own navigation timings, then how long find-in-transcript takes to filter.
    Returns {(viewport label, timing name): samples in ms}."""
    import threading

    from playwright.sync_api import sync_playwright
    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # its access log would print the token
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    print(f"\n{'in Chromium, ' + path.split('?')[0]:40} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}   "
          f"({loads} loads each)")
    measured = {}
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                 args=["--no-sandbox", "--disable-gpu"])
            for label, viewport in (("desktop 1280px", {"width": 1280, "height": 900}),
                                    ("phone 390px", {"width": 390, "height": 844})):
                context = browser.new_context(viewport=viewport)
                page = context.new_page()
                timings = {"first byte": [], "last byte": [], "DOM interactive": [], "DOM ready": [], "load": [],
                           "first paint": [], "find 'pricing'": []}
                for n in range(loads + 2):
                    page.goto(base + path, wait_until="load")
                    nav = page.evaluate("(() => { const n = performance.getEntriesByType('navigation')[0];"
                                        " const p = performance.getEntriesByName('first-contentful-paint')[0];"
                                        " return [n.responseStart, n.responseEnd, n.domInteractive,"
                                        " n.domContentLoadedEventEnd, n.loadEventEnd, p ? p.startTime : NaN]; })()")
                    found = page.evaluate("""() => new Promise(done => {
                        const input = document.getElementById('find'), count = document.getElementById('find-count');
                        const started = performance.now();
                        new MutationObserver((_, observer) => { observer.disconnect();
                            requestAnimationFrame(() => done(performance.now() - started)); })
                          .observe(count, {childList: true, characterData: true, subtree: true});
                        input.value = 'pricing'; input.dispatchEvent(new Event('input'));
                    })""")
                    if n >= 2:  # two warm-ups
                        for key, value in zip(timings, (*nav, found - 150)):  # minus the 150 ms debounce
                            timings[key].append(value)
                for key, samples in timings.items():
                    measured[(label, key)] = samples
                    print(f"  {label + ', ' + key:38} {statistics.median(samples):8.1f} "
                          f"{percentile(samples, .95):8.1f} {max(samples):8.1f}")
                context.close()
            browser.close()
    finally:
        server.shutdown()
    return measured


def measure(url: str, requests: int, browser_loads: int = 0) -> None:
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "INPROCESS_WORKER": False, "WTF_CSRF_ENABLED": False,
                      "TRANSCRIPT_TOKEN_SECRET": "bench-secret", "EXPORT_DATABASE_URL": "postgresql://hub/x",
                      "EXPORT_WEBHOOK_URL": "https://hooks.example/x"})
    gc.freeze()  # as app.py does for the web process
    with app.app_context():
        from callvault.models import User
        admin = db.session.get(User, 1)
        admin.set_password("bench-password-1")
        db.session.commit()
        day = db.session.execute(db.text("SELECT date(started_at) FROM calls GROUP BY 1 ORDER BY count(*) DESC "
                                         "LIMIT 1")).scalar().isoformat()
        long_call = db.session.execute(db.text("SELECT call_id FROM transcript_segments WHERE position = 4999 "
                                               "LIMIT 1")).scalar()
        short_call = db.session.execute(db.text("SELECT max(id) FROM calls")).scalar()
        counts = db.session.execute(db.text("SELECT (SELECT count(*) FROM calls), "
                                            "(SELECT count(*) FROM transcript_segments)")).one()
    print(f"vault: {counts[0]:,} calls, {counts[1]:,} segments; busiest day {day}")
    logging.getLogger("callvault").setLevel(logging.WARNING)  # no request log lines while timing
    client = app.test_client()
    response = client.post("/login", data={"email": "admin@example.com", "password": "bench-password-1"})
    assert response.status_code == 302, response.status_code
    anonymous = app.test_client()

    def token(call_id):
        return create_token("bench-secret", call_id, "person1.%d@example.com" % (call_id % 500))

    cases = [
        ("GET /dashboard/ (page)", client, f"/dashboard/?date={day}", {}),
        ("GET /dashboard/ (htmx refresh)", client, f"/dashboard/?date={day}",
         {"HX-Request": "true", "HX-Target": "dash-body"}),
        ("GET /dashboard/api/summary/", client, "/dashboard/api/summary/", {}),
        ("GET /dashboard/api/pipeline/", client, f"/dashboard/api/pipeline/?date={day}", {}),
        ("GET /dashboard/api/events/", client, f"/dashboard/api/events/?date={day}", {}),
        ("GET /dashboard/api/failures/?days=7", client, "/dashboard/api/failures/?days=7", {}),
        ("GET /dashboard/api/failures/?days=90", client, "/dashboard/api/failures/?days=90", {}),
        (f"viewer, {LONG_SEGMENTS:,} segments", anonymous,
         f"/dashboard/transcripts/{long_call}/?token={token(long_call)}", {}),
        ("viewer, short call", anonymous, f"/dashboard/transcripts/{short_call}/?token={token(short_call)}", {}),
    ]
    print(f"\n{'request':40} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}   ({requests} requests each, "
          "after 3 warm-ups)")
    for label, http, path, headers in cases:
        for _ in range(3):
            assert http.get(path, headers=headers).status_code == 200, label
        samples = []
        for _ in range(requests):
            started = time.perf_counter()
            response = http.get(path, headers=headers)
            samples.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200
        print(f"{label:40} {statistics.median(samples):8.1f} {percentile(samples, .95):8.1f} {max(samples):8.1f}")
    if browser_loads:
        measure_in_browser(app, f"/dashboard/transcripts/{long_call}/?token={token(long_call)}", browser_loads)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    dataset.add_arguments(parser, requests=40)
    parser.add_argument("--browser", type=int, default=0, metavar="LOADS",
                        help=f"also load the {LONG_SEGMENTS:,}-segment viewer LOADS times in headless Chromium")
    args = parser.parse_args()
    url, _ = dataset.prepare(parser, args, DB_NAME)
    try:
        measure(normalize_database_url(url), args.requests, args.browser)
    finally:
        if not args.keep:
            dataset.drop_database(args.server, DB_NAME)


if __name__ == "__main__":
    main()
