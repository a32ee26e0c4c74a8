"""Migration 3e7d1c9a5b20 (issue 13, items 1 and 7): clears stored call links that are not http(s) and
adds the sessions table, on both backends, and downgrades."""
from datetime import datetime

import sqlalchemy as sa
from flask_migrate import downgrade, upgrade

from callvault.extensions import db
from tests.support.backends import insert_user_row, make_test_app

BEFORE, AFTER = "6c2b16a3bb22", "3e7d1c9a5b20"
LINKS = [("javascript:alert(document.domain)", "https://fathom.video/share/a"),
         ("HTTPS://fathom.video/calls/2", " data:text/html,x"),
         ("http://example.com/3", None)]


def test_script_links_are_cleared_and_sessions_table_added(empty_database_url):
    app = make_test_app(empty_database_url)
    with app.app_context():
        upgrade(revision=BEFORE)
        now = datetime(2026, 12, 1, 12, 0)
        with db.engine.begin() as connection:
            insert_user_row(connection, now)
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
