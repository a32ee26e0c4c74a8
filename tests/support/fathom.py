"""Helpers for the Fathom tests: the test OAuth client, pointing an app at a sandbox, connecting a user.

The fixtures (`sandbox`, `fathom_app`) are in tests/fixtures/fathom.py.
"""
from callvault.extensions import db
from callvault.fathom import credentials
from callvault.models import FathomConnection, User

WINDOW = 1.0  # seconds: Fathom's minute, shortened so rate-limit tests are fast
CLIENT_ID, CLIENT_SECRET = "callvault-test", "test-client-secret"
REDIRECT_URI = "http://127.0.0.1/auth/fathom/callback/"
MEMBER_EMAIL = "member@example.com"


def point_at(app, sb) -> None:
    app.config.update(
        FATHOM_API_BASE_URL=sb.base_url, FATHOM_OAUTH_AUTHORIZE_URL=sb.authorize_url,
        FATHOM_OAUTH_TOKEN_URL=sb.token_url, FATHOM_OAUTH_CLIENT_ID=CLIENT_ID,
        FATHOM_OAUTH_CLIENT_SECRET=CLIENT_SECRET, FATHOM_OAUTH_REDIRECT_URI=REDIRECT_URI,
        FATHOM_RATE_WINDOW_SECONDS=WINDOW, FATHOM_RETRY_BASE_SECONDS=0.01, FATHOM_HTTP_TIMEOUT_SECONDS=5)


def store_api_key(app, user_id, sb, email=MEMBER_EMAIL) -> str:
    key = sb.add_api_key(email)
    with app.app_context():
        connection = FathomConnection.query.filter_by(user_id=user_id).first() or FathomConnection(user_id=user_id)
        connection.api_key = key
        db.session.add(connection)
        db.session.commit()
    return key


def connect_oauth(app, user_id, sb, email=MEMBER_EMAIL) -> None:
    """The real code exchange, with the code the sandbox's consent page would hand out."""
    code = sb.issue_oauth_code(email, CLIENT_ID, REDIRECT_URI)
    with app.app_context():
        credentials.connect_oauth(db.session.get(User, user_id), code)


def connection_of(user_id) -> FathomConnection:
    db.session.expire_all()
    return FathomConnection.query.filter_by(user_id=user_id).one()
