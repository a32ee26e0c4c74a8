"""Error pages: HTML for people, the JSON error body for API callers (`/api/…` or `Accept: application/json`)."""
from flask import Flask, Response, current_app, render_template, request
from flask_wtf.csrf import CSRFError

from ..crypto import SecretUnreadable
from ..extensions import db
from .helpers import error_body

BARE_SERVER_ERROR = "Something went wrong. The error has been logged. Please try again."


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def page(status: int, title: str, message: str):
    """The error page (or JSON error body) for `status`, shown as written."""
    if _wants_json():
        return error_body(title.lower().replace(" ", "_"), message), status
    return render_template("error.html", status=status, title=title, message=message), status


def csrf_error(exc):
    return page(400, "Bad request", "The form was missing its security token, or it expired. "
                                    "Go back, reload the page and try again.")


def bad_request(exc):
    return page(400, "Bad request", exc.description or "The request could not be understood.")


def not_found(exc):
    return page(404, "Not found", "There is nothing here, or you do not have access to it.")


def method_not_allowed(exc):
    return page(405, "Method not allowed", "This address does not accept that kind of request.")


def too_large(exc):
    return page(413, "Too large", "The request body is larger than this server accepts.")


def secret_unreadable(exc):
    current_app.logger.error("stored secret unreadable: %s", exc)
    return page(500, "A stored secret cannot be read", str(exc))


def server_error(exc):
    """Roll back first: after a database error the session's transaction is dead, and the page's own
    queries (the signed-in user in the header) would fail with it. If the page still cannot be
    rendered (the database is down), a plain-text answer rather than none."""
    try:
        db.session.rollback()
    except Exception:  # noqa: BLE001 (a dead connection: the page below may still render)
        current_app.logger.exception("rollback after a server error failed")
    try:
        return page(500, "Something went wrong", "The error has been logged. Please try again.")
    except Exception:  # noqa: BLE001
        current_app.logger.exception("the error page itself failed")
        return Response(BARE_SERVER_ERROR, 500, mimetype="text/plain")


HANDLERS = {
    CSRFError: csrf_error,
    400: bad_request,
    404: not_found,
    405: method_not_allowed,
    413: too_large,
    SecretUnreadable: secret_unreadable,
    500: server_error,
}


def init_app(app: Flask) -> None:
    for code_or_exception, handler in HANDLERS.items():
        app.register_error_handler(code_or_exception, handler)
