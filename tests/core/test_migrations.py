"""`flask db upgrade` from empty builds exactly the models' schema, on SQLite and PostgreSQL."""

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from callvault.extensions import db
from callvault.search.schema import include_object
from tests.support.backends import make_test_app



def test_upgrade_from_empty_matches_the_models_and_downgrades(empty_database_url):
    app = make_test_app(empty_database_url)
    with app.app_context():
        upgrade()
        with db.engine.connect() as connection:
            differences = compare_metadata(
                MigrationContext.configure(connection, opts={"include_object": include_object}), db.metadata)
        assert differences == [], "models changed without a migration: run `flask db migrate`"
        downgrade(revision="base")
        assert sa.inspect(db.engine).get_table_names() == ["alembic_version"]
        db.engine.dispose()


def test_migrations_have_a_single_head():
    from alembic.script import ScriptDirectory

    from callvault import MIGRATIONS_DIR
    assert len(ScriptDirectory(MIGRATIONS_DIR).get_heads()) == 1


def test_host_email_approval_keeps_the_addresses_that_already_routed(empty_database_url):
    """b3e1d5a7c920: the account email and any address that already routed a call stay approved;
    every other address becomes a pending claim."""
    app = make_test_app(empty_database_url)
    with app.app_context():
        upgrade(revision="6c2b16a3bb22")
        now = "2026-12-01 10:00:00"
        with db.engine.begin() as connection:
            connection.execute(sa.text("INSERT INTO users (id, email, role, is_active, created_at) "
                                       "VALUES (1, 'max@example.com', 'member', true, :now)"), {"now": now})
            for address in ("max@example.com", "max.fathom@example.com", "colleague@example.com"):
                connection.execute(sa.text("INSERT INTO host_emails (user_id, email) VALUES (1, :email)"),
                                   {"email": address})
            connection.execute(sa.text(
                "INSERT INTO calls (owner_id, source, external_id, title, started_at, recorded_by_email, created_at, "
                "updated_at) VALUES (1, 'fathom', '1', 'Routed', :now, 'Max.Fathom@example.com', :now, :now)"),
                {"now": now})
        upgrade()
        with db.engine.connect() as connection:
            rows = connection.execute(sa.text("SELECT email, status, proof FROM host_emails ORDER BY email")).all()
        assert [tuple(row) for row in rows] == [
            ("colleague@example.com", "pending", None),
            ("max.fathom@example.com", "approved", "routed recordings before approval existed"),
            ("max@example.com", "approved", "account email")]
        downgrade(revision="6c2b16a3bb22")
        db.engine.dispose()
