"""Error pages: HTML for people, the JSON error body for API callers (`/api/…` or `Accept: application/json`)."""
from flask import Flask, current_app, render_template, request
from flask_wtf.csrf import CSRFError

from ..crypto import SecretUnreadable
from .helpers import error_body


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def _page(status: int, title: str, message: str):
    if _wants_json():
        return error_body(title.lower().replace(" ", "_"), message), status
    return render_template("error.html", status=status, title=title, message=message), status


def csrf_error(exc):
    return _page(400, "Bad request", "The form was missing its security token, or it expired. "
                                     "Go back, reload the page and try again.")


def not_found(exc):
    return _page(404, "Not found", "There is nothing here, or you do not have access to it.")


def method_not_allowed(exc):
    return _page(405, "Method not allowed", "This address does not accept that kind of request.")


def too_large(exc):
    return _page(413, "Too large", "The request body is larger than this server accepts.")


def secret_unreadable(exc):
    current_app.logger.error("stored secret unreadable: %s", exc)
    return _page(500, "A stored secret cannot be read", str(exc))


def server_error(exc):
    return _page(500, "Something went wrong", "The error has been logged. Please try again.")


HANDLERS = {
    CSRFError: csrf_error,
    404: not_found,
    405: method_not_allowed,
    413: too_large,
    SecretUnreadable: secret_unreadable,
    500: server_error,
}


def init_app(app: Flask) -> None:
    for code_or_exception, handler in HANDLERS.items():
        app.register_error_handler(code_or_exception, handler)
