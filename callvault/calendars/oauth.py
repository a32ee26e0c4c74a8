"""OAuth for Google and Microsoft calendars (through Authlib), and Google domain-wide delegation.

Settings come in as a mapping (the app config). A missing setting raises `NotConfigured` naming
the variable. Token-endpoint failures are classified (see transport.py): only a definitive
refusal of the grant is `AuthRevoked`.

Microsoft's token endpoint is called directly over HTTP (Authlib), not through msal: msal refuses
any non-https authority, so it could not be tested against a local fake.
"""
import json
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7523 import JWTBearerGrant
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey

from ..http_retry import network_problem
from .transport import AuthRevoked, HttpSettings, NotConfigured, ProviderError, TransientError, retrying

GOOGLE_SCOPE = "https://www.googleapis.com/auth/calendar.readonly"
MICROSOFT_SCOPE = "offline_access Calendars.Read"
GOOGLE_AUTHORIZE_URL = "https://accounts.google.com/o/oauth2/v2/auth"
GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ASSERTION_LIFETIME_SECONDS = 3600  # Google's maximum
# Token-endpoint errors that mean the user (or an admin) took the access away for good.
DEFINITIVE_ERRORS = {"invalid_grant", "unauthorized_client", "deleted_client", "interaction_required",
                     "consent_required"}
TRANSIENT_ERRORS = {"server_error", "temporarily_unavailable"}


@dataclass(frozen=True)
class Provider:
    name: str          # google | microsoft
    title: str
    scope: str
    client_id_setting: str
    client_secret_setting: str
    redirect_setting: str
    callback_path: str


GOOGLE = Provider("google", "Google", GOOGLE_SCOPE, "GOOGLE_CLIENT_ID", "GOOGLE_CLIENT_SECRET",
                  "GOOGLE_REDIRECT_URI", "/dashboard/auth/google/callback/")
MICROSOFT = Provider("microsoft", "Microsoft", MICROSOFT_SCOPE, "MICROSOFT_CLIENT_ID", "MICROSOFT_CLIENT_SECRET",
                     "MICROSOFT_REDIRECT_URI", "/dashboard/auth/microsoft/callback/")
PROVIDERS = {p.name: p for p in (GOOGLE, MICROSOFT)}


def endpoints(config, provider: Provider) -> tuple[str, str]:
    """(authorize URL, token URL) for the provider, honouring the sandbox base URLs."""
    if provider is GOOGLE:
        base = (config.get("GOOGLE_OAUTH_BASE_URL") or "").rstrip("/")
        if base:
            return f"{base}/o/oauth2/v2/auth", f"{base}/token"
        return GOOGLE_AUTHORIZE_URL, GOOGLE_TOKEN_URL
    root = f"{config['MICROSOFT_LOGIN_BASE_URL'].rstrip('/')}/{config['MICROSOFT_TENANT_ID']}/oauth2/v2.0"
    return f"{root}/authorize", f"{root}/token"


def redirect_uri(config, provider: Provider) -> str:
    return config.get(provider.redirect_setting) or config["PUBLIC_BASE_URL"] + provider.callback_path


def require(config, *names: str) -> None:
    for name in names:
        if not config.get(name):
            raise NotConfigured(f"set {name} on the server")


def _session(config, provider: Provider) -> OAuth2Session:
    require(config, provider.client_id_setting, provider.client_secret_setting)
    return OAuth2Session(config[provider.client_id_setting], config[provider.client_secret_setting],
                         scope=provider.scope, redirect_uri=redirect_uri(config, provider),
                         token_endpoint_auth_method="client_secret_post",
                         default_timeout=config["CALENDAR_HTTP_TIMEOUT_SECONDS"])


def authorization_url(config, provider: Provider, state: str) -> str:
    """Where to send the user for consent. Google sends a refresh token only on a consent screen,
    hence access_type=offline and prompt=consent."""
    extra = {"access_type": "offline", "prompt": "consent"} if provider is GOOGLE else {"response_mode": "query"}
    with _session(config, provider) as session:
        url, _ = session.create_authorization_url(endpoints(config, provider)[0], state=state, **extra)
    return url


def exchange_code(config, provider: Provider, code: str) -> dict:
    with _session(config, provider) as session:
        token = _token_call(config, provider, lambda: session.fetch_token(
            endpoints(config, provider)[1], code=code, grant_type="authorization_code"))
    if not token.get("refresh_token"):
        raise ProviderError(f"{provider.title} granted access without a refresh token; connect again")
    return token


def refresh(config, provider: Provider, refresh_token: str) -> dict:
    """A fresh access token. Microsoft also answers with a new refresh token: store it."""
    extra = {"scope": provider.scope} if provider is MICROSOFT else {}
    with _session(config, provider) as session:
        return _token_call(config, provider, lambda: session.refresh_token(
            endpoints(config, provider)[1], refresh_token=refresh_token, **extra))


# --- domain-wide delegation ----------------------------------------------------------------------

def service_account_info(config) -> dict:
    """GOOGLE_SERVICE_ACCOUNT_JSON, as JSON text or the path of a key file."""
    value = (config.get("GOOGLE_SERVICE_ACCOUNT_JSON") or "").strip()
    if not value:
        raise NotConfigured("set GOOGLE_SERVICE_ACCOUNT_JSON on the server (the service account's key, "
                            "as JSON text or a file path)")
    if not value.startswith("{"):
        try:
            value = Path(value).read_text()
        except OSError:
            raise NotConfigured("GOOGLE_SERVICE_ACCOUNT_JSON is neither JSON nor a readable file path") from None
    try:
        info = json.loads(value)
    except ValueError:
        raise NotConfigured("GOOGLE_SERVICE_ACCOUNT_JSON is not valid JSON") from None
    if not isinstance(info, dict) or not info.get("client_email") or not info.get("private_key"):
        raise NotConfigured("GOOGLE_SERVICE_ACCOUNT_JSON has no client_email and private_key: "
                            "use the key file Google Cloud downloads for the service account")
    return info


def service_account_token(config, subject: str) -> dict:
    """An access token for `subject`, impersonated by the service account (RFC 7523 JWT bearer).

    The assertion is signed RS256 with the account's key and says: iss = the service account,
    sub = the user, scope, aud = the token endpoint, iat/exp at most an hour apart.
    """
    info = service_account_info(config)
    token_url = endpoints(config, GOOGLE)[1]
    timeout = config["CALENDAR_HTTP_TIMEOUT_SECONDS"]
    now = int(time.time())
    header = {"alg": "RS256", "typ": "JWT"}
    if info.get("private_key_id"):
        header["kid"] = info["private_key_id"]
    try:
        assertion = JWTBearerGrant.sign(RSAKey.import_key(info["private_key"]), issuer=info["client_email"],
                                        audience=token_url, subject=subject, issued_at=now,
                                        expires_at=now + ASSERTION_LIFETIME_SECONDS, claims={"scope": GOOGLE_SCOPE},
                                        header=header)
    except (ValueError, TypeError, JoseError):
        raise NotConfigured("GOOGLE_SERVICE_ACCOUNT_JSON's private_key is not a usable RSA key") from None

    def call() -> dict:
        response = requests.post(token_url, data={"grant_type": JWT_BEARER_GRANT, "assertion": assertion},
                                 timeout=timeout)
        if response.status_code >= 500:
            response.raise_for_status()
        body = response.json()
        if "error" in body:
            raise _classified(GOOGLE, body["error"], body.get("error_description") or "", service_account=True)
        return body

    return _token_call(config, GOOGLE, call)


# --- token responses -----------------------------------------------------------------------------

def expires_at(token: dict) -> datetime | None:
    try:
        return datetime.now(timezone.utc) + timedelta(seconds=float(token.get("expires_in")))
    except (TypeError, ValueError):
        return None


def _token_call(config, provider: Provider, call) -> dict:
    """Call a token endpoint with retries for transient failures, classifying the rest."""
    where = f"{provider.title}'s token endpoint"

    def attempt() -> dict:
        try:
            token = call()
        except AuthlibBaseError as exc:
            raise _classified(provider, exc.error or "error", exc.description or "") from None
        except ValueError:  # not JSON (requests' JSONDecodeError is one too): a gateway's error page
            raise TransientError(f"{where} answered with an error page") from None
        except requests.RequestException as exc:
            status = exc.response.status_code if getattr(exc, "response", None) is not None else None
            problem = f"answered {status}" if status else network_problem(exc)
            raise TransientError(f"{where} {problem}", status) from None
        if not token.get("access_token"):
            raise ProviderError(f"{where} answered without an access token")
        return dict(token)

    return retrying(HttpSettings.from_config(config), attempt)


def _classified(provider: Provider, error: str, description: str, service_account: bool = False):
    detail = f"{error}: {description[:200]}" if description else error
    if service_account and error == "invalid_grant" and "Invalid JWT" in description and (
            "iat" in description or "exp" in description or "timeframe" in description):
        # Google rejects assertions from a server whose clock is off: our fault, not a revocation.
        return ProviderError(f"Google refused the service account's assertion ({detail}); check this "
                             "server's clock")
    if error in DEFINITIVE_ERRORS:
        return AuthRevoked(f"{provider.title} no longer accepts this authorization ({detail})")
    if error == "invalid_client":
        return NotConfigured(f"{provider.title} rejected the OAuth client ({detail}): check "
                             f"{provider.client_id_setting} and {provider.client_secret_setting}")
    if error in TRANSIENT_ERRORS:
        return TransientError(f"{provider.title}'s token endpoint is unavailable ({detail})")
    return ProviderError(f"{provider.title}'s token endpoint refused the request ({detail})")
