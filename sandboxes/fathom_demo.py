"""`FATHOM_SANDBOX=1` (development only, set by `make run`): Fathom served from this process.

The app starts a FathomSandbox seeded with meetings for the demo account, points every
FATHOM_* URL at it, registers an OAuth client there (its consent page approves as the demo
account), and stores a fresh sandbox API key for the demo account as soon as that account
exists. The sandbox lives in memory, so each start issues a new key and one process serves it:
run it with `flask run`, not with several gunicorn workers.
"""
import secrets

from callvault.demo import DEMO_EMAIL, demo_user
from callvault.extensions import db
from callvault.fathom.credentials import get_connection
from callvault.logs import log_event
from callvault.models import FathomConnection

from .fathom import FathomSandbox

DEMO_MEETINGS = 60
CLIENT_ID = "callvault-sandbox"


def start_sandbox(app) -> FathomSandbox:
    sandbox = FathomSandbox(seed=7).start()
    sandbox.add_meetings(DEMO_EMAIL, DEMO_MEETINGS)
    sandbox.default_oauth_email = DEMO_EMAIL
    redirect_uri = app.config["PUBLIC_BASE_URL"] + "/auth/fathom/callback/"
    client_secret = secrets.token_urlsafe(24)
    sandbox.add_oauth_client(CLIENT_ID, client_secret, redirect_uri)
    app.config.update(
        FATHOM_API_BASE_URL=sandbox.base_url, FATHOM_OAUTH_AUTHORIZE_URL=sandbox.authorize_url,
        FATHOM_OAUTH_TOKEN_URL=sandbox.token_url, FATHOM_OAUTH_CLIENT_ID=CLIENT_ID,
        FATHOM_OAUTH_CLIENT_SECRET=client_secret, FATHOM_OAUTH_REDIRECT_URI=redirect_uri)
    app.extensions["fathom_sandbox"] = sandbox
    connected = False

    @app.before_request
    def _connect_demo_account():
        nonlocal connected  # `flask demo` may create the account after this process started
        if not connected:
            connected = connect_demo_account(sandbox)

    log_event("fathom_sandbox_started", base_url=sandbox.base_url)
    return sandbox


def connect_demo_account(sandbox: FathomSandbox) -> bool:
    """Give the demo account a working key for this process's sandbox. False if it does not exist yet."""
    user = demo_user()
    if user is None:
        return False
    connection = get_connection(user) or FathomConnection(user_id=user.id)
    connection.api_key = sandbox.add_api_key(DEMO_EMAIL)
    # tokens from an earlier process's sandbox can never work again
    connection.access_token = connection.refresh_token = connection.token_expires_at = None
    connection.account_email, connection.status, connection.last_error = DEMO_EMAIL, "ok", None
    db.session.add(connection)
    db.session.commit()
    return True
