"""Driving CallVault's OAuth 2.1 server by hand: a signed-in browser, PKCE, registration and consent."""
import base64
import hashlib
import re
import secrets
from urllib.parse import parse_qs, urlencode, urlsplit

import requests

from tests.support.web import PASSWORD, csrf_from

REDIRECT_URI = "http://127.0.0.1:33418/callback"


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return verifier, challenge


class Browser:
    """A person signed in to the live server, answering consent pages."""

    def __init__(self, base_url: str, email: str, password: str = PASSWORD):
        self.base_url, self.session = base_url, requests.Session()
        page = self.session.get(base_url + "/login")
        signed_in = self.session.post(base_url + "/login", allow_redirects=False, data={
            "email": email, "password": password, "csrf_token": csrf_from(page.text)})
        assert signed_in.status_code == 302, signed_in.text

    def consent(self, authorize_url: str, decision: str = "allow") -> dict:
        """Open the consent page and answer it; the query parameters the client is redirected with."""
        page = self.session.get(authorize_url, allow_redirects=False)
        assert page.status_code == 200, (page.status_code, page.text[:500])
        action = re.search(r'<form method="post" action="([^"]+)"', page.text).group(1).replace("&amp;", "&")
        answer = self.session.post(self.base_url + action, allow_redirects=False,
                                   data={"csrf_token": csrf_from(page.text), "decision": decision})
        assert answer.status_code == 302, (answer.status_code, answer.text[:500])
        return redirected_params(answer.headers["Location"])


def redirected_params(location: str) -> dict:
    assert location.startswith(REDIRECT_URI), location
    return {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}


def register(base_url: str, **metadata) -> requests.Response:
    body = {"client_name": "Test Assistant", "redirect_uris": [REDIRECT_URI], "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"], **metadata}
    return requests.post(base_url + "/oauth/register", json=body)


def authorize_url(base_url: str, client_id: str, challenge: str | None, **extra) -> str:
    params = {"response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT_URI, "state": "st-123",
              "resource": base_url + "/mcp", "scope": "meetings:read", **extra}
    if challenge:
        params.update(code_challenge=challenge, code_challenge_method="S256")
    params = {key: value for key, value in params.items() if value is not None}
    return base_url + "/oauth/authorize?" + urlencode(params)


def token(base_url: str, **form) -> requests.Response:
    return requests.post(base_url + "/oauth/token", data=form)


def grant_tokens(base_url: str, browser: Browser, client_id: str) -> dict:
    """Register-less shortcut: consent and redeem a code for `client_id`; the token response."""
    verifier, challenge = pkce_pair()
    params = browser.consent(authorize_url(base_url, client_id, challenge))
    response = token(base_url, grant_type="authorization_code", code=params["code"], redirect_uri=REDIRECT_URI,
                     client_id=client_id, code_verifier=verifier, resource=base_url + "/mcp")
    assert response.status_code == 200, response.text
    return response.json()
