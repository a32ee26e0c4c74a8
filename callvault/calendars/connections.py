"""Connected calendars: connecting by OAuth or for pilot users, their tokens, and disconnecting.

Token state is read and written in short sessions of its own, so a refresh in the middle of a
sync never commits or discards the sync's unit of work.
"""
import logging
from datetime import datetime, timedelta, timezone

from flask import current_app

from .. import signals
from ..extensions import db, row_in_own_session
from ..logs import log_event
from ..models import Calendar, CalendarCredential, HostEmail, User, utcnow
from . import oauth
from .google_client import GoogleCalendarClient
from .microsoft_client import MicrosoftGraphClient
from .oauth import GOOGLE, PROVIDERS, Provider
from .transport import AuthRevoked, HttpSettings, NotConfigured, ProviderError, TokenSource

REFRESH_MARGIN = timedelta(minutes=2)
DISCONNECTED_BY_OWNER = "Disconnected in Settings."
DEDUPLICATION_SUFFIXES = {("google", "service_account"): "google-sa", ("google", "oauth"): "google-oauth",
                          ("microsoft", "oauth"): "microsoft-oauth"}


class ConnectError(Exception):
    """Connecting failed; the message is safe to show."""


def deduplication_key(email: str, provider: str, auth_method: str) -> str:
    return f"{email.lower()}-{DEDUPLICATION_SUFFIXES[(provider, auth_method)]}"


# --- tokens --------------------------------------------------------------------------------------

def _credential_row(credential_id: int):
    return row_in_own_session(CalendarCredential, credential_id,
                              AuthRevoked("the calendar's credentials were removed; connect it again"))


class OAuthTokens(TokenSource):
    """A stored credential's access token, refreshed shortly before it expires or when rejected."""

    def __init__(self, credential_id: int, provider: Provider):
        self.credential_id, self.provider = credential_id, provider

    def token(self) -> str:
        with _credential_row(self.credential_id) as row:
            token, expires = row.access_token, row.token_expires_at
        if token and expires and expires - REFRESH_MARGIN > datetime.now(timezone.utc):
            return token
        return self.refresh()

    def refresh(self, retried: bool = False) -> str:
        with _credential_row(self.credential_id) as row:
            used = row.refresh_token
        if not used:
            raise AuthRevoked(f"there is no {self.provider.title} refresh token; connect the calendar again")
        try:
            token = oauth.refresh(current_app.config, self.provider, used)
        except AuthRevoked:
            with _credential_row(self.credential_id) as row:
                rotated = row.refresh_token != used
            if rotated and not retried:  # another process refreshed first: use its token, do not guess
                return self.refresh(retried=True)
            raise
        with _credential_row(self.credential_id) as row:
            row.access_token = token["access_token"]
            row.token_expires_at = oauth.expires_at(token)
            if token.get("refresh_token"):  # Microsoft rotates it on every refresh
                row.refresh_token = token["refresh_token"]
        log_event("calendar_token_refreshed", credential_id=self.credential_id,
                  rotated=bool(token.get("refresh_token")))
        return token["access_token"]


class ServiceAccountTokens(TokenSource):
    """Tokens for a pilot user, minted with the service account's key (domain-wide delegation)."""

    def __init__(self, subject: str):
        self.subject = subject
        self._token: str | None = None

    def token(self) -> str:
        return self._token or self.refresh()

    def refresh(self) -> str:
        self._token = oauth.service_account_token(current_app.config, self.subject)["access_token"]
        return self._token


class FixedToken(TokenSource):
    """The access token of a code exchange, used once to learn the account's address."""

    def __init__(self, token: str):
        self._token = token

    def token(self) -> str:
        return self._token

    def refresh(self) -> str:
        raise ProviderError("the provider rejected a token it had just issued")


def _client(provider: str, tokens: TokenSource):
    config = current_app.config
    settings = HttpSettings.from_config(config)
    if provider == "google":
        return GoogleCalendarClient(config["GOOGLE_API_BASE_URL"], tokens, settings)
    return MicrosoftGraphClient(config["MICROSOFT_GRAPH_BASE_URL"], tokens, settings)


def client_for(calendar: Calendar):
    """The API client for a calendar, with the right kind of tokens."""
    if calendar.auth_method == "service_account":
        return _client(calendar.provider, ServiceAccountTokens(calendar.account_email))
    if calendar.credential_id is None:
        raise AuthRevoked("the calendar's credentials were removed; connect it again")
    return _client(calendar.provider, OAuthTokens(calendar.credential_id, PROVIDERS[calendar.provider]))


# --- connecting ----------------------------------------------------------------------------------

def connect_oauth(user: User, provider: Provider, code: str) -> Calendar:
    """Exchange the code, learn which account it is, and store the credential and calendar."""
    token = oauth.exchange_code(current_app.config, provider, code)
    with _client(provider.name, FixedToken(token["access_token"])) as client:
        primary = client.primary_calendar()
    email = (primary.get("id") if provider is GOOGLE else (primary.get("owner") or {}).get("address")) or ""
    email = email.strip().lower()
    if "@" not in email:
        raise ConnectError(f"{provider.title} did not say which account this calendar belongs to")
    key = deduplication_key(email, provider.name, "oauth")
    credential = CalendarCredential.query.filter_by(provider=provider.name, account_email=email).first()
    calendar = Calendar.query.filter_by(deduplication_key=key).first()
    if any(row is not None and row.user_id != user.id for row in (credential, calendar)):
        raise ConnectError(f"the {provider.title} account {email} is already connected by another CallVault user")
    if credential is None:
        credential = CalendarCredential(user_id=user.id, provider=provider.name, account_email=email)
        db.session.add(credential)
    credential.access_token = token["access_token"]
    credential.refresh_token = token["refresh_token"]
    credential.token_expires_at = oauth.expires_at(token)
    credential.scopes = token.get("scope") or provider.scope
    if calendar is None:
        calendar = Calendar(user_id=user.id, provider=provider.name, auth_method="oauth", account_email=email,
                            deduplication_key=key)
        db.session.add(calendar)
    calendar.credential = credential
    _mark_connected(calendar)
    db.session.commit()
    log_event("calendar_connected", calendar_id=calendar.id, provider=provider.name, user_id=user.id)
    return calendar


def setup_pilot_calendars() -> list[tuple[str, str, Calendar | None]]:
    """Create (or reconnect) the service-account calendar of every PILOT_USERS address.

    Returns (email, outcome, calendar) per address; outcome is created, reconnected, unchanged or
    a problem. Running it again changes nothing.
    """
    config = current_app.config
    if not config["PILOT_USERS"]:
        raise NotConfigured("set PILOT_USERS on the server (comma-separated emails)")
    oauth.service_account_info(config)
    results = []
    for email in config["PILOT_USERS"]:
        owner = User.query.filter_by(email=email).first() or getattr(
            HostEmail.query.filter_by(email=email, status="approved").first(), "user", None)  # not a mere claim
        if owner is None:
            results.append((email, f"no CallVault user has the address {email}; create one with "
                                   f"`flask users create {email}`", None))
            continue
        key = deduplication_key(email, "google", "service_account")
        calendar = Calendar.query.filter_by(deduplication_key=key).first()
        if calendar is None:
            calendar = Calendar(user_id=owner.id, provider="google", auth_method="service_account",
                                account_email=email, deduplication_key=key)
            db.session.add(calendar)
            outcome = "created"
        elif not calendar.is_connected:
            outcome = "reconnected"
            _mark_connected(calendar)
        else:
            outcome = "unchanged"
        db.session.commit()
        results.append((email, outcome, calendar))
    return results


def _mark_connected(calendar: Calendar) -> None:
    calendar.state = "connected"
    calendar.disconnected_reason = calendar.disconnected_at = calendar.last_error = None


# --- disconnecting -------------------------------------------------------------------------------

def mark_auth_revoked(calendar_id: int, reason: str) -> None:
    """The provider refused the grant for good: disconnect, and tell the owner (Settings and a banner).
    The session's pending work is discarded first: it was made with the dead grant."""
    db.session.rollback()
    calendar = db.session.get(Calendar, calendar_id)
    calendar.state = "disconnected"
    calendar.disconnected_reason = reason
    calendar.disconnected_at = utcnow()
    calendar.sync_cursor = None
    for channel in calendar.channels:
        if channel.state == "active":  # without a working grant the channel cannot be stopped remotely
            channel.state, channel.stopped_at = "stopped", utcnow()
    db.session.commit()
    log_event("calendar_disconnected", logging.WARNING, calendar_id=calendar_id, user_id=calendar.user_id,
              reason=reason)
    signals.notify(signals.calendar_disconnected, calendar_id=calendar_id)


def needing_attention(user: User) -> list[Calendar]:
    """`user`'s calendars the provider disconnected (revoked or expired access); one its owner
    disconnected needs nothing."""
    return [c for c in user.calendars if not c.is_connected and c.disconnected_reason != DISCONNECTED_BY_OWNER]
