"""Issue 13 item 3: a host email routes recordings only once proven or approved."""
import pytest

from callvault import accounts
from callvault.extensions import db
from callvault.fathom import credentials
from callvault.models import Call, HostEmail, User, WebhookDelivery
from tests.support.web import csrf_from, login
from tests.support.webhooks import PERSONAL_SECRET, SECRET, URL, encode, meeting, signed, use_intake

COLLEAGUE = "colleague@example.com"


@pytest.fixture
def app(app, intake_way):
    app.config["FATHOM_OAUTH_WEBHOOK_SECRET"] = SECRET
    return use_intake(app, intake_way)


def post(client, payload, url=URL, secret=SECRET):
    body = encode(payload)
    return client.post(url, data=body, headers=signed(body, secret=secret))


def owners(app) -> list[tuple[str, int]]:
    with app.app_context():
        return [(c.external_id, c.owner_id) for c in Call.query.order_by(Call.id)]


def claim(client, auth, email, address):
    auth.login(email)
    page = client.get("/settings/").get_data(as_text=True)
    return client.post("/settings/host-emails", data={"email": address, "csrf_token": csrf_from(page)},
                       follow_redirects=True).get_data(as_text=True)


def test_a_members_claim_on_a_colleagues_address_routes_nothing(app, client, auth, member, drain):
    page = claim(client, auth, "member@example.com", COLLEAGUE)
    assert "waiting for approval" in page
    with app.app_context():
        assert HostEmail.query.filter_by(email=COLLEAGUE).one().status == "pending"

    assert post(client, meeting(recording_id=777, email=COLLEAGUE)).status_code == 202
    drain()
    assert owners(app) == []  # the colleague's recording is not the member's call
    with app.app_context():
        delivery = WebhookDelivery.query.one()
        assert delivery.status == "failed" and delivery.signature_valid
        assert delivery.error_message == accounts.waiting_for_host_email(COLLEAGUE)
    assert "Team Sync Meeting" not in client.get("/", follow_redirects=True).get_data(as_text=True)


def test_admin_approval_sends_the_waiting_delivery_through(app, client, auth, admin, member, drain, runner):
    claim(client, auth, "member@example.com", COLLEAGUE)
    post(client, meeting(recording_id=778, email=COLLEAGUE))
    drain()
    with app.app_context():
        delivery_id = WebhookDelivery.query.one().id
    failed = runner.invoke(args=["webhooks", "replay", str(delivery_id)])  # still waiting: replayable, fails
    assert failed.exit_code == 1 and "approved" in failed.output
    assert owners(app) == []

    client = app.test_client()
    login(client, "admin@example.com")
    page = client.get("/admin/users/").get_data(as_text=True)
    assert COLLEAGUE in page and "claimed by member@example.com" in page
    with app.app_context():
        host_email_id = HostEmail.query.filter_by(email=COLLEAGUE).one().id
    answer = client.post(f"/admin/users/host-emails/{host_email_id}/approve", data={"csrf_token": csrf_from(page)},
                         follow_redirects=True).get_data(as_text=True)
    assert f"{COLLEAGUE} now routes recordings to member@example.com. 1 waiting delivery is processed again." in answer
    drain()
    assert owners(app) == [("778", member)]
    with app.app_context():
        delivery = db.session.get(WebhookDelivery, delivery_id)
        assert delivery.status == "success" and delivery.user_id == member
        assert HostEmail.query.filter_by(email=COLLEAGUE).one().proof == "approved by admin@example.com"
    replayed = runner.invoke(args=["webhooks", "replay", str(delivery_id)])  # replay stays possible, no duplicate
    assert replayed.exit_code == 0, replayed.output
    assert owners(app) == [("778", member)]


def test_the_accounts_own_address_is_approved_and_takes_over_a_claim(app, client, auth, member, drain):
    claim(client, auth, "member@example.com", COLLEAGUE)
    with app.app_context():
        colleague = accounts.create_user(COLLEAGUE, "a long enough password")
        assert [(h.email, h.status, h.proof) for h in colleague.host_emails] == [(COLLEAGUE, "approved", "account email")]
        colleague_id = colleague.id
    post(client, meeting(recording_id=779, email=COLLEAGUE))
    drain()
    assert owners(app) == [("779", colleague_id)]


def test_the_members_own_fathom_connection_proves_its_account_address(fathom_app, sandbox, client, auth, member,
                                                                       drain):
    app = fathom_app
    app.config["FATHOM_OAUTH_WEBHOOK_SECRET"] = SECRET
    fathom_address = "max.fathom@example.com"
    sandbox.add_meetings(fathom_address, 2)
    key = sandbox.add_api_key(fathom_address)
    claim(client, auth, "member@example.com", fathom_address)  # pending until proven
    with app.app_context():
        assert HostEmail.query.filter_by(email=fathom_address).one().status == "pending"
        message = credentials.connect_api_key(db.session.get(User, member), key)
        assert fathom_address in message
        proven = HostEmail.query.filter_by(email=fathom_address).one()
        assert (proven.user_id, proven.status, proven.proof) == (member, "approved", accounts.FATHOM_PROOF)
    post(client, meeting(recording_id=780, email=fathom_address))
    drain()
    assert owners(app) == [("780", member)]


def test_adding_the_connected_fathom_accounts_address_is_approved_at_once(fathom_app, sandbox, client, auth, member):
    fathom_address = "max.fathom@example.com"
    sandbox.add_meetings(fathom_address, 1)
    with fathom_app.app_context():
        credentials.connect_api_key(db.session.get(User, member), sandbox.add_api_key(fathom_address))
        db.session.delete(HostEmail.query.filter_by(email=fathom_address).one())  # as if added before proof existed
        db.session.commit()
    page = claim(client, auth, "member@example.com", fathom_address)
    assert "Host email added." in page and "waiting for approval" not in page


def test_an_unproven_claim_does_not_sway_which_account_a_connection_proves(fathom_app, sandbox, member):
    """A member who can see a colleague's shared meetings must not prove the colleague's address by claiming it."""
    with fathom_app.app_context():
        user = db.session.get(User, member)
        accounts.add_host_email(user, COLLEAGUE)
        sandbox.add_meetings("member@example.com", 3)
        credentials.connect_api_key(user, sandbox.add_api_key("member@example.com"))
        assert HostEmail.query.filter_by(email=COLLEAGUE).one().status == "pending"


def test_a_recording_on_the_personal_webhook_proves_its_recorder(app, client, other_member, personal_key, drain):
    alias = "olga.recorder@example.com"
    with app.app_context():
        accounts.add_host_email(db.session.get(User, other_member), alias)
    assert post(client, meeting(recording_id=781, email=alias), url=f"{URL}/{personal_key}",
                secret=PERSONAL_SECRET).status_code == 202
    drain()
    assert owners(app) == [("781", other_member)]
    with app.app_context():
        assert HostEmail.query.filter_by(email=alias).one().status == "approved"
    post(client, meeting(recording_id=782, email=alias))  # now the OAuth app's copy routes too
    drain()
    assert owners(app) == [("781", other_member), ("782", other_member)]
