import pytest
from cryptography.fernet import Fernet

from callvault.crypto import SecretUnreadable
from callvault.extensions import db
from callvault.models import FathomConnection
from tests.support.web import login


def stored_connection(app, member, **secrets) -> int:
    """A FathomConnection of `member` with `secrets` set (encrypted), committed; its id."""
    with app.app_context():
        connection = FathomConnection(user_id=member)
        for name, value in secrets.items():
            setattr(connection, name, value)
        db.session.add(connection)
        db.session.commit()
        return connection.id


def test_secrets_are_encrypted_at_rest(app, member):
    connection_id = stored_connection(app, member, api_key="fathom-key-123")
    with app.app_context():
        raw = db.session.execute(db.text("SELECT api_key_encrypted FROM fathom_connections")).scalar()
        assert "fathom-key-123" not in raw
        assert db.session.get(FathomConnection, connection_id).api_key == "fathom-key-123"


def test_keys_rotate_reencrypts_everything(app, runner, member):
    old_key = app.config["CREDENTIALS_ENCRYPTION_KEYS"][0]
    stored_connection(app, member, api_key="key-a", webhook_secret="whsec_b")
    new_key = Fernet.generate_key().decode()
    app.config["CREDENTIALS_ENCRYPTION_KEYS"] = [new_key, old_key]
    result = runner.invoke(args=["keys", "rotate"])
    assert result.exit_code == 0 and "Re-encrypted 2 secrets" in result.output
    app.config["CREDENTIALS_ENCRYPTION_KEYS"] = [new_key]  # the old key is retired
    with app.app_context():
        connection = db.session.query(FathomConnection).one()
        assert (connection.api_key, connection.webhook_secret) == ("key-a", "whsec_b")


def test_an_undecryptable_secret_names_its_record(app, runner, member):
    connection_id = stored_connection(app, member, api_key="key-a")
    app.config["CREDENTIALS_ENCRYPTION_KEYS"] = [Fernet.generate_key().decode()]
    with app.app_context():
        with pytest.raises(SecretUnreadable, match=f"FathomConnection {connection_id} api_key"):
            db.session.get(FathomConnection, connection_id).api_key
    result = runner.invoke(args=["keys", "rotate"])
    assert result.exit_code == 1 and f"FathomConnection {connection_id} api_key" in result.output


def test_a_page_that_meets_an_unreadable_secret_says_which_record_to_admins(app, client, auth, admin, member):
    """Admins read which record and which setting; anyone else reads plain words (no server settings)."""
    from flask import Blueprint

    connection_id = stored_connection(app, member, api_key="key-a")
    probe = Blueprint("probe", __name__)
    probe.add_url_rule("/probe", "probe", lambda: db.session.get(FathomConnection, connection_id).api_key)
    app.register_blueprint(probe)
    app.config["CREDENTIALS_ENCRYPTION_KEYS"] = [Fernet.generate_key().decode()]
    auth.login("member@example.com")
    response = client.get("/probe")
    assert response.status_code == 500
    body = response.get_data(as_text=True)
    assert "CREDENTIALS_ENCRYPTION_KEY" not in body and "an administrator can see what is missing" in body
    admin_client = app.test_client()
    login(admin_client, "admin@example.com")
    response = admin_client.get("/probe")
    assert response.status_code == 500
    assert f"FathomConnection {connection_id} api_key cannot be decrypted" in response.get_data(as_text=True)
