import pytest
from cryptography.fernet import Fernet

from callvault.crypto import SecretUnreadable
from callvault.extensions import db
from callvault.models import FathomConnection


def test_secrets_are_encrypted_at_rest(app, member):
    with app.app_context():
        connection = FathomConnection(user_id=member)
        connection.api_key = "fathom-key-123"
        db.session.add(connection)
        db.session.commit()
        raw = db.session.execute(db.text("SELECT api_key_encrypted FROM fathom_connections")).scalar()
        assert "fathom-key-123" not in raw
        assert db.session.get(FathomConnection, connection.id).api_key == "fathom-key-123"


def test_keys_rotate_reencrypts_everything(app, runner, member):
    old_key = app.config["CREDENTIALS_ENCRYPTION_KEYS"][0]
    with app.app_context():
        connection = FathomConnection(user_id=member)
        connection.api_key, connection.webhook_secret = "key-a", "whsec_b"
        db.session.add(connection)
        db.session.commit()
    new_key = Fernet.generate_key().decode()
    app.config["CREDENTIALS_ENCRYPTION_KEYS"] = [new_key, old_key]
    result = runner.invoke(args=["keys", "rotate"])
    assert result.exit_code == 0 and "Re-encrypted 2 secrets" in result.output
    app.config["CREDENTIALS_ENCRYPTION_KEYS"] = [new_key]  # the old key is retired
    with app.app_context():
        connection = db.session.query(FathomConnection).one()
        assert (connection.api_key, connection.webhook_secret) == ("key-a", "whsec_b")


def test_an_undecryptable_secret_names_its_record(app, runner, member):
    with app.app_context():
        connection = FathomConnection(user_id=member)
        connection.api_key = "key-a"
        db.session.add(connection)
        db.session.commit()
        connection_id = connection.id
    app.config["CREDENTIALS_ENCRYPTION_KEYS"] = [Fernet.generate_key().decode()]
    with app.app_context():
        with pytest.raises(SecretUnreadable, match=f"FathomConnection {connection_id} api_key"):
            db.session.get(FathomConnection, connection_id).api_key
    result = runner.invoke(args=["keys", "rotate"])
    assert result.exit_code == 1 and f"FathomConnection {connection_id} api_key" in result.output


def test_a_page_that_meets_an_unreadable_secret_says_which_record(app, client, member):
    from flask import Blueprint

    with app.app_context():
        connection = FathomConnection(user_id=member)
        connection.api_key = "key-a"
        db.session.add(connection)
        db.session.commit()
        connection_id = connection.id
    probe = Blueprint("probe", __name__)
    probe.add_url_rule("/probe", "probe", lambda: db.session.get(FathomConnection, connection_id).api_key)
    app.register_blueprint(probe)
    app.config["CREDENTIALS_ENCRYPTION_KEYS"] = [Fernet.generate_key().decode()]
    response = client.get("/probe")
    assert response.status_code == 500
    assert f"FathomConnection {connection_id} api_key cannot be decrypted" in response.get_data(as_text=True)
