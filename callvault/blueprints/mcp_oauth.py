"""CallVault's OAuth 2.1 authorization server for MCP clients: metadata, registration, consent, tokens.

The rules and storage are in `mcp/oauth.py`; this blueprint is Authlib's Flask AuthorizationServer
plus the consent page. The endpoints clients call (metadata, register, token, revoke) take no
cookies, so they answer any origin (CORS) and are exempt from CSRF; the consent page is a normal
signed-in page with CSRF.
"""
from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749.errors import OAuth2Error
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc9207 import IssuerParameter
from flask import Blueprint, current_app, g, jsonify, render_template, request, url_for

from ..extensions import csrf
from ..mcp import oauth
from .auth import login_required

bp = Blueprint("mcp_oauth", __name__)
CORS_HEADERS = {"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
                "Access-Control-Allow-Headers": "Authorization, Content-Type, MCP-Protocol-Version"}
PUBLIC_ENDPOINTS = ("mcp_oauth.metadata", "mcp_oauth.register", "mcp_oauth.token", "mcp_oauth.revoke")


def _urls() -> dict:
    base = current_app.config["PUBLIC_BASE_URL"]
    return {name: base + url_for(f"mcp_oauth.{name}") for name in ("authorize", "token", "register", "revoke")}


class Issuer(IssuerParameter):
    """RFC 9207: every authorization response names the issuer (against mix-up attacks)."""

    def __init__(self, issuer: str):
        self.issuer = issuer

    def get_issuer(self) -> str:
        return self.issuer


def authorization_server() -> AuthorizationServer:
    """The app's Authlib server, built on first use (it reads PUBLIC_BASE_URL then)."""
    server = current_app.extensions.get("mcp_oauth_server")
    if server is None:
        config = current_app.config
        server = AuthorizationServer(current_app, query_client=oauth.query_client, save_token=oauth.save_token)
        server.register_token_generator("default", BearerTokenGenerator(
            oauth.generate_access_token, oauth.generate_refresh_token,
            lambda client, grant_type: int(oauth.ACCESS_TOKEN_LIFETIME.total_seconds())))
        server.scopes_supported = [oauth.SCOPE]
        code_grant = type("CodeGrant", (oauth.AuthorizationCodeGrant,), {"config": config})
        refresh_grant = type("RefreshGrant", (oauth.RefreshTokenGrant,), {"config": config})
        server.register_grant(code_grant, [oauth.PkceS256(required=True)])
        server.register_grant(refresh_grant)
        server.register_extension(Issuer(oauth.issuer(config)))
        metadata = oauth.server_metadata(config, _urls())
        server.register_endpoint(oauth.ClientRegistrationEndpoint(server, lambda: metadata))
        server.register_endpoint(oauth.RevocationEndpoint(server))
        current_app.extensions["mcp_oauth_server"] = server
    return server


@bp.after_request
def _cors(response):
    if request.endpoint in PUBLIC_ENDPOINTS:
        response.headers.update(CORS_HEADERS)
        response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/.well-known/oauth-authorization-server", methods=["GET", "OPTIONS"])
def metadata():
    return jsonify(oauth.server_metadata(current_app.config, _urls()))


@bp.route("/oauth/register", methods=["POST", "OPTIONS"])
@csrf.exempt
def register():
    if request.method == "OPTIONS":
        return "", 204
    return authorization_server().create_endpoint_response("client_registration")


@bp.route("/oauth/token", methods=["POST", "OPTIONS"])
@csrf.exempt
def token():
    if request.method == "OPTIONS":
        return "", 204
    return authorization_server().create_token_response()


@bp.route("/oauth/revoke", methods=["POST", "OPTIONS"])
@csrf.exempt
def revoke():
    if request.method == "OPTIONS":
        return "", 204
    return authorization_server().create_endpoint_response("revocation")


@bp.route("/oauth/authorize", methods=["GET", "POST"])
@login_required
def authorize():
    """The consent page (GET) and the person's answer (POST, to the same URL with the same query)."""
    server = authorization_server()
    try:
        grant = server.get_consent_grant(end_user=g.user)
    except OAuth2Error as error:
        if error.redirect_uri:  # a known client's registered redirect URI: the error goes back to the client
            response = server.handle_error_response(None, error)
            Issuer(oauth.issuer(current_app.config)).add_issuer_parameter(server, response)
            return response
        return render_template("mcp/consent_error.html", error=error), 400  # never redirect anywhere else
    if request.method == "GET":
        return render_template("mcp/consent.html", client=grant.client, redirect_uri=grant.redirect_uri,
                               scope_description=oauth.SCOPE_DESCRIPTION, action=request.full_path)
    allowed = request.form.get("decision") == "allow"
    return server.create_authorization_response(grant_user=g.user if allowed else None, grant=grant)
