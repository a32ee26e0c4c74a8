"""CallVault: a self-hosted vault for meeting transcripts.

`create_app` reads as a list of `configure_*` steps, run in order; each step is one concern.
"""
from pathlib import Path

from flask import Flask
from sqlalchemy import event

from . import logs, queues, security
from .config import load_config
from .extensions import csrf, db, htmx, migrate
from .search.schema import connect_fulltext_tables

MIGRATIONS_DIR = str(Path(__file__).resolve().parent.parent / "migrations")


def create_app(test_config: dict | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True)
    configure_app(app, test_config)
    configure_extensions(app)
    configure_logging(app)
    configure_security(app)
    configure_queues(app)
    configure_request_parsing(app)
    configure_blueprints(app)
    configure_mcp(app)
    configure_signals(app)
    configure_templates(app)
    configure_error_pages(app)
    configure_cli(app)
    configure_sandbox(app)
    return app


def configure_app(app: Flask, test_config: dict | None) -> None:
    """Settings from the environment (config.py), then the test's overrides."""
    app.config.from_mapping(load_config(instance_path=app.instance_path))
    if test_config:
        app.config.update(test_config)


def configure_extensions(app: Flask) -> None:
    db.init_app(app)
    _configure_sqlite(app)
    migrate.init_app(app, db, directory=MIGRATIONS_DIR)
    csrf.init_app(app)
    htmx.init_app(app)
    from . import models  # noqa: F401  (register the tables)


def _configure_sqlite(app: Flask) -> None:
    """SQLite needs foreign keys switched on (for ON DELETE CASCADE) and WAL for concurrent readers."""
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        return
    with app.app_context():
        @event.listens_for(db.engine, "connect")
        def _pragmas(dbapi_connection, _record):
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            connect_fulltext_tables(cursor)
            cursor.close()


def configure_logging(app: Flask) -> None:
    logs.init_app(app)


def configure_security(app: Flask) -> None:
    """Security headers on every response; the client address behind TRUSTED_PROXY_HOPS proxies."""
    security.init_app(app)


def configure_queues(app: Flask) -> None:
    queues.init_app(app)


def configure_request_parsing(app: Flask) -> None:
    """Before the blueprints, so every `<int:…>` rule takes only ids a row can have."""
    from .blueprints import converters
    converters.init_app(app)


def configure_blueprints(app: Flask) -> None:
    from .blueprints import (accounts_admin, api, auth, bots, calendars, calls, dashboard, exports, fathom, health,
                             mcp_oauth, openapi, settings, setup_admin, transcripts, webhook_pages, webhooks)

    for module in (auth, calls, settings, api, openapi, health, webhooks, webhook_pages, dashboard, transcripts,
                   exports, fathom, calendars, bots, accounts_admin, setup_admin, mcp_oauth):
        app.register_blueprint(module.bp)


def configure_mcp(app: Flask) -> None:
    """The MCP server at POST /mcp, beside Flask in the same WSGI app (see mcp/http.py)."""
    from .mcp import http
    http.mount(app)


def configure_signals(app: Flask) -> None:
    """Features talk through `callvault.signals`: each connects what it reacts to; the jobs package
    connects the facts that start background work and declares the periodic schedule."""
    from . import bots, exports, fathom, jobs, search, signals

    signals.init_app(app)
    for feature in (fathom, bots, exports, search, jobs):
        feature.init_app(app)


def configure_templates(app: Flask) -> None:
    from .blueprints import templating
    templating.init_app(app)


def configure_error_pages(app: Flask) -> None:
    """Error pages, and the refusals every request gets after the blueprints have loaded its user."""
    from .blueprints import errors, input_guard
    errors.init_app(app)
    input_guard.init_app(app)


def configure_cli(app: Flask) -> None:
    from .cli import register_cli
    register_cli(app)


def configure_sandbox(app: Flask) -> None:
    if app.config.get("FATHOM_SANDBOX"):
        # development only: the fakes live outside the product
        from sandboxes.demo_world import start_calendar_and_bots
        from sandboxes.fathom_demo import start_sandbox
        start_sandbox(app)
        start_calendar_and_bots(app)
