"""CallVault's own OAuth 2.1 authorization server for MCP clients: registered clients, the grants people
gave them, authorization codes and tokens.

Secrets are never stored: client secrets, codes, access and refresh tokens are random (256 bits or
more) and only their SHA-256 is kept, like personal API tokens. A grant is one person's consent to
one client; revoking it (Settings) deletes its codes and tokens.
"""
import hashlib
import hmac
import json

from ..extensions import db
from .types import UTCDateTime, utcnow


def secret_hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


class OAuthClient(db.Model):
    """A client registered by RFC 7591 dynamic registration (an assistant, an IDE…)."""

    __tablename__ = "oauth_clients"

    id = db.Column(db.Integer, primary_key=True)
    client_id = db.Column(db.String(64), nullable=False, unique=True)
    client_secret_hash = db.Column(db.String(64))  # None for public clients (token_endpoint_auth_method none)
    client_name = db.Column(db.String(200))
    # The registered metadata as JSON (redirect_uris, grant_types, response_types, scope, auth method…).
    metadata_json = db.Column(db.Text, nullable=False, default="{}")
    created_at = db.Column(UTCDateTime, nullable=False, default=utcnow)

    grants = db.relationship("OAuthGrant", back_populates="client", cascade="all, delete-orphan")

    @property
    def client_metadata(self) -> dict:
        return json.loads(self.metadata_json or "{}")

    @property
    def redirect_uris(self) -> list[str]:
        return list(self.client_metadata.get("redirect_uris") or [])

    @property
    def display_name(self) -> str:
        return self.client_name or "An unnamed application"

    # --- authlib's ClientMixin ---------------------------------------------------------------------
    def get_client_id(self):
        return self.client_id

    def get_default_redirect_uri(self):
        uris = self.redirect_uris
        return uris[0] if len(uris) == 1 else None

    def get_allowed_scope(self, scope):
        if not scope:
            return ""
        allowed = set((self.client_metadata.get("scope") or "").split())
        return " ".join(s for s in scope.split() if s in allowed)

    def check_redirect_uri(self, redirect_uri):
        return redirect_uri in self.redirect_uris  # exact match only (OAuth 2.1)

    def check_client_secret(self, client_secret):
        return bool(self.client_secret_hash) and hmac.compare_digest(self.client_secret_hash,
                                                                     secret_hash(client_secret or ""))

    def check_endpoint_auth_method(self, method, endpoint):
        if endpoint == "token":
            return method == self.client_metadata.get("token_endpoint_auth_method", "client_secret_basic")
        return True

    def check_response_type(self, response_type):
        return response_type in (self.client_metadata.get("response_types") or ["code"])

    def check_grant_type(self, grant_type):
        return grant_type in (self.client_metadata.get("grant_types") or ["authorization_code"])


class OAuthGrant(db.Model):
    """One person's consent to one client: what Settings lists and revokes."""

    __tablename__ = "oauth_grants"
    __table_args__ = (db.UniqueConstraint("user_id", "client_id"),)

    id = db.Column(db.Integer, primary_key=True)
    user_id = db.Column(db.Integer, db.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    client_id = db.Column(db.Integer, db.ForeignKey("oauth_clients.id", ondelete="CASCADE"), nullable=False,
                          index=True)
    scope = db.Column(db.String(200), nullable=False, default="")
    created_at = db.Column(UTCDateTime, nullable=False, default=utcnow)
    last_used_at = db.Column(UTCDateTime)

    user = db.relationship("User")
    client = db.relationship("OAuthClient", back_populates="grants")
    codes = db.relationship("OAuthAuthorizationCode", back_populates="grant", cascade="all, delete-orphan")
    tokens = db.relationship("OAuthToken", back_populates="grant", cascade="all, delete-orphan")


class OAuthAuthorizationCode(db.Model):
    """A one-time code from the consent page, redeemed at the token endpoint with its PKCE verifier."""

    __tablename__ = "oauth_authorization_codes"

    id = db.Column(db.Integer, primary_key=True)
    grant_id = db.Column(db.Integer, db.ForeignKey("oauth_grants.id", ondelete="CASCADE"), nullable=False,
                         index=True)
    code_hash = db.Column(db.String(64), nullable=False, unique=True)
    redirect_uri = db.Column(db.String(2000), nullable=False)
    scope = db.Column(db.String(200), nullable=False, default="")
    resource = db.Column(db.String(2000), nullable=False)  # the audience its tokens are bound to (RFC 8707)
    code_challenge = db.Column(db.String(128), nullable=False)
    code_challenge_method = db.Column(db.String(8), nullable=False)
    created_at = db.Column(UTCDateTime, nullable=False, default=utcnow)
    expires_at = db.Column(UTCDateTime, nullable=False)

    grant = db.relationship("OAuthGrant", back_populates="codes")

    # --- authlib's AuthorizationCodeMixin ----------------------------------------------------------
    def get_redirect_uri(self):
        return self.redirect_uri

    def get_scope(self):
        return self.scope


class OAuthToken(db.Model):
    """An access token with its refresh token. A refresh rotates: the row is revoked and a new one issued;
    a revoked refresh token presented again revokes the whole grant (it was stolen or replayed)."""

    __tablename__ = "oauth_tokens"

    id = db.Column(db.Integer, primary_key=True)
    grant_id = db.Column(db.Integer, db.ForeignKey("oauth_grants.id", ondelete="CASCADE"), nullable=False,
                         index=True)
    access_token_hash = db.Column(db.String(64), nullable=False, unique=True)
    refresh_token_hash = db.Column(db.String(64), unique=True)
    scope = db.Column(db.String(200), nullable=False, default="")
    resource = db.Column(db.String(2000), nullable=False)
    issued_at = db.Column(UTCDateTime, nullable=False, default=utcnow)
    access_expires_at = db.Column(UTCDateTime, nullable=False)
    refresh_expires_at = db.Column(UTCDateTime)
    revoked_at = db.Column(UTCDateTime)

    grant = db.relationship("OAuthGrant", back_populates="tokens")

    # --- authlib's TokenMixin ----------------------------------------------------------------------
    def check_client(self, client):
        return self.grant.client_id == client.id

    def get_scope(self):
        return self.scope

    def get_expires_in(self):
        return int((self.access_expires_at - self.issued_at).total_seconds())

    def is_expired(self):
        return self.access_expires_at <= utcnow()

    def is_revoked(self):
        return self.revoked_at is not None
