"""Helpers for the calendar tests: the test OAuth clients, pointing an app at the Google and
Microsoft fakes, service-account keys, and connecting calendars the real way.

The fixtures (`google`, `microsoft`, `calendar_app`, `rsa_private_key`) are in tests/fixtures/calendars.py.
"""
import json
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

import requests
from cryptography.hazmat.primitives import serialization

from callvault.calendars import sync
from callvault.extensions import db
from callvault.models import Calendar, CalendarEvent

GOOGLE_CLIENT, MICROSOFT_CLIENT = ("google-client-id", "google-secret"), ("ms-client-id", "ms-secret")
GOOGLE_REDIRECT = "http://127.0.0.1/dashboard/auth/google/callback/"
MICROSOFT_REDIRECT = "http://127.0.0.1/dashboard/auth/microsoft/callback/"
SERVICE_ACCOUNT = "callvault-sync@callvault-test.iam.gserviceaccount.com"
MEMBER_EMAIL = "member@example.com"
PUBLIC_BASE_URL = "https://callvault.test"
TEAMS_URL = ("https://teams.microsoft.com/l/meetup-join/19%3ameeting_NTg0NmQ3NTctZDVkZC00YzRh%40thread.v2/0"
             "?context=%7b%22Tid%22%3a%2272f988bf%22%2c%22Oid%22%3a%22bc55b173%22%7d")


def pem(key, private: bool) -> str:
    if private:
        return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption()).decode()
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def service_account_json(key) -> str:
    """A key file as Google Cloud downloads it (only the fields that matter here are real)."""
    return json.dumps({"type": "service_account", "project_id": "callvault-test", "private_key_id": "k1",
                       "private_key": pem(key, private=True), "client_email": SERVICE_ACCOUNT,
                       "client_id": "1234567890", "token_uri": "https://oauth2.googleapis.com/token"})


def point_at(app, google=None, microsoft=None, **extra) -> None:
    settings = {"PUBLIC_BASE_URL": PUBLIC_BASE_URL, "CALENDAR_HTTP_TIMEOUT_SECONDS": 0.5,
                "CALENDAR_MAX_ATTEMPTS": 3, "CALENDAR_RETRY_BASE_SECONDS": 0.01}
    if google is not None:
        settings.update(GOOGLE_CLIENT_ID=GOOGLE_CLIENT[0], GOOGLE_CLIENT_SECRET=GOOGLE_CLIENT[1],
                        GOOGLE_REDIRECT_URI=GOOGLE_REDIRECT, GOOGLE_API_BASE_URL=google.api_base_url,
                        GOOGLE_OAUTH_BASE_URL=google.oauth_base_url)
    if microsoft is not None:
        settings.update(MICROSOFT_CLIENT_ID=MICROSOFT_CLIENT[0], MICROSOFT_CLIENT_SECRET=MICROSOFT_CLIENT[1],
                        MICROSOFT_REDIRECT_URI=MICROSOFT_REDIRECT, MICROSOFT_GRAPH_BASE_URL=microsoft.graph_base_url,
                        MICROSOFT_LOGIN_BASE_URL=microsoft.login_base_url)
    settings.update(extra)
    app.config.update(settings)


def consent(client, provider: str, email: str, **extra) -> "requests.Response":
    """Start the flow in our app, then let the fake consent page answer (302 back to us)."""
    start = client.get(f"/dashboard/auth/{provider}/")
    assert start.status_code == 302, start.get_data(as_text=True)
    return requests.get(start.headers["Location"], params={"login_hint": email, **extra}, allow_redirects=False,
                        timeout=5)


def follow_back(client, answer):
    """Our callback, as the browser would follow the provider's redirect."""
    target = urlsplit(answer.headers["Location"])
    return client.get(f"{target.path}?{target.query}")


def connect(client, provider: str, email: str = MEMBER_EMAIL):
    page = follow_back(client, consent(client, provider, email))
    assert page.status_code == 200, page.get_data(as_text=True)
    return page


def connect_both_then_lose_microsoft(app, google, microsoft, client, auth, drain) -> None:
    """The member connects Google and Microsoft (first syncs drained); then Microsoft refuses the
    grant for good and the next sync disconnects that calendar."""
    google.add_user(MEMBER_EMAIL)
    microsoft.add_user(MEMBER_EMAIL)
    auth.login(MEMBER_EMAIL)
    connect(client, "google")
    connect(client, "microsoft")
    drain()
    microsoft.revoke(MEMBER_EMAIL)
    microsoft.expire_access_tokens()
    with app.app_context():
        outlook = Calendar.query.filter_by(provider="microsoft").one()
        assert sync.sync_calendar(outlook.id).status == "disconnected"


ANCHOR = datetime.now(timezone.utc).replace(second=0, microsecond=0)


def at(days: float = 0, hours: float = 0) -> datetime:
    """A moment relative to when the tests started, in whole minutes, UTC."""
    return ANCHOR + timedelta(days=days, hours=hours)


def only_calendar() -> Calendar:
    db.session.expire_all()
    return Calendar.query.one()


def events_of(calendar_id: int) -> dict[str, CalendarEvent]:
    db.session.expire_all()
    return {e.provider_event_id: e for e in CalendarEvent.query.filter_by(calendar_id=calendar_id)}
