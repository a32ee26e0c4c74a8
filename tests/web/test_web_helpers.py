"""The web layer's shared helpers: messages shown as written, one bearer-token auth for every JSON API."""
import re

import pytest

from callvault import accounts
from callvault.blueprints.helpers import sentence
from callvault.extensions import db
from callvault.models import ApiToken, User


@pytest.mark.parametrize("message, shown", [
    ("connect Fathom first (an API key or OAuth), then register the webhook",
     "Connect Fathom first (an API key or OAuth), then register the webhook."),
    ("Connect Fathom first (an API key or OAuth).", "Connect Fathom first (an API key or OAuth)."),
    ("too many sign-in attempts; try again in 5 minutes", "Too many sign-in attempts; try again in 5 minutes."),
    ("Is the URL right?", "Is the URL right?"),
    ("Done!", "Done!"),
    ('Fathom said "Invalid key."', 'Fathom said "Invalid key."'),
    ("see docs/attendee-api.md (ATTENDEE_API_KEY)", "See docs/attendee-api.md (ATTENDEE_API_KEY)."),
    ("  a user with email x@example.com already exists ", "A user with email x@example.com already exists."),
    ("", ""),
])
def test_a_message_is_shown_as_written(message, shown):
    assert sentence(message) == shown
    assert sentence(ValueError(message)) == shown


def test_a_flashed_error_keeps_its_capitals(client, auth, member):
    auth.login("member@example.com")
    page = client.get("/settings/").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    body = client.post("/settings/fathom-webhook", data={"csrf_token": token},
                       follow_redirects=True).get_data(as_text=True)
    assert "Connect Fathom first (an API key or OAuth), then register the webhook." in body


@pytest.fixture
def tokens(app, admin, member):
    """name -> the Authorization header to send (None: none at all)."""
    with app.app_context():
        admin_token = accounts.issue_api_token(db.session.get(User, admin))
        member_token = accounts.issue_api_token(db.session.get(User, member))
        revoked = accounts.issue_api_token(db.session.get(User, admin), "revoked")
        record = ApiToken.query.filter_by(token_hash=ApiToken.hash(revoked)).one()
        accounts.revoke_api_token(db.session.get(User, admin), record.id)
    return {"admin": f"Bearer {admin_token}", "member": f"Bearer {member_token}", "revoked": f"Bearer {revoked}",
            "nonsense": "Bearer cv_nonsense", "empty": "Bearer", "basic": "Basic YWRtaW46eA==", "none": None}


# (who, status) for an admin-only JSON endpoint: the JSON API's and the dashboard's answer alike.
ADMIN_ONLY = [("admin", 200), ("member", 403), ("revoked", 401), ("nonsense", 401), ("empty", 401),
              ("basic", 401), ("none", 401)]


@pytest.mark.parametrize("who, status", ADMIN_ONLY)
@pytest.mark.parametrize("url", ["/api/v1/webhook-deliveries", "/dashboard/api/summary/"])
def test_the_api_and_the_dashboard_accept_and_refuse_the_same_tokens(client, tokens, url, who, status):
    header = tokens[who]
    response = client.get(url, headers={"Authorization": header} if header else {})
    assert response.status_code == status
    if status != 200:
        assert response.get_json()["error"]["code"] == {401: "unauthorized", 403: "forbidden"}[status]


@pytest.mark.parametrize("who, status", [("admin", 200), ("member", 200), ("revoked", 401), ("nonsense", 401),
                                         ("basic", 401), ("none", 401)])
def test_any_valid_token_reads_the_calls(client, tokens, who, status):
    header = tokens[who]
    assert client.get("/api/v1/calls", headers={"Authorization": header} if header else {}).status_code == status


def test_a_token_header_wins_over_the_session(client, auth, admin, tokens):
    auth.login("admin@example.com")
    assert client.get("/dashboard/api/summary/").status_code == 200  # the session alone
    assert client.get("/dashboard/api/summary/", headers={"Authorization": tokens["nonsense"]}).status_code == 401
    assert client.get("/dashboard/api/summary/", headers={"Authorization": tokens["member"]}).status_code == 403
    assert client.get("/api/v1/webhook-deliveries").status_code == 401  # the JSON API takes tokens only
