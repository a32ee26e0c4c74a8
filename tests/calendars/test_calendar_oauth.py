"""Connecting calendars by OAuth: Google and Microsoft round trips through the fakes."""
from urllib.parse import parse_qs, urlsplit

from callvault.calendars import connections
from callvault.calendars.oauth import GOOGLE_SCOPE, MICROSOFT
from callvault.config import load_config
from callvault.extensions import db
from callvault.models import Calendar, CalendarCredential
from tests.support.calendars import MEMBER_EMAIL, connect, consent, follow_back, only_calendar
from tests.support.web import login


def test_google_round_trip_with_offline_consent_and_a_forged_state_refused(calendar_app, google, client, auth,
                                                                          member, drain):
    google.add_user(MEMBER_EMAIL)
    auth.login(MEMBER_EMAIL)
    start = client.get("/dashboard/auth/google/")
    authorize = urlsplit(start.headers["Location"])
    params = {k: v[0] for k, v in parse_qs(authorize.query).items()}
    assert start.headers["Location"].startswith(google.oauth_base_url + "/o/oauth2/v2/auth?")
    assert params["access_type"] == "offline" and params["prompt"] == "consent"
    assert params["scope"] == GOOGLE_SCOPE and params["response_type"] == "code" and len(params["state"]) > 30

    forged = client.get("/dashboard/auth/google/callback/?code=stolen&state=forged")
    assert forged.status_code == 400 and "state mismatch" in forged.get_data(as_text=True)
    with calendar_app.app_context():
        assert Calendar.query.count() == 0

    page = connect(client, "google")
    text = page.get_data(as_text=True)
    assert "Google calendar connected" in text and MEMBER_EMAIL in text
    with calendar_app.app_context():
        calendar = only_calendar()
        assert calendar.deduplication_key == f"{MEMBER_EMAIL}-google-oauth" and calendar.is_connected
        credential = CalendarCredential.query.one()
        assert credential.refresh_token and credential.access_token
        assert credential.refresh_token not in credential.refresh_token_encrypted  # stored encrypted
        assert credential.refresh_token not in text
    replay = follow_back(client, consent(client, "google", MEMBER_EMAIL))  # connecting again updates, not duplicates
    assert replay.status_code == 200
    with calendar_app.app_context():
        assert Calendar.query.count() == 1 and CalendarCredential.query.count() == 1
    drain()  # the first sync and the watch channel were queued
    assert google.count("/calendar/v3/calendars/primary/events", method="GET") >= 1
    assert len(google.channels) == 1


def test_state_is_bound_to_the_session_and_single_use(calendar_app, google, client, auth, member):
    google.add_user(MEMBER_EMAIL)
    auth.login(MEMBER_EMAIL)
    answer = consent(client, "google", MEMBER_EMAIL)
    other_browser = calendar_app.test_client()
    login(other_browser, MEMBER_EMAIL)
    elsewhere = follow_back(other_browser, answer)  # the same code and state, in another session
    assert elsewhere.status_code == 400 and "state mismatch" in elsewhere.get_data(as_text=True)
    assert follow_back(client, answer).status_code == 200
    replayed = follow_back(client, answer)
    assert replayed.status_code == 400 and "state mismatch" in replayed.get_data(as_text=True)
    with calendar_app.app_context():
        assert Calendar.query.count() == 1


def test_denied_consent_and_provider_errors_get_a_clear_page(calendar_app, google, microsoft, client, auth, member):
    auth.login(MEMBER_EMAIL)
    denied = follow_back(client, consent(client, "google", MEMBER_EMAIL, deny="1"))
    assert denied.status_code == 400
    assert "You declined to give CallVault access to your Google calendar." in denied.get_data(as_text=True)
    start = client.get("/dashboard/auth/microsoft/")
    state = parse_qs(urlsplit(start.headers["Location"]).query)["state"][0]
    failed = client.get(f"/dashboard/auth/microsoft/callback/?error=server_error&state={state}"
                        "&error_description=AADSTS50000%3A+There+was+an+error+issuing+a+token.")
    page = failed.get_data(as_text=True)
    assert failed.status_code == 400 and "Microsoft refused: server_error – AADSTS50000" in page
    assert "Try again" in page


def test_missing_settings_are_named_to_admins_only_not_a_stack_trace(calendar_app, client, auth, member, admin):
    calendar_app.config["MICROSOFT_CLIENT_SECRET"] = None
    auth.login(MEMBER_EMAIL)
    page = client.get("/dashboard/auth/microsoft/")
    assert page.status_code == 503
    body = page.get_data(as_text=True)
    assert "Microsoft calendars are not set up on this server." in body and "MICROSOFT_CLIENT_SECRET" not in body
    admin_client = calendar_app.test_client()
    login(admin_client, "admin@example.com")
    page = admin_client.get("/dashboard/auth/microsoft/")
    assert page.status_code == 503
    assert "set MICROSOFT_CLIENT_SECRET on the server" in page.get_data(as_text=True)


def test_callback_never_redirects_anywhere(calendar_app, google, client, auth, member):
    google.add_user(MEMBER_EMAIL)
    auth.login(MEMBER_EMAIL)
    answer = consent(client, "google", MEMBER_EMAIL)
    page = client.get(urlsplit(answer.headers["Location"]).path + "?" + urlsplit(answer.headers["Location"]).query
                      + "&next=https://evil.example/")
    assert page.status_code == 200 and "Location" not in page.headers
    assert "evil.example" not in page.get_data(as_text=True)


def test_microsoft_round_trip_and_rotated_refresh_tokens_are_kept(calendar_app, microsoft, client, auth, member):
    microsoft.add_user(MEMBER_EMAIL, "Max Member")
    auth.login(MEMBER_EMAIL)
    start = client.get("/dashboard/auth/microsoft/")
    location = start.headers["Location"]
    assert location.startswith(microsoft.login_base_url + "/common/oauth2/v2.0/authorize?")
    assert parse_qs(urlsplit(location).query)["scope"] == ["offline_access Calendars.Read"]
    forged = client.get("/dashboard/auth/microsoft/callback/?code=x&state=y")
    assert forged.status_code == 400 and "state mismatch" in forged.get_data(as_text=True)

    connect(client, "microsoft")
    with calendar_app.app_context():
        calendar = only_calendar()
        assert calendar.deduplication_key == f"{MEMBER_EMAIL}-microsoft-oauth"
        tokens = connections.OAuthTokens(calendar.credential_id, MICROSOFT)
        first = CalendarCredential.query.one().refresh_token
        tokens.refresh()
        db.session.expire_all()
        second = CalendarCredential.query.one().refresh_token
        assert second != first  # rotated and stored…
        tokens.refresh()        # …so the next refresh works (the fake kills used refresh tokens)
        db.session.expire_all()
        assert CalendarCredential.query.one().refresh_token not in (first, second)
    token_calls = microsoft.requests_to("/common/oauth2/v2.0/token")
    assert all(b"scope=offline_access" in call["body"] for call in token_calls[1:])


def test_an_account_connected_by_another_user_is_refused(calendar_app, google, client, auth, member, other_member):
    google.add_user("shared@example.com")
    auth.login("other@example.com")
    follow_back(client, consent(client, "google", "shared@example.com"))
    second = calendar_app.test_client()
    login(second, MEMBER_EMAIL)
    page = follow_back(second, consent(second, "google", "shared@example.com"))
    assert page.status_code == 400
    assert "already connected by another CallVault user" in page.get_data(as_text=True)


def test_microsoft_tenant_comes_from_microsoft_tenant_id(calendar_app, microsoft, client, auth, member):
    tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47"
    microsoft.tenants = {tenant}  # the fake now refuses the "common" endpoints
    calendar_app.config["MICROSOFT_TENANT_ID"] = tenant
    microsoft.add_user(MEMBER_EMAIL)
    auth.login(MEMBER_EMAIL)
    assert client.get("/dashboard/auth/microsoft/").headers["Location"].startswith(
        f"{microsoft.login_base_url}/{tenant}/oauth2/v2.0/authorize?")
    connect(client, "microsoft")
    with calendar_app.app_context():
        connections.OAuthTokens(only_calendar().credential_id, MICROSOFT).refresh()
    assert microsoft.count(f"/{tenant}/oauth2/v2.0/token", status=200) == 2  # the code, then a refresh
    assert microsoft.count("/common/") == 0


def test_the_default_tenant_is_common(tmp_path):
    assert load_config({}, tmp_path)["MICROSOFT_TENANT_ID"] == "common"
    assert load_config({"MICROSOFT_TENANT_ID": ""}, tmp_path)["MICROSOFT_TENANT_ID"] == "common"
    assert load_config({"MICROSOFT_TENANT_ID": "contoso.onmicrosoft.com"}, tmp_path)["MICROSOFT_TENANT_ID"] == \
        "contoso.onmicrosoft.com"
