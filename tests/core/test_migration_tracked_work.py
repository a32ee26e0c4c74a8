"""Migration 6c2b16a3bb22 renames the rows' old status `done` to `succeeded` and back, on both backends."""
from datetime import datetime

import sqlalchemy as sa
from flask_migrate import downgrade, upgrade

from callvault.extensions import db
from tests.support.backends import insert_user_row, make_test_app

BEFORE, AFTER = "7bc4b2a8218b", "6c2b16a3bb22"



def _statuses(connection, table):
    return [s for (s,) in connection.execute(sa.text(f"SELECT status FROM {table} ORDER BY id"))]


def test_old_status_names_are_migrated_up_and_down(empty_database_url):
    app = make_test_app(empty_database_url)
    with app.app_context():
        upgrade(revision=BEFORE)
        now = datetime(2026, 12, 1, 12, 0)
        with db.engine.begin() as connection:
            insert_user_row(connection, now)
            for status in ("done", "cancelled", "running", "failed"):
                connection.execute(sa.text(
                    "INSERT INTO sync_jobs (user_id, source, status, params, total, done, failed, cancel_requested, "
                    "listing_done, created_at) VALUES (1, 'fathom', :status, '{}', 0, 0, 0, :no, :yes, :now)"),
                    {"status": status, "no": False, "yes": True, "now": now})
            for status in ("done", "queued"):
                connection.execute(sa.text(
                    "INSERT INTO export_bundles (user_id, formats, status, total, done, created_at) "
                    "VALUES (1, '[]', :status, 0, 0, :now)"), {"status": status, "now": now})

        upgrade(revision=AFTER)
        with db.engine.connect() as connection:
            assert _statuses(connection, "sync_jobs") == ["succeeded", "cancelled", "running", "failed"]
            assert _statuses(connection, "export_bundles") == ["succeeded", "queued"]

        downgrade(revision=BEFORE)
        with db.engine.connect() as connection:
            assert _statuses(connection, "sync_jobs") == ["done", "cancelled", "running", "failed"]
            assert _statuses(connection, "export_bundles") == ["done", "queued"]
        downgrade(revision="base")
        db.engine.dispose()
