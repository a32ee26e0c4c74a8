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
