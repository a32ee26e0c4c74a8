"""Fixtures in the Flask tutorial's style: `app`, `client`, `runner`, plus users and calls.

Backends: real PostgreSQL and Redis when TEST_DATABASE_URL / TEST_REDIS_URL are set (CI sets
both), otherwise SQLite in a temporary file and fakeredis.
"""
import os
import re
import threading
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit
from datetime import datetime, timedelta, timezone

import pytest
from cryptography.fernet import Fernet
from werkzeug.serving import make_server

# Tests never read the developer's environment or write secrets under instance/.
for _name in ("DATABASE_URL", "REDIS_URL", "DYNO", "FATHOM_OAUTH_WEBHOOK_SECRET", "EXPORT_DATABASE_URL",
              "EXPORT_WEBHOOK_URL", "AI_API_BASE_URL", "AI_API_KEY", "AI_EMBEDDING_MODEL", "AI_CHAT_MODEL"):
    os.environ.pop(_name, None)
os.environ["CALLVAULT_ENV"] = "testing"
os.environ["SECRET_KEY"] = "test-secret-key"
os.environ["CREDENTIALS_ENCRYPTION_KEY"] = Fernet.generate_key().decode()
os.environ["TRANSCRIPT_TOKEN_SECRET"] = "test-transcript-secret"

import callvault  # noqa: E402
from callvault import create_app  # noqa: E402
from callvault.accounts import create_user  # noqa: E402
from callvault.calls.store import CallData, ParticipantData, SegmentData, upsert_call  # noqa: E402
from callvault.config import normalize_database_url  # noqa: E402
from callvault.extensions import db  # noqa: E402
from callvault.queues import drain_queues  # noqa: E402
from callvault.search.schema import ensure_search_schema  # noqa: E402

PASSWORD = "correct horse battery"
# Where a development app keeps its secrets and database (Flask's instance path for the package).
INSTANCE_DIR = Path(callvault.__file__).resolve().parent.parent / "instance"


def _instance_entries() -> set[str] | None:
    if not INSTANCE_DIR.exists():
        return None
    return {str(path.relative_to(INSTANCE_DIR)) for path in INSTANCE_DIR.rglob("*")}


_INSTANCE_BEFORE = _instance_entries()


@pytest.fixture(scope="session", autouse=True)
def nothing_written_under_instance():
    """The suite fails if it created anything under instance/: apps and processes the tests start get their
    secrets from the environment above (CALLVAULT_ENV=testing never writes one) and a throwaway database."""
    yield
    after = _instance_entries()
    if after is None:
        return
    created = sorted(after - (_INSTANCE_BEFORE or set()))
    if created or _INSTANCE_BEFORE is None:
        pytest.fail(f"the test run created {INSTANCE_DIR}/{{{', '.join(created)}}}", pytrace=False)


def _throwaway_database(server_url: str) -> tuple[str, callable]:
    """A fresh PostgreSQL database on TEST_DATABASE_URL's server, so concurrent runs never share tables."""
    import sqlalchemy as sa

    name = f"callvault_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = sa.create_engine(normalize_database_url(server_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))

    def drop():
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    return normalize_database_url(str(sa.make_url(server_url).set(database=name))), drop


def _leased_redis_db(url: str) -> tuple[str, callable]:
    """A Redis database index no other test run holds (lease keys live in db 0), so FLUSHDB is safe."""
    import redis as redis_lib

    base = redis_lib.Redis.from_url(urlunsplit(urlsplit(url)._replace(path="/0")))
    for index in range(1, 16):
        key = f"callvault-test-lease:{index}"
        if base.set(key, os.getpid(), nx=True, ex=3600):
            def release(key=key):
                base.delete(key)
            return urlunsplit(urlsplit(url)._replace(path=f"/{index}")), release
    raise RuntimeError("all Redis test databases 1-15 are leased by other runs")


TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL")
_cleanups = []
if TEST_DATABASE_URL:
    TEST_DATABASE_URL, _drop = _throwaway_database(TEST_DATABASE_URL)
    _cleanups.append(_drop)
if TEST_REDIS_URL:
    TEST_REDIS_URL, _release = _leased_redis_db(TEST_REDIS_URL)
    _cleanups.append(_release)


def pytest_unconfigure(config):
    for cleanup in _cleanups:
        cleanup()


def pytest_report_header(config):
    return (f"callvault backends: database={TEST_DATABASE_URL or 'sqlite (temporary file)'}, "
            f"redis={TEST_REDIS_URL or 'fakeredis'}")


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    url = (normalize_database_url(TEST_DATABASE_URL) if TEST_DATABASE_URL
           else f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}")
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "INPROCESS_WORKER": False})
    with app.app_context():
        db.drop_all()
        db.create_all()
        with db.engine.begin() as connection:
            ensure_search_schema(connection)
        db.engine.dispose()
    return url


def make_test_app(database_url, **overrides):
    config = {
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "REDIS_URL": TEST_REDIS_URL,
        "INPROCESS_QUEUE": not TEST_REDIS_URL,
        "INPROCESS_WORKER": False,
        "SERVER_NAME": None,
        "PUBLIC_BASE_URL": "http://127.0.0.1",
        "TRANSCRIPT_TOKEN_SECRET": "test-transcript-secret",
    }
    config.update(overrides)
    return create_app(config)


def _empty_database():
    tables = list(reversed(db.metadata.sorted_tables))
    if db.engine.dialect.name == "postgresql":
        db.session.execute(db.text("TRUNCATE " + ", ".join(f'"{t.name}"' for t in tables)
                                   + " RESTART IDENTITY CASCADE"))
    else:
        for table in tables:
            db.session.execute(table.delete())
    db.session.commit()


@pytest.fixture
def app(database_url):
    app = make_test_app(database_url)
    with app.app_context():
        _empty_database()
        if TEST_REDIS_URL:
            app.extensions["redis"].flushdb()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def app_factory(database_url):
    """Extra apps on the test database (other processes, other settings); disposed afterwards."""
    created = []

    def make(**overrides):
        created.append(make_test_app(database_url, **overrides))
        return created[-1]
    yield make
    for extra in created:
        with extra.app_context():
            db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def drain(app):
    """Run every queued job now, in this thread."""
    def run():
        with app.app_context():
            return drain_queues()
    return run


@pytest.fixture
def admin(app):
    with app.app_context():
        user = create_user("admin@example.com", PASSWORD, role="admin", name="Ada Admin")
        return user.id


@pytest.fixture
def member(app):
    with app.app_context():
        user = create_user("member@example.com", PASSWORD, role="member", name="Max Member")
        return user.id


@pytest.fixture
def other_member(app):
    with app.app_context():
        user = create_user("other@example.com", PASSWORD, role="member", name="Olga Other")
        return user.id


def sample_call(external_id="1001", title="Quarterly planning", started_at=None, segments=3, source="fathom",
                summary="## Summary\nWe planned the quarter.", **extra) -> CallData:
    started_at = started_at or datetime(2026, 11, 2, 15, 0, tzinfo=timezone.utc)
    return CallData(
        source=source, external_id=external_id, title=title, started_at=started_at,
        ended_at=started_at + timedelta(minutes=30), recorded_by_name="Max Member",
        recorded_by_email="member@example.com", summary_markdown=summary,
        participants=[ParticipantData(name="Max Member", email="member@example.com", is_organizer=True),
                      ParticipantData(name="Guest Person", email="guest@outside.example", is_external=True)],
        segments=[SegmentData(speaker=("Max Member", "Guest Person")[i % 2], text=f"Line number {i}",
                              start_ms=i * 5000) for i in range(segments)],
        **extra)


@pytest.fixture
def make_call(app):
    """make_call(owner_id, **sample_call kwargs) -> call id."""
    def make(owner_id, **kwargs):
        with app.app_context():
            from callvault.models import User
            return upsert_call(db.session.get(User, owner_id), sample_call(**kwargs)).call.id
    return make


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token in page"
    return match.group(1)


def login(client, email, password=PASSWORD):
    page = client.get("/login")
    return client.post("/login", data={"email": email, "password": password,
                                       "csrf_token": csrf_from(page.get_data(as_text=True))})


@pytest.fixture
def auth(client):
    """auth.login(email) signs the test client in."""
    class Auth:
        def login(self, email, password=PASSWORD):
            return login(client, email, password)
    return Auth()


class LiveServer:
    def __init__(self, app):
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()


@pytest.fixture
def live_server(app):
    with LiveServer(app) as server:
        yield server


# --- browser -------------------------------------------------------------------------------------

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="session")
def browser():
    reason = None
    if not os.path.exists(CHROMIUM):
        reason = f"browser tests need Debian's chromium at {CHROMIUM} (apt-get install chromium)"
    else:
        try:
            from playwright.sync_api import sync_playwright
        except ImportError:
            reason = "browser tests need the playwright package (pip install -r requirements-dev.txt)"
    if reason:
        if os.environ.get("REQUIRE_BROWSER"):
            pytest.fail(reason)
        pytest.skip(reason)
    playwright = sync_playwright().start()
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    yield browser
    browser.close()
    playwright.stop()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    yield context.new_page()
    context.close()
