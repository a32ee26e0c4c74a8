"""Fathom OAuth (authorization code with scope public_api), through Authlib.

Settings come in as a mapping (the app config), so nothing here touches Flask. A missing
setting raises `OAuthNotConfigured` naming the variable.
"""
import math
from datetime import datetime, timedelta, timezone

import requests
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import OAuth2Session

from ..http_retry import Backoff

SCOPE = "public_api"
TIMEOUT_SECONDS = 20
TOKEN_ATTEMPTS = 3


class OAuthNotConfigured(Exception):
    def __init__(self, variable: str):
        super().__init__(f"Fathom OAuth is not configured: set {variable} on the server")
        self.variable = variable


class OAuthFailed(Exception):
    """The token endpoint refused or failed.

    `grant_dead`: this authorization can never work again (revoked, or a refresh token already
    used). `transient`: Fathom or the network failed; the same request may work later.
    """

    def __init__(self, message: str, grant_dead: bool = False, transient: bool = False):
        super().__init__(message)
        self.grant_dead, self.transient = grant_dead, transient


def _require(config, *names) -> list[str]:
    for name in names:
        if not config.get(name):
            raise OAuthNotConfigured(name)
    return [config[name] for name in names]


def _session(config, **kwargs) -> OAuth2Session:
    client_id, client_secret, redirect_uri = _require(
        config, "FATHOM_OAUTH_CLIENT_ID", "FATHOM_OAUTH_CLIENT_SECRET", "FATHOM_OAUTH_REDIRECT_URI")
    return OAuth2Session(client_id, client_secret, scope=SCOPE, redirect_uri=redirect_uri,
                         token_endpoint_auth_method="client_secret_post", default_timeout=TIMEOUT_SECONDS,
                         **kwargs)


def authorization_url(config, state: str) -> str:
    with _session(config) as session:
        url, _ = session.create_authorization_url(config["FATHOM_OAUTH_AUTHORIZE_URL"], state=state)
    return url


def exchange_code(config, code: str) -> dict:
    with _session(config) as session:
        return _with_retries(config, lambda: session.fetch_token(
            config["FATHOM_OAUTH_TOKEN_URL"], code=code, grant_type="authorization_code"))


def refresh(config, refresh_token: str) -> dict:
    """A new token pair. Fathom's refresh tokens are single-use: the old one is now dead."""
    with _session(config) as session:
        return _with_retries(config, lambda: session.refresh_token(
            config["FATHOM_OAUTH_TOKEN_URL"], refresh_token=refresh_token))


def expires_at(token: dict) -> datetime | None:
    try:
        seconds = float(token.get("expires_in"))
    except (TypeError, ValueError):
        return None
    return datetime.now(timezone.utc) + timedelta(seconds=seconds)


def _with_retries(config, call) -> dict:
    """A gateway error or a dropped connection usually means the token endpoint never saw the
    request, so it is tried again; a refused grant is final."""
    backoff = Backoff(TOKEN_ATTEMPTS, config.get("FATHOM_RETRY_BASE_SECONDS", 1.0), math.inf)
    while True:
        try:
            return _token_call(call)
        except OAuthFailed as exc:
            if not exc.transient or not backoff.retry():
                raise


def _token_call(call) -> dict:
    try:
        token = call()
    except OAuthError as exc:
        error = exc.error or "error"
        if error == "invalid_grant":
            raise OAuthFailed("Fathom no longer accepts this authorization (invalid_grant): "
                              "it was revoked or already used", grant_dead=True) from None
        if error == "invalid_client":
            raise OAuthFailed("Fathom rejected the OAuth client (invalid_client): check "
                              "FATHOM_OAUTH_CLIENT_ID and FATHOM_OAUTH_CLIENT_SECRET") from None
        raise OAuthFailed(f"Fathom's token endpoint answered {error}") from None
    except requests.RequestException as exc:
        raise OAuthFailed(f"Fathom's token endpoint could not be reached ({type(exc).__name__})",
                          transient=True) from None
    except ValueError:  # a gateway error page instead of JSON
        raise OAuthFailed("Fathom's token endpoint answered with an error page; try again later",
                          transient=True) from None
    if not token.get("access_token") or not token.get("refresh_token"):
        raise OAuthFailed("Fathom's token endpoint answered without an access and refresh token")
    return dict(token)
