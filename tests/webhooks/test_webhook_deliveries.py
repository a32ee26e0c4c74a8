"""The deliveries log (page, API, replay button) and a user's personal Fathom webhook."""
import json
import re

import pytest

from callvault import accounts
from callvault.extensions import db
from callvault.models import FathomConnection, User, WebhookDelivery
from tests.support.fathom import MEMBER_EMAIL, store_api_key
from tests.support.web import csrf_from
from tests.support.webhooks import PERSONAL_SECRET, SECRET, URL, encode, meeting, signed, use_intake


@pytest.fixture
def app(app, intake_way):
    app.config["FATHOM_OAUTH_WEBHOOK_SECRET"] = SECRET
    return use_intake(app, intake_way)


def post_webhooks(client, *payloads, secret=SECRET):
    for payload in payloads:
        body = encode(payload)
        client.post(URL, data=body, headers=signed(body, secret=secret))


def token_of(app, user_id):
    with app.app_context():
        return accounts.issue_api_token(db.session.get(User, user_id))


def test_api_lists_deliveries_for_admins_with_filters_and_cursor(app, client, admin, member):
    post_webhooks(client, *[meeting(recording_id=i) for i in range(1, 6)])
    post_webhooks(client, meeting(recording_id=99), secret="whsec_" + "A" * 32)  # rejected
    headers = {"Authorization": f"Bearer {token_of(app, admin)}"}

    page = client.get("/api/v1/webhook-deliveries?limit=4", headers=headers).json
    assert len(page["items"]) == 4 and page["next_cursor"]
    rest = client.get(f"/api/v1/webhook-deliveries?limit=4&cursor={page['next_cursor']}", headers=headers).json
    ids = [d["id"] for d in page["items"] + rest["items"]]
    assert ids == sorted(ids, reverse=True) and len(ids) == 6 and rest["next_cursor"] is None

    rejected = client.get("/api/v1/webhook-deliveries?status=rejected", headers=headers).json["items"]
    assert [d["status"] for d in rejected] == ["rejected"] and rejected[0]["signature_valid"] is False
    assert {"headers", "body"}.isdisjoint(rejected[0]) and rejected[0]["endpoint"] == "/webhooks/fathom"
    assert client.get("/api/v1/webhook-deliveries?status=nope", headers=headers).status_code == 400
    assert client.get("/api/v1/webhook-deliveries?cursor=zzz", headers=headers).status_code == 400
    member_headers = {"Authorization": f"Bearer {token_of(app, member)}"}
    assert client.get("/api/v1/webhook-deliveries", headers=member_headers).status_code == 403


def test_deliveries_page_is_for_admins_only(client, auth, member):
    auth.login("member@example.com")
    assert client.get("/admin/webhook-deliveries/").status_code == 404
    assert "Webhooks" not in client.get("/settings/").get_data(as_text=True)


def test_deliveries_page_filters_refreshes_and_shows_details(app, client, auth, admin, member, drain):
    post_webhooks(client, meeting(recording_id=1), meeting(recording_id=2, email="stranger@example.com"))
    drain()
    auth.login("admin@example.com")
    page = client.get("/admin/webhook-deliveries/").get_data(as_text=True)
    assert 'hx-trigger="every 5s"' in page and page.count("<tr>") == 3 and "no user has host email" in page

    partial = client.get("/admin/webhook-deliveries/?status=failed", headers={"HX-Request": "true",
                                                                              "HX-Target": "deliveries-table"})
    html = partial.get_data(as_text=True)
    assert html.startswith('<div id="deliveries-table"') and "<html" not in html
    assert 'hx-get="/admin/webhook-deliveries/?status=failed"' in html and html.count("<tr>") == 2
    assert client.get("/admin/webhook-deliveries/?since=2000-01-01&until=2000-01-02").get_data(
        as_text=True).count("No deliveries match") == 1
    assert "must be an ISO 8601" in client.get("/admin/webhook-deliveries/?since=soon").get_data(as_text=True)

    with app.app_context():
        failed_id = db.session.query(WebhookDelivery).filter_by(status="failed").one().id
    detail = client.get(f"/admin/webhook-deliveries/{failed_id}").get_data(as_text=True)
    assert "no user has host email stranger@example.com" in detail and "[redacted]" in detail
    assert "&#34;recording_id&#34;: 2" in detail and "Replay" in detail
    assert client.get("/admin/webhook-deliveries/999999").status_code == 404


def test_signatures_and_secrets_never_reach_the_page_or_the_api(app, client, auth, admin, member, personal_key):
    body = encode(meeting())
    oauth_headers = {**signed(body), "Authorization": "Bearer sekrit-bearer-value", "X-Api-Key": "sekrit-api-key",
                     "Cookie": "session=sekrit-cookie", "X-Webhook-Secret": "sekrit-custom-header"}
    personal_headers = signed(body, secret=PERSONAL_SECRET)
    assert client.post(URL, data=body, headers=oauth_headers).status_code == 202
    assert client.post(f"{URL}/{personal_key}", data=body, headers=personal_headers).status_code == 202
    assert client.post(URL, data=body, headers={**signed(body), "webhook-signature": "v1,bm90LWEtc2ln"}).status_code == 401
    never = ["sekrit", "bm90LWEtc2ln", personal_key, SECRET, SECRET.removeprefix("whsec_"), PERSONAL_SECRET,
             PERSONAL_SECRET.removeprefix("whsec_"),
             *[sig.split(",", 1)[1] for h in (oauth_headers, personal_headers) for sig in h["webhook-signature"].split()]]

    auth.login("admin@example.com")
    with app.app_context():
        deliveries = db.session.query(WebhookDelivery).order_by(WebhookDelivery.id).all()
        stored = [json.dumps(d.headers) + d.endpoint for d in deliveries]
    shown = [client.get(f"/admin/webhook-deliveries/{d.id}").get_data(as_text=True) for d in deliveries]
    shown.append(client.get("/admin/webhook-deliveries/").get_data(as_text=True))
    token = token_of(app, admin)
    shown.append(client.get("/api/v1/webhook-deliveries", headers={"Authorization": f"Bearer {token}"}).get_data(
        as_text=True))
    assert len(deliveries) == 3 and all("[redacted]" in page for page in shown[:3])
    for text in stored + shown:
        assert not [secret for secret in never if secret in text]


def test_replay_button_reprocesses_after_the_host_email_is_added(app, client, auth, admin, member, drain):
    post_webhooks(client, meeting(email="alias@example.com"))
    drain()
    with app.app_context():
        delivery_id = db.session.query(WebhookDelivery).one().id
        accounts.add_host_email(db.session.get(User, member), "alias@example.com", approval="approved by a test")
    auth.login("admin@example.com")
    detail = client.get(f"/admin/webhook-deliveries/{delivery_id}").get_data(as_text=True)
    response = client.post(f"/admin/webhook-deliveries/{delivery_id}/replay", data={"csrf_token": csrf_from(detail)},
                           follow_redirects=True)
    assert "Replayed: the delivery is now call" in response.get_data(as_text=True)
    with app.app_context():
        delivery = db.session.get(WebhookDelivery, delivery_id)
        assert delivery.status == "success" and delivery.user_id == member


def test_personal_webhook_round_trip_through_fathom(fathom_app, sandbox, live_server, client, auth, member, drain):
    app = fathom_app
    app.config["PUBLIC_BASE_URL"] = live_server.url
    auth.login(MEMBER_EMAIL)
    settings = client.get("/settings/").get_data(as_text=True)
    assert "Connect Fathom first" in settings
    store_api_key(app, member, sandbox)

    settings = client.get("/settings/").get_data(as_text=True)
    response = client.post("/settings/fathom-webhook", data={"csrf_token": csrf_from(settings)}, follow_redirects=True)
    assert "Personal Fathom webhook registered" in response.get_data(as_text=True)
    with app.app_context():
        connection = FathomConnection.query.filter_by(user_id=member).one()
        key, webhook_id = connection.webhook_key, connection.webhook_id
        assert connection.webhook_secret.startswith("whsec_") and connection.webhook_secret_encrypted
    [hook] = sandbox.webhooks.values()
    shown = client.get("/settings/").get_data(as_text=True)
    assert hook["secret"] not in shown and hook["secret"].removeprefix("whsec_") not in shown
    assert hook["destination_url"] == f"{live_server.url}/webhooks/fathom/{key}"
    assert hook["triggered_for"] == ["my_recordings"] and hook["include_transcript"] and hook["include_summary"]
    assert re.search(f"/webhooks/fathom/{key}", response.get_data(as_text=True))

    recorded = sandbox.add_meeting(MEMBER_EMAIL)
    assert sandbox.deliver_webhook(recorded["recording_id"]).status_code == 202
    drain()
    with app.app_context():
        [delivery] = db.session.query(WebhookDelivery).all()
        assert delivery.status == "success" and delivery.user_id == member and delivery.endpoint.endswith("<key>")

    response = client.post("/settings/fathom-webhook/delete", data={"csrf_token": csrf_from(settings)},
                           follow_redirects=True)
    assert "Personal Fathom webhook deleted" in response.get_data(as_text=True)
    assert webhook_id not in sandbox.webhooks
    with app.app_context():
        connection = FathomConnection.query.filter_by(user_id=member).one()
        assert connection.webhook_id is None and connection.webhook_key is None and connection.webhook_secret is None
    late = sandbox.deliver_webhook(recorded["recording_id"], destination_url=f"{live_server.url}/webhooks/fathom/{key}",
                                   secret=hook["secret"])
    assert late.status_code == 404


def test_registering_twice_or_deleting_nothing_is_a_clear_error(fathom_app, sandbox, client, auth, member):
    store_api_key(fathom_app, member, sandbox)
    auth.login(MEMBER_EMAIL)
    token = csrf_from(client.get("/settings/").get_data(as_text=True))
    text = client.post("/settings/fathom-webhook/delete", data={"csrf_token": token},
                       follow_redirects=True).get_data(as_text=True)
    assert "No personal webhook is registered." in text
    client.post("/settings/fathom-webhook", data={"csrf_token": token})
    text = client.post("/settings/fathom-webhook", data={"csrf_token": token},
                       follow_redirects=True).get_data(as_text=True)
    assert "A personal webhook is already registered; delete it first." in text
    assert len(sandbox.webhooks) == 1


def test_a_webhook_already_gone_at_fathom_is_forgotten_here(fathom_app, sandbox, client, auth, member):
    store_api_key(fathom_app, member, sandbox)
    auth.login(MEMBER_EMAIL)
    token = csrf_from(client.get("/settings/").get_data(as_text=True))
    client.post("/settings/fathom-webhook", data={"csrf_token": token})
    sandbox.webhooks.clear()
    text = client.post("/settings/fathom-webhook/delete", data={"csrf_token": token},
                       follow_redirects=True).get_data(as_text=True)
    assert "Personal Fathom webhook deleted" in text
