"""Fixtures in the Flask tutorial's style: `app`, `client`, `runner`, plus users and calls.

The fixtures of each domain (the Fathom, calendar and Attendee fakes, webhooks, the browser) live
in tests/fixtures/ and come in through `pytest_plugins` below, so every area folder can use them;
plain helpers (signing in, sample calls, the test backends) are imported from tests/support/.

Backends: real PostgreSQL and Redis when TEST_DATABASE_URL / TEST_REDIS_URL are set (CI sets
both), otherwise SQLite in a temporary file and fakeredis (tests/support/backends.py).
"""
import os
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

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
from callvault.accounts import create_user, issue_api_token  # noqa: E402
from callvault.calls.store import upsert_call  # noqa: E402
from callvault.config import normalize_database_url  # noqa: E402
from callvault.extensions import db  # noqa: E402
from callvault.queues import drain_queues  # noqa: E402
from callvault.search.schema import ensure_search_schema  # noqa: E402
from tests.support.backends import TEST_DATABASE_URL, TEST_REDIS_URL, cleanups, make_test_app  # noqa: E402
from tests.support.calls import sample_call  # noqa: E402
from tests.support.web import PASSWORD, LiveServer, login  # noqa: E402

pytest_plugins = [
    "tests.fixtures.browser",
    "tests.fixtures.database",
    "tests.fixtures.fathom",
    "tests.fixtures.calendars",
    "tests.fixtures.bots",
    "tests.fixtures.webhooks",
    "tests.fixtures.mcp",
]

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


def pytest_unconfigure(config):
    for cleanup in cleanups:
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


@pytest.fixture
def make_call(app):
    """make_call(owner_id, **sample_call kwargs) -> call id."""
    def make(owner_id, **kwargs):
        with app.app_context():
            from callvault.models import User
            return upsert_call(db.session.get(User, owner_id), sample_call(**kwargs)).call.id
    return make


@pytest.fixture
def token_for(app):
    """token_for(user_id) -> a new personal API token of that user."""
    def issue(user_id):
        with app.app_context():
            from callvault.models import User
            return issue_api_token(db.session.get(User, user_id), "test token")
    return issue


@pytest.fixture
def auth(client):
    """auth.login(email) signs the test client in."""
    class Auth:
        def login(self, email, password=PASSWORD):
            return login(client, email, password)
    return Auth()


@pytest.fixture
def live_server(app):
    with LiveServer(app) as server:
        yield server
