"""The SDK's Streamable HTTP app for /mcp, with bearer-token auth (mounted into Flask by http.py).

The SDK checks the bearer token through `TokenVerifier` (personal API tokens and OAuth access tokens,
see oauth.verify_bearer), refuses tokens issued for another resource, answers 401 with
`WWW-Authenticate: Bearer resource_metadata=…`, serves the RFC 9728 protected-resource metadata, and
refuses Host and Origin headers other than PUBLIC_BASE_URL's (DNS rebinding).
"""
from urllib.parse import urlsplit

import anyio
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from mcp.server.transport_security import TransportSecuritySettings

from . import oauth
from .server import build_server


class TokenVerifier:
    """The SDK's TokenVerifier: a bearer token → who it acts for (`subject` is the user id)."""

    def __init__(self, app):
        self.app = app

    async def verify_token(self, token: str) -> AccessToken | None:
        bearer = await anyio.to_thread.run_sync(self._lookup, token)
        if bearer is None:
            return None
        return AccessToken(token=token, client_id=bearer.client, scopes=[oauth.SCOPE], resource=bearer.resource,
                           subject=str(bearer.user_id),
                           expires_at=int(bearer.expires_at.timestamp()) if bearer.expires_at else None)

    def _lookup(self, token: str):
        with self.app.app_context():
            return oauth.verify_bearer(token, self.app.config)


def _acting_user_id() -> int | None:
    token = get_access_token()
    return int(token.subject) if token and token.subject else None


def build_asgi_app(app):
    config = app.config
    base = urlsplit(config["PUBLIC_BASE_URL"])
    server = build_server(app, _acting_user_id, token_verifier=TokenVerifier(app), auth=AuthSettings(
        issuer_url=oauth.issuer(config), resource_server_url=oauth.resource_url(config),
        required_scopes=[oauth.SCOPE], validate_token_resource=True))
    security = TransportSecuritySettings(enable_dns_rebinding_protection=True, allowed_hosts=[base.netloc],
                                         allowed_origins=[f"{base.scheme}://{base.netloc}"])
    return server.streamable_http_app(streamable_http_path=oauth.MCP_PATH, stateless_http=True, json_response=True,
                                      transport_security=security,
                                      max_request_body_size=config["MAX_CONTENT_LENGTH"])
