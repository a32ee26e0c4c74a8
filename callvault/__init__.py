"""CallVault: a self-hosted vault for meeting transcripts."""
from pathlib import Path

from flask import Flask, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy import event

from . import logs, queues
from .calls.formats import clock
from .calls.render import markdown_to_safe_html, speaker_colour
from .config import load_config
from .crypto import SecretUnreadable
from .extensions import csrf, db, htmx, migrate
from .search.schema import connect_fulltext_tables

MIGRATIONS_DIR = str(Path(__file__).resolve().parent.parent / "migrations")


def create_app(test_config: dict | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True)
    app.config.from_mapping(load_config(instance_path=app.instance_path))
    if test_config:
        app.config.update(test_config)

    db.init_app(app)
    _configure_sqlite(app)
    migrate.init_app(app, db, directory=MIGRATIONS_DIR)
    csrf.init_app(app)
    htmx.init_app(app)
    from . import models  # noqa: F401  (register the tables)

    logs.init_app(app)
    queues.init_app(app)
    _register_blueprints(app)
    _register_template_helpers(app)
    _register_error_pages(app)

    from .cli import register_cli
    register_cli(app)
    if app.config.get("FATHOM_SANDBOX"):  # development only: the fake lives outside the product package
        from sandboxes.fathom_demo import start_sandbox
        start_sandbox(app)
    return app


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


def _register_blueprints(app: Flask) -> None:
    from .blueprints import api, auth, calls, dashboard, exports, fathom, health, settings, webhook_pages, webhooks

    for module in (auth, calls, settings, api, health, webhooks, webhook_pages, dashboard, exports, fathom):
        app.register_blueprint(module.bp)
    from .blueprints import calendars
    app.register_blueprint(calendars.bp)
    from .blueprints import bot_webhooks
    app.register_blueprint(bot_webhooks.bp)
    from .bots.reconcile import listen_to_calendars
    listen_to_calendars()


def _register_template_helpers(app: Flask) -> None:
    app.jinja_env.filters["markdown"] = markdown_to_safe_html
    app.jinja_env.filters["clock"] = lambda ms: clock(ms, None, hours_always=False)
    app.jinja_env.globals["speaker_colour"] = speaker_colour


def _register_error_pages(app: Flask) -> None:
    def wants_json() -> bool:
        return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"

    def page(status: int, title: str, message: str):
        if wants_json():
            return {"error": {"code": title.lower().replace(" ", "_"), "message": message}}, status
        return render_template("error.html", status=status, title=title, message=message), status

    @app.errorhandler(CSRFError)
    def csrf_error(exc):
        return page(400, "Bad request", "The form was missing its security token, or it expired. "
                                        "Go back, reload the page and try again.")

    @app.errorhandler(404)
    def not_found(exc):
        return page(404, "Not found", "There is nothing here, or you do not have access to it.")

    @app.errorhandler(405)
    def method_not_allowed(exc):
        return page(405, "Method not allowed", "This address does not accept that kind of request.")

    @app.errorhandler(413)
    def too_large(exc):
        return page(413, "Too large", "The request body is larger than this server accepts.")

    @app.errorhandler(SecretUnreadable)
    def secret_unreadable(exc):
        app.logger.error("stored secret unreadable: %s", exc)
        return page(500, "A stored secret cannot be read", str(exc))

    @app.errorhandler(500)
    def server_error(exc):
        return page(500, "Something went wrong", "The error has been logged. Please try again.")
