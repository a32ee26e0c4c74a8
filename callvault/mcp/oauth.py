"""CallVault's own OAuth 2.1 authorization server for MCP clients, as storage and rules for Authlib.

The HTTP side (`blueprints/mcp_oauth.py`) runs Authlib's Flask AuthorizationServer with the grants
and endpoints defined here:

1. A client registers itself (RFC 7591, open: registering grants nothing by itself). Redirect URIs
   must be https, http on loopback, or an app's own scheme; they are later matched exactly.
2. The signed-in person approves it on the consent page: an authorization code (5 minutes, one
   use) is stored with its PKCE S256 challenge and the resource (RFC 8707) its tokens will be for,
   which can only be this server's `/mcp`. Plain PKCE, or none, is refused.
3. The client redeems the code with its verifier for an access token (1 hour) and a refresh token
   (30 days). Refreshing rotates: the old pair is revoked; a revoked refresh token presented again
   revokes the whole grant (it leaked, or was replayed).
4. The MCP endpoint accepts the access token, or a personal API token (`verify_bearer`).
5. Revoking (RFC 7009, or Settings) deletes the person's grant to that client with all its tokens.

Only SHA-256 hashes of secrets, codes and tokens are stored.
"""
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import InvalidRequestError, OAuth2Error
from authlib.oauth2.rfc7009 import RevocationEndpoint as _RevocationEndpoint
from authlib.oauth2.rfc7591 import ClientRegistrationEndpoint as _RegistrationEndpoint
from authlib.oauth2.rfc7591.errors import InvalidRedirectURIError, InvalidClientMetadataError
from authlib.oauth2.rfc7636 import CodeChallenge

from .. import accounts
from ..extensions import db
from ..logs import log_event
from ..models import OAuthAuthorizationCode, OAuthClient, OAuthGrant, OAuthToken, User, utcnow
from ..models.mcp_oauth import secret_hash

MCP_PATH = "/mcp"
SCOPE = "meetings:read"
SCOPE_DESCRIPTION = "Search and read the meetings you can see in CallVault: transcripts, summaries, action items"
ACCESS_TOKEN_LIFETIME = timedelta(hours=1)
REFRESH_TOKEN_LIFETIME = timedelta(days=30)
CODE_LIFETIME = timedelta(minutes=5)
AUTH_METHODS = ["none", "client_secret_basic", "client_secret_post"]
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]", "::1")
REFUSED_SCHEMES = ("javascript", "data", "file", "vbscript", "about", "blob")
TEXT_METADATA = ("client_name", "scope", "token_endpoint_auth_method", "client_uri", "logo_uri", "tos_uri",
                 "policy_uri", "jwks_uri", "software_id", "software_version")
LIST_METADATA = ("redirect_uris", "grant_types", "response_types", "contacts")
LAST_USED_EVERY = timedelta(minutes=5)  # how often a grant's "last used" is written


def resource_url(config) -> str:
    """The MCP endpoint: the one resource (RFC 8707 audience) CallVault's tokens are issued for."""
    return config["PUBLIC_BASE_URL"] + MCP_PATH


def issuer(config) -> str:
    return config["PUBLIC_BASE_URL"]


def server_metadata(config, urls: dict) -> dict:
    """RFC 8414 metadata; `urls` holds the endpoints' absolute URLs."""
    return {
        "issuer": issuer(config),
        "authorization_endpoint": urls["authorize"],
        "token_endpoint": urls["token"],
        "registration_endpoint": urls["register"],
        "revocation_endpoint": urls["revoke"],
        "scopes_supported": [SCOPE],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": True,
        "token_endpoint_auth_methods_supported": AUTH_METHODS,
        "revocation_endpoint_auth_methods_supported": AUTH_METHODS,
    }


def new_secret(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


# --- the bearer tokens /mcp accepts ---------------------------------------------------------------------

@dataclass(frozen=True)
class Bearer:
    user_id: int
    client: str  # "personal-token" or the OAuth client's id
    resource: str
    expires_at: datetime | None


def verify_bearer(token: str, config) -> Bearer | None:
    """Who a bearer token acts for at /mcp: a personal API token (any resource of this server), or a
    current OAuth access token (for the resource it was issued for). None for anything else."""
    token = (token or "").strip()
    if token.startswith("cv_"):
        user = accounts.user_for_api_token(token)
        return Bearer(user.id, "personal-token", resource_url(config), None) if user else None
    row = db.session.scalars(db.select(OAuthToken).where(OAuthToken.access_token_hash == secret_hash(token))).first()
    if row is None or row.revoked_at is not None or row.is_expired() or not row.grant.user.is_active:
        return None
    grant = row.grant
    if grant.last_used_at is None or utcnow() - grant.last_used_at > LAST_USED_EVERY:
        grant.last_used_at = utcnow()
        db.session.commit()
    return Bearer(grant.user_id, grant.client.client_id, row.resource, row.access_expires_at)


# --- clients ----------------------------------------------------------------------------------------------

def query_client(client_id) -> OAuthClient | None:
    if not isinstance(client_id, str) or len(client_id) > 64:
        return None
    return db.session.scalars(db.select(OAuthClient).where(OAuthClient.client_id == client_id)).first()


def check_redirect_uri(uri) -> str | None:
    """Why `uri` cannot be a redirect URI, or None when it can."""
    if not isinstance(uri, str) or not uri or len(uri) > 2000:
        return "each redirect URI must be text of at most 2,000 characters"
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if parts.fragment:
        return "a redirect URI cannot have a fragment"
    if scheme == "https" and parts.netloc:
        return None
    if scheme == "http":
        return None if parts.hostname in LOOPBACK_HOSTS else "http redirect URIs must be on loopback (127.0.0.1, " \
                                                              "localhost or [::1]); use https"
    if not scheme or scheme in REFUSED_SCHEMES:
        return "redirect URIs must be https, http on loopback, or an app's own scheme"
    return None  # an app's own scheme (com.example.app:/callback, cursor://…)


class ClientRegistrationEndpoint(_RegistrationEndpoint):
    """RFC 7591 dynamic registration, open to anyone: a client can do nothing until a person approves it."""

    def __init__(self, server, metadata: callable):
        super().__init__(server)
        self._metadata = metadata

    def authenticate_token(self, request):
        return True

    def get_server_metadata(self):
        return self._metadata()

    def generate_client_info(self, request):
        info = super().generate_client_info(request)
        if (request.payload.data or {}).get("token_endpoint_auth_method", "client_secret_basic") == "none":
            info.pop("client_secret")
            info.pop("client_secret_expires_at")
        return info

    def extract_client_metadata(self, request):
        data = request.payload.data
        if not isinstance(data, dict):
            raise InvalidClientMetadataError("send the client's metadata as a JSON object")
        uris = data.get("redirect_uris")
        if not isinstance(uris, list) or not uris or len(uris) > 10:
            raise InvalidRedirectURIError("redirect_uris must list one to ten redirect URIs")
        for uri in uris:
            problem = check_redirect_uri(uri)
            if problem:
                raise InvalidRedirectURIError(problem)
        for key, value in data.items():
            if key in TEXT_METADATA and not isinstance(value, str) or key in LIST_METADATA and not (
                    isinstance(value, list) and all(isinstance(item, str) for item in value)):
                raise InvalidClientMetadataError(f"{key} must be {'text' if key in TEXT_METADATA else 'a list of text'}")
        try:
            metadata = super().extract_client_metadata(request)
        except (ValueError, TypeError):  # Authlib will not build an error whose text quotes the client's input
            raise InvalidClientMetadataError("the client metadata is not valid (RFC 7591)") from None
        metadata.setdefault("grant_types", ["authorization_code"])
        metadata.setdefault("response_types", ["code"])
        metadata.setdefault("token_endpoint_auth_method", "client_secret_basic")
        wanted = (metadata.get("scope") or SCOPE).split()
        metadata["scope"] = " ".join(s for s in wanted if s == SCOPE) or SCOPE
        if not set(metadata["grant_types"]) <= {"authorization_code", "refresh_token"}:
            raise InvalidClientMetadataError("grant_types can be authorization_code and refresh_token")
        if metadata["response_types"] != ["code"]:
            raise InvalidClientMetadataError("response_types must be code")
        if metadata["token_endpoint_auth_method"] not in AUTH_METHODS:
            raise InvalidClientMetadataError(f"token_endpoint_auth_method must be one of {', '.join(AUTH_METHODS)}")
        return metadata

    def save_client(self, client_info, client_metadata, request):
        name = client_metadata.get("client_name")
        client = OAuthClient(client_id=client_info["client_id"], client_name=str(name)[:200] if name else None,
                             client_secret_hash=secret_hash(client_info["client_secret"])
                             if client_info.get("client_secret") else None,
                             metadata_json=json.dumps(client_metadata))
        db.session.add(client)
        db.session.commit()
        log_event("oauth_client_registered", client_id=client.client_id, client_name=client.client_name)
        return client


# --- authorization code with PKCE S256 -------------------------------------------------------------------

class InvalidTargetError(OAuth2Error):
    """RFC 8707: the `resource` asked for is not this server's MCP endpoint."""
    error = "invalid_target"


class PkceS256(CodeChallenge):
    """PKCE is required of every client, and only S256."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def validate_code_challenge(self, grant, redirect_uri):
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: send code_challenge and code_challenge_method=S256")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("code_challenge_method must be S256")
        super().validate_code_challenge(grant, redirect_uri)

    def get_authorization_code_challenge(self, authorization_code):
        return authorization_code.code_challenge

    def get_authorization_code_challenge_method(self, authorization_code):
        return authorization_code.code_challenge_method


def requested_resource(request, config, default: str | None = None) -> str:
    """The RFC 8707 resource a request names (this server's /mcp, with or without a trailing slash)."""
    wanted = request.payload.data.get("resource")
    ours = resource_url(config)
    if not wanted:
        return default or ours
    if not isinstance(wanted, str) or wanted.rstrip("/") != ours:
        raise InvalidTargetError(description=f"resource must be {ours}")
    return ours


def _grant_for(user: User, client: OAuthClient, scope: str) -> OAuthGrant:
    grant = db.session.scalars(db.select(OAuthGrant).where(OAuthGrant.user_id == user.id,
                                                           OAuthGrant.client_id == client.id)).first()
    if grant is None:
        grant = OAuthGrant(user_id=user.id, client=client)
        db.session.add(grant)
    grant.scope = scope
    return grant


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS
    config = None  # the app's config, set by the blueprint

    def validate_authorization_request(self):
        redirect_uri = super().validate_authorization_request()
        try:
            requested_resource(self.request, self.config)
        except InvalidTargetError as error:  # the redirect URI is valid: tell the client there
            error.redirect_uri = redirect_uri
            raise
        return redirect_uri

    def save_authorization_code(self, code, request):
        data = request.payload.data
        grant = _grant_for(request.user, request.client, request.payload.scope or SCOPE)
        db.session.add(OAuthAuthorizationCode(
            grant=grant, code_hash=secret_hash(code), redirect_uri=request.payload.redirect_uri or "",
            scope=grant.scope, resource=requested_resource(request, self.config),
            code_challenge=data["code_challenge"], code_challenge_method=data["code_challenge_method"],
            expires_at=utcnow() + CODE_LIFETIME))
        db.session.commit()
        log_event("oauth_consent_given", user_id=request.user.id, client_id=request.client.client_id)

    def query_authorization_code(self, code, client):
        if not isinstance(code, str):
            return None
        row = db.session.scalars(db.select(OAuthAuthorizationCode)
                                 .where(OAuthAuthorizationCode.code_hash == secret_hash(code))).first()
        if row is None or row.grant.client_id != client.id or row.expires_at <= utcnow():
            return None
        return row

    def validate_token_request(self):
        super().validate_token_request()
        code = self.request.authorization_code
        requested_resource(self.request, self.config, code.resource)

    def delete_authorization_code(self, authorization_code):
        db.session.delete(authorization_code)
        db.session.commit()

    def authenticate_user(self, authorization_code):
        user = authorization_code.grant.user
        return user if user.is_active else None


class RefreshTokenGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True
    config = None

    def authenticate_refresh_token(self, refresh_token):
        if not isinstance(refresh_token, str):
            return None
        row = db.session.scalars(db.select(OAuthToken)
                                 .where(OAuthToken.refresh_token_hash == secret_hash(refresh_token))).first()
        if row is None:
            return None
        if row.revoked_at is not None:  # replayed after rotation: end the whole grant
            log_event("oauth_refresh_token_reused", user_id=row.grant.user_id, client_id=row.grant.client.client_id)
            db.session.delete(row.grant)
            db.session.commit()
            return None
        if row.refresh_expires_at is None or row.refresh_expires_at <= utcnow():
            return None
        requested_resource(self.request, self.config, row.resource)
        return row

    def authenticate_user(self, refresh_token):
        user = refresh_token.grant.user
        return user if user.is_active else None

    def revoke_old_credential(self, refresh_token):
        refresh_token.revoked_at = utcnow()
        db.session.commit()


def save_token(token: dict, request) -> None:
    """Store the hashes of a token pair Authlib generated, for the grant its code or refresh token belongs to."""
    previous = request.authorization_code or request.refresh_token
    now = utcnow()
    db.session.add(OAuthToken(
        grant=previous.grant, access_token_hash=secret_hash(token["access_token"]),
        refresh_token_hash=secret_hash(token["refresh_token"]) if token.get("refresh_token") else None,
        scope=token.get("scope") or previous.scope, resource=previous.resource, issued_at=now,
        access_expires_at=now + timedelta(seconds=token["expires_in"]),
        refresh_expires_at=now + REFRESH_TOKEN_LIFETIME if token.get("refresh_token") else None))
    db.session.commit()


def generate_access_token(*_args, **_kwargs) -> str:
    return new_secret("cvo_")


def generate_refresh_token(*_args, **_kwargs) -> str:
    return new_secret("cvr_")


class RevocationEndpoint(_RevocationEndpoint):
    """RFC 7009: revoking either token of a grant ends the grant (the client disconnects)."""

    CLIENT_AUTH_METHODS = AUTH_METHODS

    def query_token(self, token_string, token_type_hint):
        if not isinstance(token_string, str):
            return None
        digest = secret_hash(token_string)
        return db.session.scalars(db.select(OAuthToken).where(
            (OAuthToken.access_token_hash == digest) | (OAuthToken.refresh_token_hash == digest))).first()

    def revoke_token(self, token, request):
        log_event("oauth_grant_revoked", user_id=token.grant.user_id, client_id=token.grant.client.client_id,
                  by="client")
        db.session.delete(token.grant)
        db.session.commit()


# --- Settings: the clients a person granted ------------------------------------------------------------------

def grants_of(user: User) -> list[OAuthGrant]:
    """The clients the person approved and has not disconnected, newest first."""
    return list(db.session.scalars(db.select(OAuthGrant).where(OAuthGrant.user_id == user.id)
                                   .order_by(OAuthGrant.created_at.desc(), OAuthGrant.id.desc())))


def revoke_grant(user: User, grant_id: int) -> OAuthGrant | None:
    """End the person's grant `grant_id` (its tokens stop working at once); None if it is not theirs."""
    grant = db.session.get(OAuthGrant, grant_id)
    if grant is None or grant.user_id != user.id:
        return None
    log_event("oauth_grant_revoked", user_id=user.id, client_id=grant.client.client_id, by="user")
    db.session.delete(grant)
    db.session.commit()
    return grant
