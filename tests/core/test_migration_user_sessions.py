"""Migration 3e7d1c9a5b20 (issue 13, items 1 and 7): clears stored call links that are not http(s) and
adds the sessions table, on both backends, and downgrades."""
import uuid
from datetime import datetime

import pytest
import sqlalchemy as sa
from flask_migrate import downgrade, upgrade

from callvault.extensions import db
from tests.support.backends import TEST_DATABASE_URL, make_test_app

BEFORE, AFTER = "6c2b16a3bb22", "3e7d1c9a5b20"
LINKS = [("javascript:alert(document.domain)", "https://fathom.video/share/a"),
         ("HTTPS://fathom.video/calls/2", " data:text/html,x"),
         ("http://example.com/3", None)]


@pytest.fixture
def empty_database_url(tmp_path):
    if not TEST_DATABASE_URL:
        yield f"sqlite:///{tmp_path / 'sessions.sqlite3'}"
        return
    name = f"callvault_sessions_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(TEST_DATABASE_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield str(sa.make_url(TEST_DATABASE_URL).set(database=name).render_as_string(hide_password=False))
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_script_links_are_cleared_and_sessions_table_added(empty_database_url):
    app = make_test_app(empty_database_url)
    with app.app_context():
        upgrade(revision=BEFORE)
        now = datetime(2026, 12, 1, 12, 0)
        with db.engine.begin() as connection:
            connection.execute(sa.text(
                "INSERT INTO users (id, email, name, password_hash, role, is_active, created_at) "
                "VALUES (1, 'a@example.com', 'A', 'x', 'admin', :yes, :now)"), {"yes": True, "now": now})
            for i, (recording, share) in enumerate(LINKS):
                connection.execute(sa.text(
                    "INSERT INTO calls (id, owner_id, source, external_id, title, started_at, recording_url, share_url, "
                    "created_at, updated_at) VALUES (:id, 1, 'fathom', :id, 't', :now, :recording, :share, :now, :now)"),
                    {"id": i + 1, "now": now, "recording": recording, "share": share})
        upgrade(revision=AFTER)
        with db.engine.connect() as connection:
            rows = connection.execute(sa.text("SELECT recording_url, share_url FROM calls ORDER BY id")).all()
            assert [tuple(r) for r in rows] == [(None, "https://fathom.video/share/a"),
                                                ("HTTPS://fathom.video/calls/2", None),
                                                ("http://example.com/3", None)]
            assert "user_sessions" in sa.inspect(connection).get_table_names()
        downgrade(revision=BEFORE)
        with db.engine.connect() as connection:
            assert "user_sessions" not in sa.inspect(connection).get_table_names()
        downgrade(revision="base")
        db.engine.dispose()
