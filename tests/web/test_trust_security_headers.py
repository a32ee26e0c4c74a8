"""Issue 13, item 2: every response carries the browser-side defences (CSP with scripts only from the
app, no framing, nosniff, a Referrer-Policy; HSTS in production only), and no template holds what that
CSP would block (inline script, event-handler attributes, hx-on, inline style)."""
import json
import re
from pathlib import Path

import pytest

from callvault.security import CONTENT_SECURITY_POLICY
from tests.support.webhooks import encode, meeting

TEMPLATES = Path(__file__).resolve().parents[2] / "callvault" / "templates"


def assert_defended(response):
    """`response` from Flask's test client or from Playwright (whose header names are lower-case)."""
    headers = {name.lower(): value for name, value in response.headers.items()}
    csp = headers.get("content-security-policy", "")
    directives = {part.split()[0]: part.split()[1:] for part in csp.split(";") if part.strip()}
    assert directives.get("script-src") == ["'self'"], csp
    assert directives.get("frame-ancestors") == ["'none'"], csp
    assert directives.get("img-src") == ["'self'", "data:"], csp
    assert directives.get("object-src") == ["'none'"], csp
    assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp
    assert headers.get("x-frame-options") == "DENY"
    assert headers.get("x-content-type-options") == "nosniff"
    assert headers.get("referrer-policy") in ("same-origin", "no-referrer")


@pytest.mark.parametrize("method, path", [
    ("GET", "/login"), ("GET", "/calls"), ("GET", "/settings/"), ("GET", "/calls/999999"),
    ("GET", "/static/css/app.css"), ("GET", "/static/js/viewer.js"), ("GET", "/api/v1/calls"),
    ("GET", "/healthz"), ("GET", "/no/such/page"), ("POST", "/webhooks/fathom"),
    ("GET", "/dashboard/transcripts/1/?token=nonsense"),
])
def test_every_kind_of_response_carries_the_security_headers(app, client, auth, member, method, path):
    auth.login("member@example.com")
    with client.open(path, method=method, data=encode(meeting()) if method == "POST" else None) as response:
        assert_defended(response)
        assert "Strict-Transport-Security" not in response.headers  # only in production


def test_a_signed_viewer_link_sends_no_referrer(client):
    response = client.get("/dashboard/transcripts/1/?token=whatever")
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert client.get("/login").headers["Referrer-Policy"] == "same-origin"


def test_hsts_is_sent_in_production_only(app_factory):
    production = app_factory(ENV_NAME="production")
    response = production.test_client().get("/login")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    assert_defended(response)


def test_the_policy_allows_scripts_only_from_the_app():
    assert "script-src 'self'" in CONTENT_SECURITY_POLICY and "style-src 'self'" in CONTENT_SECURITY_POLICY


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
EVENT_HANDLER = re.compile(r"\son[a-z]+\s*=", re.IGNORECASE)
HX_ON = re.compile(r"\shx-on(?::|-|\b)", re.IGNORECASE)
INLINE_STYLE = re.compile(r"<style\b|\sstyle\s*=", re.IGNORECASE)
# Event filters (`click[ctrlKey]`) also need eval: the browser test's console check catches those.
HX_EVAL = re.compile(r"""hx-(?:vals|vars)\s*=\s*['"]\s*(?:js|javascript):""", re.IGNORECASE)


@pytest.mark.parametrize("template", sorted(str(p.relative_to(TEMPLATES)) for p in TEMPLATES.rglob("*.html")))
def test_no_template_holds_what_the_policy_blocks(template):
    text = (TEMPLATES / template).read_text()
    for name, pattern in (("inline <script>", INLINE_SCRIPT), ("event-handler attribute", EVENT_HANDLER),
                          ("hx-on", HX_ON), ("inline style", INLINE_STYLE), ("htmx eval", HX_EVAL)):
        assert not pattern.search(text), f"{template}: {name}: {pattern.search(text).group(0)!r}"


def test_htmx_is_configured_to_inject_no_style_and_evaluate_nothing(client):
    page = client.get("/login").get_data(as_text=True)
    config = json.loads(re.search(r"""<meta name="htmx-config" content='([^']*)'>""", page).group(1))
    assert config["includeIndicatorStyles"] is False and config["allowEval"] is False
    with client.get("/static/css/app.css") as response:
        assert ".htmx-indicator" in response.get_data(as_text=True)
