"""The databases and Redis the tests run on, and `make_test_app` for an app on them.

Real PostgreSQL and Redis when TEST_DATABASE_URL / TEST_REDIS_URL are set (CI sets both), otherwise
SQLite in a temporary file and fakeredis. On a real server each run gets its own throwaway database
and a Redis database index no other run holds; tests/conftest.py releases both when the run ends.
Imported by tests/conftest.py after it has cleaned the environment, so callvault never reads the
developer's settings.
"""
import os
import uuid
from urllib.parse import urlsplit, urlunsplit

import sqlalchemy as sa

from callvault import create_app
from callvault.config import normalize_database_url


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
cleanups = []  # run by tests/conftest.py's pytest_unconfigure
if TEST_DATABASE_URL:
    TEST_DATABASE_URL, _drop = _throwaway_database(TEST_DATABASE_URL)
    cleanups.append(_drop)
if TEST_REDIS_URL:
    TEST_REDIS_URL, _release = _leased_redis_db(TEST_REDIS_URL)
    cleanups.append(_release)


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
        "WEBHOOK_DRAIN_LINGER_SECONDS": 0,  # a drain returns once the inbox is empty (test_webhook_inbox lingers)
    }
    config.update(overrides)
    return create_app(config)


def insert_user_row(connection, at) -> None:
    """User 1 (an admin) as a raw row, for migration tests that fill tables at an older revision."""
    connection.execute(sa.text(
        "INSERT INTO users (id, email, name, password_hash, role, is_active, created_at) "
        "VALUES (1, 'a@example.com', 'A', 'x', 'admin', :yes, :now)"), {"yes": True, "now": at})
