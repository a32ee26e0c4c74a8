"""Which Fathom credential a call uses, keeping OAuth tokens fresh, and connection state.

OAuth is preferred. Its access token is refreshed shortly before it expires; Fathom's refresh
tokens are single-use and rotate, so a refresh runs under a Redis lock, re-reads the stored
pair first (another process may just have refreshed), and stores the new pair in one
transaction. If OAuth stops working the API key takes over; if nothing works the connection
is marked `needs_attention` with a reason the settings page shows.

Token state is read and written in its own short sessions, so a refresh never commits or
discards the caller's unit of work.
"""
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from flask import current_app

from ..extensions import db, row_in_own_session
from ..logs import log_event
from ..models import FathomConnection, User, utcnow
from .. import accounts, queues
from ..queues import get_redis
from . import oauth
from .client import ApiKeyAuth, Auth, ClientSettings, FathomAuthError, FathomClient, FathomError, FathomUnavailable
from .ratelimit import RateLimiter

REFRESH_MARGIN = timedelta(minutes=5)  # what Fathom's own SDK uses
REFRESH_LOCK_SECONDS = 30
OAUTH, API_KEY = "oauth", "api_key"


class NeedsAttention(FathomAuthError):
    """No stored credential works; the connection is marked and the user must reconnect."""


class ConnectError(Exception):
    """Connecting failed; the message is safe to show."""


@dataclass
class TokenState:
    api_key: str | None
    access_token: str | None
    refresh_token: str | None
    expires_at: datetime | None


def get_connection(user: User) -> FathomConnection | None:
    return FathomConnection.query.filter_by(user_id=user.id).first()


def _connection_row(connection_id: int):
    """The connection in a session of its own, committed on exit."""
    return row_in_own_session(FathomConnection, connection_id, NeedsAttention("the Fathom connection was removed"))


def _load(connection_id: int) -> TokenState:
    with _connection_row(connection_id) as row:
        return TokenState(row.api_key, row.access_token, row.refresh_token, row.token_expires_at)


def _update(connection_id: int, **fields) -> None:
    with _connection_row(connection_id) as row:
        for name, value in fields.items():
            setattr(row, name, value)


def mark_needs_attention(connection_id: int, reason: str) -> None:
    _update(connection_id, status="needs_attention", last_error=reason, last_checked_at=utcnow())
    log_event("fathom_connection_needs_attention", connection_id=connection_id)


@contextmanager
def redis_lock(key: str, ttl_seconds: int = REFRESH_LOCK_SECONDS, wait_seconds: float = REFRESH_LOCK_SECONDS):
    """queues.redis_lock, failing with FathomUnavailable if it stays busy."""
    with queues.redis_lock(key, ttl_seconds, wait_seconds, poll_seconds=0.02) as held:
        if not held:
            raise FathomUnavailable("another process held the Fathom token refresh too long; try again")
        yield


def _expiring(expires_at: datetime | None) -> bool:
    return expires_at is None or expires_at - REFRESH_MARGIN <= datetime.now(timezone.utc)


def fresh_access_token(connection_id: int, seen_token: str | None = None, force: bool = False) -> str:
    """A usable access token, refreshing under the lock when it is (about to be) expired.

    `seen_token` is the token the caller holds; with `force` (after a 401) it is the one Fathom
    rejected, and any other stored token is taken as another process's fresh refresh.
    """
    with redis_lock(f"callvault:fathom:oauth-refresh:{connection_id}"):
        state = _load(connection_id)
        if state.access_token and not _expiring(state.expires_at) and (
                not force or state.access_token != seen_token):
            return state.access_token
        if not state.refresh_token:
            raise oauth.OAuthFailed("there is no OAuth refresh token; reconnect with OAuth", grant_dead=True)
        try:
            token = oauth.refresh(current_app.config, state.refresh_token)
        except oauth.OAuthFailed as exc:
            if exc.transient and state.access_token and not force and (
                    state.expires_at and state.expires_at > datetime.now(timezone.utc)):
                return state.access_token  # still valid for a little while; refresh next time
            raise
        _update(connection_id, access_token=token["access_token"], refresh_token=token["refresh_token"],
                token_expires_at=oauth.expires_at(token))
        log_event("fathom_token_refreshed", connection_id=connection_id)
        return token["access_token"]


class ConnectionAuth(Auth):
    """The credentials of one connection: OAuth first, then the API key. `only` pins one kind."""

    def __init__(self, connection_id: int, only: str | None = None):
        self.connection_id, self.only = connection_id, only
        self.note: str | None = None  # why OAuth was passed over, shown with a working API key
        self._confirmed = False
        self.kind, self._headers = self._choose(_load(connection_id))

    def headers(self) -> dict:
        return self._headers

    def _allowed(self, kind: str) -> bool:
        return self.only in (None, kind)

    def _choose(self, state: TokenState, rejected_token: str | None = None):
        if self._allowed(OAUTH) and (state.access_token or state.refresh_token):
            try:
                if rejected_token or _expiring(state.expires_at) or not state.access_token:
                    token = fresh_access_token(self.connection_id, rejected_token or state.access_token,
                                               force=rejected_token is not None)
                else:
                    token = state.access_token
                return OAUTH, {"Authorization": f"Bearer {token}"}
            except oauth.OAuthNotConfigured as exc:
                self.note = str(exc)
            except oauth.OAuthFailed as exc:
                self._oauth_failed(exc, has_fallback=bool(state.api_key) and self._allowed(API_KEY))
        if self._allowed(API_KEY) and state.api_key:
            return API_KEY, {"X-Api-Key": state.api_key}
        reason = self.note or "no Fathom credentials are stored; connect Fathom in Settings"
        mark_needs_attention(self.connection_id, reason)
        raise NeedsAttention(reason)

    def _oauth_failed(self, exc: oauth.OAuthFailed, has_fallback: bool) -> None:
        if exc.transient and not has_fallback:
            raise FathomUnavailable(str(exc)) from None
        self.note = f"Fathom OAuth stopped working: {exc}"
        if exc.grant_dead:
            _update(self.connection_id, access_token=None, refresh_token=None, token_expires_at=None,
                    last_error=self.note)
            log_event("fathom_oauth_grant_dead", connection_id=self.connection_id)

    def renew(self) -> bool:
        """Fathom answered 401: refresh the OAuth token, else fall back to the API key."""
        if self.kind == OAUTH:
            rejected = self._headers["Authorization"][len("Bearer "):]
            self.kind, self._headers = self._choose(_load(self.connection_id), rejected_token=rejected)
            return True
        reason = "Fathom rejected the stored API key (401); enter a new one in Settings"
        if self.note:
            reason = f"{self.note}; and {reason[0].lower()}{reason[1:]}"
        mark_needs_attention(self.connection_id, reason)
        raise NeedsAttention(reason)

    def succeeded(self) -> None:
        """A call worked: the connection is fine (keeping the note when OAuth was passed over)."""
        if not self._confirmed:
            self._confirmed = True
            _update(self.connection_id, status="ok", last_error=self.note, last_checked_at=utcnow())


def _settings() -> ClientSettings:
    config = current_app.config
    return ClientSettings(base_url=config["FATHOM_API_BASE_URL"], timeout_seconds=config["FATHOM_HTTP_TIMEOUT_SECONDS"],
                          max_attempts=config["FATHOM_MAX_ATTEMPTS"],
                          retry_base_seconds=config["FATHOM_RETRY_BASE_SECONDS"])


def limiter_for(account_key: str) -> RateLimiter:
    config = current_app.config
    return RateLimiter(get_redis(), account_key, window_seconds=config["FATHOM_RATE_WINDOW_SECONDS"],
                       general_limit=config["FATHOM_RATE_LIMIT"], heavy_limit=config["FATHOM_HEAVY_RATE_LIMIT"])


def _account_key(connection: FathomConnection) -> str:
    """Fathom limits per account: connections known to be the same account share a budget."""
    return (connection.account_email or f"connection-{connection.id}").lower()


def client_for(connection: FathomConnection, only: str | None = None) -> FathomClient:
    """A client using the connection's best working credential. Raises NeedsAttention."""
    return FathomClient(_settings(), ConnectionAuth(connection.id, only=only), limiter_for(_account_key(connection)))


# --- connecting, checking, disconnecting ---------------------------------------------------------

@dataclass
class CheckResult:
    kind: str
    ok: bool
    message: str


def _kind_name(kind: str) -> str:
    return "OAuth" if kind == OAUTH else "The API key"


def _account_email(meetings: list[dict], user: User) -> str | None:
    """Fathom has no "who am I" call: the recorder of the visible meetings is the best evidence."""
    recorders = Counter(str((m.get("recorded_by") or {}).get("email") or "").lower() for m in meetings)
    recorders.pop("", None)
    own = {h.email for h in user.host_emails if h.is_approved}  # an unproven claim must not sway it
    for email, _ in recorders.most_common():
        if email in own:
            return email
    return recorders.most_common(1)[0][0] if recorders else None


def _probe(client: FathomClient, user: User) -> tuple[str | None, int, bool]:
    page = client.meetings_page()
    return _account_email(page["items"], user), len(page["items"]), bool(page["next_cursor"])


def _describe(kind: str, email: str | None, count: int, more: bool) -> str:
    name = _kind_name(kind)
    account = f"Fathom account {email}" if email else "a Fathom account with no meetings yet"
    seen = f"{count}{'+' if more else ''} meeting{'s' if count != 1 or more else ''} visible"
    return f"{name} works: {account} ({seen})."


def connect_api_key(user: User, api_key: str) -> str:
    """Check the key with Fathom and store it (encrypted). Returns what to tell the user."""
    api_key = (api_key or "").strip()
    if not api_key:
        raise ConnectError("enter a Fathom API key")
    connection = get_connection(user)
    account_key = _account_key(connection) if connection else f"user-{user.id}"
    email, message = None, None
    with FathomClient(_settings(), ApiKeyAuth(api_key), limiter_for(account_key)) as client:
        try:
            email, count, more = _probe(client, user)
            message = _describe(API_KEY, email, count, more)
        except FathomAuthError:
            raise ConnectError("Fathom rejected this API key (401); copy it again from Fathom's "
                               "Settings → API Access") from None
        except FathomError as exc:
            message = f"The API key is stored, but it could not be checked: {exc}."
    connection = connection or FathomConnection(user_id=user.id)
    connection.api_key = api_key
    if email:
        connection.account_email = email
        accounts.prove_host_email(user, email)
    connection.status, connection.last_error, connection.last_checked_at = "ok", None, utcnow()
    db.session.add(connection)
    db.session.commit()
    log_event("fathom_connected", user_id=user.id, kind=API_KEY)
    return message


def connect_oauth(user: User, code: str) -> str:
    """Exchange the authorization code and store the token pair. Raises OAuthNotConfigured."""
    try:
        token = oauth.exchange_code(current_app.config, code)
    except oauth.OAuthFailed as exc:
        raise ConnectError(f"Connecting Fathom failed: {exc}") from None
    connection = get_connection(user) or FathomConnection(user_id=user.id)
    connection.access_token, connection.refresh_token = token["access_token"], token["refresh_token"]
    connection.token_expires_at = oauth.expires_at(token)
    connection.status, connection.last_error, connection.last_checked_at = "ok", None, utcnow()
    db.session.add(connection)
    db.session.commit()
    log_event("fathom_connected", user_id=user.id, kind=OAUTH)
    results = test_connection(user, kinds=(OAUTH,))
    return results[0].message if results else "Fathom is connected."


def test_connection(user: User, kinds=(OAUTH, API_KEY)) -> list[CheckResult]:
    """Try each stored credential with one light call; record what works on the connection."""
    connection = get_connection(user)
    if connection is None or not (connection.has_oauth or connection.has_api_key):
        return []
    results, emails = [], []
    for kind in kinds:
        if not (connection.has_oauth if kind == OAUTH else connection.has_api_key):
            continue
        try:
            with client_for(connection, only=kind) as client:
                email, count, more = _probe(client, user)
            emails.append(email)
            results.append(CheckResult(kind, True, _describe(kind, email, count, more)))
        except (FathomError, oauth.OAuthNotConfigured) as exc:
            results.append(CheckResult(kind, False, f"{_kind_name(kind)} does not work: {exc}."))
        db.session.expire(connection)
    working = [r for r in results if r.ok]
    if working:
        fields = {"status": "ok", "last_checked_at": utcnow(),
                  "last_error": None if len(working) == len(results) else
                  " ".join(r.message for r in results if not r.ok)}
        account_email = next(filter(None, emails), None)
        if account_email:
            fields["account_email"] = account_email
        _update(connection.id, **fields)
        if account_email:
            accounts.prove_host_email(user, account_email)
            db.session.commit()
    elif results:
        mark_needs_attention(connection.id, " ".join(r.message for r in results))
    db.session.expire(connection)
    return results


def disconnect(user: User) -> bool:
    """Forget every Fathom credential of the user. The row (and a personal webhook) stays."""
    connection = get_connection(user)
    if connection is None or not (connection.has_oauth or connection.has_api_key):
        return False
    connection.api_key = connection.access_token = connection.refresh_token = None
    connection.token_expires_at = connection.account_email = connection.last_error = None
    connection.status = "ok"
    db.session.commit()
    log_event("fathom_disconnected", user_id=user.id)
    return True
