"""What every blueprint answers with: JSON errors, bearer-token auth, and messages shown to a person.

- `error_body` / `error_response` / `ApiError`: the one JSON error shape, `{"error": {"code", "message"}}`.
- `token_auth(...)`: the one reading of `Authorization: Bearer <personal API token>`, as a view
  decorator. The JSON API takes a token only; the dashboard's APIs take an admin's session too.
- `sentence(message)`: a service's message shown as written, only made to start and end like a sentence.
"""
import functools
from urllib.parse import quote

from flask import g, jsonify, request

from .. import accounts

BEARER_HINT = "'Authorization: Bearer <token>'"
UNAUTHORIZED = f"send a valid personal API token as {BEARER_HINT}"
UNAUTHORIZED_ADMIN_SESSION = f"sign in as an admin, or send an admin's personal API token as {BEARER_HINT}"
FORBIDDEN = "this endpoint is for admins"
SENTENCE_ENDS = (".", "!", "?", "…")
CLOSERS = "\"')]»”’"


def attachment(filename: str) -> str:
    """A Content-Disposition for a download named `filename`: an ASCII fallback, and the real name
    (accents and all) as RFC 6266's filename*."""
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


# --- JSON errors -------------------------------------------------------------------------------------

class ApiError(Exception):
    """Raise in a JSON view to answer `error_response(status, code, message)`."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def error_body(code: str, message: str) -> dict:
    return {"error": {"code": code, "message": message}}


def error_response(status: int, code: str, message: str):
    return jsonify(error_body(code, message)), status


# --- bearer-token auth ---------------------------------------------------------------------------------

def request_user(allow_session: bool = False):
    """Who is asking: the user whose personal API token the Authorization header carries (None for a
    bad token or another scheme). Without an Authorization header: the signed-in user if
    `allow_session`, else None. A header always wins over the session."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if not scheme:
        return g.get("user") if allow_session else None
    return accounts.user_for_api_token(token.strip()) if scheme.lower() == "bearer" else None


def token_auth(*, admin: bool = False, allow_session: bool = False, forbidden: str = FORBIDDEN):
    """A view decorator: 401 without a valid token (or session, if allowed), 403 for a non-admin when
    `admin`; else the view runs with `g.user` set to the caller."""
    unauthorized = UNAUTHORIZED_ADMIN_SESSION if allow_session else UNAUTHORIZED

    def decorator(view):
        @functools.wraps(view)
        def wrapped(*args, **kwargs):
            user = request_user(allow_session)
            if user is None:
                return error_response(401, "unauthorized", unauthorized)
            if admin and not user.is_admin:
                return error_response(403, "forbidden", forbidden)
            g.user = user
            return view(*args, **kwargs)
        return wrapped
    return decorator


token_required = token_auth()
admin_token_required = token_auth(admin=True)


# --- messages ----------------------------------------------------------------------------------------

def sentence(message) -> str:
    """`message` (text or an exception) as written, but starting with a capital and ending with a full
    stop when it lacks final punctuation. Never `.capitalize()`, which lower-cases the rest: "connect
    Fathom first (an API key or OAuth)" must not become "Connect fathom first (an api key or oauth)."."""
    text = str(message).strip()
    if not text:
        return text
    text = text[:1].upper() + text[1:]
    return text if text.rstrip(CLOSERS).endswith(SENTENCE_ENDS) else text + "."
