"""`flask calendars setup-pilot | sync`: domain-wide delegation through a real signed JWT."""
import json
from urllib.parse import parse_qs

from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jws

from callvault.calendars.oauth import GOOGLE_SCOPE
from callvault.models import Calendar
from tests.support.calendars import MEMBER_EMAIL, SERVICE_ACCOUNT, at, events_of, pem, point_at, service_account_json


def _pilot_app(app, google, key, tmp_path, users=(MEMBER_EMAIL, "other@example.com")):
    key_file = tmp_path / "service-account.json"
    key_file.write_text(service_account_json(key))
    point_at(app, google, PILOT_USERS=list(users), GOOGLE_SERVICE_ACCOUNT_JSON=str(key_file))  # a file path
    return app


def test_setup_pilot_is_idempotent_and_impersonates_with_a_signed_jwt(app, google, runner, member, other_member,
                                                                     rsa_private_key, tmp_path):
    _pilot_app(app, google, rsa_private_key, tmp_path)
    google.add_service_account(SERVICE_ACCOUNT, pem(rsa_private_key, private=False))
    for email in (MEMBER_EMAIL, "other@example.com"):
        google.add_user(email)
    meeting = google.add_event(MEMBER_EMAIL, "Pilot meeting", at(1), at(1, 1), hangoutLink="https://meet.google.com/pil-otme-eti")

    first = runner.invoke(args=["calendars", "setup-pilot"])
    assert first.exit_code == 0, first.output
    assert f"{MEMBER_EMAIL}: created (calendar 1, {MEMBER_EMAIL}-google-sa)" in first.output
    again = runner.invoke(args=["calendars", "setup-pilot"])
    assert again.exit_code == 0 and again.output.count(": unchanged") == 2
    with app.app_context():
        assert Calendar.query.count() == 2
        assert {c.auth_method for c in Calendar.query} == {"service_account"}

    synced = runner.invoke(args=["calendars", "sync", "--calendar", "1"])
    assert synced.exit_code == 0, synced.output
    assert "full sync, 1 event(s) stored" in synced.output
    grant = parse_qs(google.requests_to("/token")[0]["body"].decode())
    assert grant["grant_type"] == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
    assertion = jws.extract_compact(grant["assertion"][0].encode())
    claims = json.loads(assertion.payload)
    assert assertion.headers() == {"alg": "RS256", "typ": "JWT", "kid": "k1"}
    assert (claims["iss"], claims["sub"], claims["aud"], claims["scope"]) == (
        SERVICE_ACCOUNT, MEMBER_EMAIL, google.token_url, GOOGLE_SCOPE)
    assert claims["exp"] - claims["iat"] == 3600
    with app.app_context():
        assert events_of(1)[meeting["id"]].meeting_url == "https://meet.google.com/pil-otme-eti"


def test_a_forged_key_is_refused_by_the_token_endpoint(app, google, runner, member, rsa_private_key, tmp_path):
    impostor = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    _pilot_app(app, google, impostor, tmp_path, users=[MEMBER_EMAIL])
    google.add_service_account(SERVICE_ACCOUNT, pem(rsa_private_key, private=False))
    google.add_user(MEMBER_EMAIL)
    assert runner.invoke(args=["calendars", "setup-pilot"]).exit_code == 0
    result = runner.invoke(args=["calendars", "sync"])
    assert result.exit_code == 1 and "Invalid JWT Signature" in result.output
    assert google.count("/calendar/v3") == 0


def test_revoked_delegation_disconnects_and_setup_pilot_reconnects(app, google, runner, member, rsa_private_key,
                                                                   tmp_path):
    _pilot_app(app, google, rsa_private_key, tmp_path, users=[MEMBER_EMAIL])
    google.add_service_account(SERVICE_ACCOUNT, pem(rsa_private_key, private=False), delegated=False)
    google.add_user(MEMBER_EMAIL)
    runner.invoke(args=["calendars", "setup-pilot"])
    result = runner.invoke(args=["calendars", "sync"])
    assert result.exit_code == 1 and "disconnected: Google no longer accepts this authorization (unauthorized_client" \
        in result.output
    google.set_delegation(SERVICE_ACCOUNT, True)
    again = runner.invoke(args=["calendars", "setup-pilot"])
    assert f"{MEMBER_EMAIL}: reconnected" in again.output
    assert runner.invoke(args=["calendars", "sync"]).exit_code == 0


def test_missing_settings_and_unknown_users_give_one_clear_line(app, google, runner, member, rsa_private_key, tmp_path):
    point_at(app, google)
    result = runner.invoke(args=["calendars", "setup-pilot"])
    assert result.exit_code == 1 and "Error: set PILOT_USERS on the server" in result.output
    app.config["PILOT_USERS"] = [MEMBER_EMAIL]
    result = runner.invoke(args=["calendars", "setup-pilot"])
    assert result.exit_code == 1 and "Error: set GOOGLE_SERVICE_ACCOUNT_JSON on the server" in result.output
    app.config["GOOGLE_SERVICE_ACCOUNT_JSON"] = "{not json"
    assert "GOOGLE_SERVICE_ACCOUNT_JSON is not valid JSON" in runner.invoke(args=["calendars", "setup-pilot"]).output
    app.config["GOOGLE_SERVICE_ACCOUNT_JSON"] = service_account_json(rsa_private_key)  # JSON text works too
    app.config["PILOT_USERS"] = [MEMBER_EMAIL, "ghost@example.com"]
    result = runner.invoke(args=["calendars", "setup-pilot"])
    assert result.exit_code == 1 and "no CallVault user has the address ghost@example.com" in result.output
    assert f"{MEMBER_EMAIL}: created" in result.output
    assert "there is no calendar 99" in runner.invoke(args=["calendars", "sync", "--calendar", "99"]).output
