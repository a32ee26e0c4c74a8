"""Refusals every request gets before its view runs: a NUL character in a query string, a form field
or a path value is a 400 (PostgreSQL cannot store or compare text containing NUL; no person types one).

Webhook and push receivers are left alone: they log every request before judging it, and read raw bodies.
"""
from flask import Flask, request

from .errors import page

RECEIVERS = {"calendars.google_webhook", "calendars.microsoft_webhook"}
FORM_TYPES = {"application/x-www-form-urlencoded", "multipart/form-data"}
NUL_MESSAGE = "A NUL character (%00) is not allowed in {where}."


def _has_nul(pairs) -> bool:
    return any("\x00" in key or "\x00" in str(value) for key, value in pairs)


def refuse_nul_characters():
    if request.blueprint == "webhooks" or request.endpoint in RECEIVERS:
        return None
    if _has_nul((request.view_args or {}).items()):
        return page(404, "Not found", NUL_MESSAGE.format(where="an address"))
    if _has_nul(request.args.items(multi=True)):
        return page(400, "Bad request", NUL_MESSAGE.format(where="the query string"))
    if request.mimetype in FORM_TYPES and _has_nul(request.form.items(multi=True)):
        return page(400, "Bad request", NUL_MESSAGE.format(where="a form field"))
    return None


def init_app(app: Flask) -> None:
    app.before_request(refuse_nul_characters)
