"""The dashboard's recent-failures index on bots exists after `flask db upgrade`, on both backends,
and goes with a downgrade of its revision."""
import sqlalchemy as sa
from flask_migrate import downgrade, upgrade

from callvault.extensions import db
from tests.support.backends import make_test_app


def bot_indexes() -> dict:
    return {index["name"]: index["column_names"] for index in sa.inspect(db.engine).get_indexes("bots")}


def test_bots_state_changed_at_index_after_upgrade(empty_database_url):
    app = make_test_app(empty_database_url)
    with app.app_context():
        upgrade()
        assert bot_indexes()["ix_bots_state_changed_at"] == ["state_changed_at", "id"]
        downgrade(revision="c4e9a2f7d813")
        assert "ix_bots_state_changed_at" not in bot_indexes()
        downgrade(revision="base")
        db.engine.dispose()
