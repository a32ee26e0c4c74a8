import pytest
from cryptography.fernet import Fernet

from callvault.config import ConfigError, load_config, normalize_database_url
from callvault.queues import connect


def test_postgres_urls_are_rewritten_for_psycopg():
    assert normalize_database_url("postgres://u:p@h:5432/db") == "postgresql+psycopg://u:p@h:5432/db"
    assert normalize_database_url("postgresql://h/db") == "postgresql+psycopg://h/db"
    assert normalize_database_url("sqlite:///x.db") == "sqlite:///x.db"


def test_embedded_defaults_use_sqlite_and_an_inprocess_queue(tmp_path):
    config = load_config({}, tmp_path)
    assert config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'callvault.sqlite3'}"
    assert config["INPROCESS_QUEUE"] is True
    assert config["ENV_NAME"] == "development"


def test_development_secrets_are_generated_once_and_kept(tmp_path):
    first = load_config({}, tmp_path)
    second = load_config({}, tmp_path)
    assert first["SECRET_KEY"] == second["SECRET_KEY"] and len(first["SECRET_KEY"]) == 64
    assert first["CREDENTIALS_ENCRYPTION_KEYS"] == second["CREDENTIALS_ENCRYPTION_KEYS"]
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600


def test_production_requires_its_settings_and_names_them(tmp_path):
    with pytest.raises(ConfigError) as error:
        load_config({"CALLVAULT_ENV": "production", "SECRET_KEY": "x"}, tmp_path)
    message = str(error.value)
    for name in ("CREDENTIALS_ENCRYPTION_KEY", "DATABASE_URL", "REDIS_URL"):
        assert name in message
    assert "SECRET_KEY," not in message
    assert not (tmp_path / "secret_key").exists()


def test_heroku_dyno_means_production(tmp_path):
    with pytest.raises(ConfigError):
        load_config({"DYNO": "web.1"}, tmp_path)


def test_production_with_everything_set(tmp_path):
    key = Fernet.generate_key().decode()
    config = load_config({"CALLVAULT_ENV": "production", "SECRET_KEY": "s", "CREDENTIALS_ENCRYPTION_KEY": key,
                          "DATABASE_URL": "postgres://db/x", "REDIS_URL": "rediss://:pw@redis:6380"}, tmp_path)
    assert config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://db/x"
    assert config["INPROCESS_QUEUE"] is False
    assert config["SESSION_COOKIE_SECURE"] is True


def test_a_malformed_encryption_key_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="CREDENTIALS_ENCRYPTION_KEY"):
        load_config({"CREDENTIALS_ENCRYPTION_KEY": "not-a-key"}, tmp_path)


def test_rediss_urls_accept_self_signed_certificates():
    connection = connect("rediss://:secret@redis.example:6380/0")
    kwargs = connection.connection_pool.connection_kwargs
    assert kwargs["ssl_cert_reqs"] == "none"
    assert connection.connection_pool.connection_class.__name__ == "SSLConnection"
