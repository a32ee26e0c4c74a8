"""Flask extensions, created once and bound to the app in `create_app`."""
from contextlib import contextmanager

from flask_htmx import HTMX
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData
from sqlalchemy.orm import Session

# Named constraints keep Alembic migrations identical on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

db = SQLAlchemy(metadata=MetaData(naming_convention=NAMING_CONVENTION))
migrate = Migrate(render_as_batch=True)
csrf = CSRFProtect()
htmx = HTMX()


@contextmanager
def row_in_own_session(model, key, missing: Exception):
    """The row in a session of its own, committed on exit (so the caller's unit of work is neither
    committed nor discarded); `missing` is raised if there is no such row."""
    with Session(db.engine, expire_on_commit=False) as session:
        row = session.get(model, key)
        if row is None:
            raise missing
        yield row
        session.commit()
