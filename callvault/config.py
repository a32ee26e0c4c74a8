"""All configuration comes from the environment, here and nowhere else.

Embedded defaults make one process a working app on a laptop: SQLite under `instance/`
and an in-process queue (fakeredis plus a worker thread). In production both URLs and
the secrets are required and missing ones stop the app at start-up with a clear message.
"""
import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet


class ConfigError(RuntimeError):
    """A required setting is missing or malformed."""


def _database_url(environ, instance_path: Path) -> str:
    url = environ.get("DATABASE_URL")
    if not url:
        return f"sqlite:///{instance_path / 'callvault.sqlite3'}"
    return normalize_database_url(url)


def normalize_database_url(url: str) -> str:
    """Heroku hands out `postgres://`; SQLAlchemy wants a dialect+driver name."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def _dev_secret(instance_path: Path, name: str, make) -> str:
    """A development secret generated once and kept under instance/ so restarts keep sessions."""
    path = instance_path / name
    if path.exists():
        return path.read_text().strip()
    instance_path.mkdir(parents=True, exist_ok=True)
    value = make()
    path.write_text(value)
    path.chmod(0o600)
    return value


def load_config(environ=None, instance_path: Path | str = "instance") -> dict:
    environ = os.environ if environ is None else environ
    instance_path = Path(instance_path)
    env = environ.get("CALLVAULT_ENV") or ("production" if environ.get("DYNO") else "development")
    production = env == "production"

    secret_key = environ.get("SECRET_KEY")
    encryption_keys = environ.get("CREDENTIALS_ENCRYPTION_KEY")
    if production:
        missing = [n for n, v in (("SECRET_KEY", secret_key), ("CREDENTIALS_ENCRYPTION_KEY", encryption_keys),
                                  ("DATABASE_URL", environ.get("DATABASE_URL")),
                                  ("REDIS_URL", environ.get("REDIS_URL"))) if not v]
        if missing:
            raise ConfigError(f"CallVault is running in production and needs {', '.join(missing)} to be set.")
    else:
        secret_key = secret_key or _dev_secret(instance_path, "secret_key", lambda: secrets.token_hex(32))
        encryption_keys = encryption_keys or _dev_secret(
            instance_path, "credentials_encryption_key", lambda: Fernet.generate_key().decode())

    keys = [k.strip() for k in encryption_keys.split(",") if k.strip()]
    for key in keys:
        try:
            Fernet(key)
        except (ValueError, TypeError):
            raise ConfigError("CREDENTIALS_ENCRYPTION_KEY must be comma-separated Fernet keys "
                              "(generate one with: python -c 'from cryptography.fernet import Fernet; "
                              "print(Fernet.generate_key().decode())')") from None

    redis_url = environ.get("REDIS_URL") or None
    return {
        "ENV_NAME": env,
        "SECRET_KEY": secret_key,
        "CREDENTIALS_ENCRYPTION_KEYS": keys,
        "SQLALCHEMY_DATABASE_URI": _database_url(environ, instance_path),
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "REDIS_URL": redis_url,
        # Without Redis the queues run in-process (fakeredis + a worker thread).
        "INPROCESS_QUEUE": redis_url is None,
        "INPROCESS_WORKER": True,
        "PUBLIC_BASE_URL": (environ.get("PUBLIC_BASE_URL") or "http://127.0.0.1:5000").rstrip("/"),
        "TRANSCRIPT_TOKEN_SECRET": environ.get("TRANSCRIPT_TOKEN_SECRET") or environ.get("WEBHOOK_SECRET"),
        "MAX_CONTENT_LENGTH": int(environ.get("MAX_CONTENT_LENGTH", 10 * 1024 * 1024)),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": production,
        "SESSION_LIFETIME_SECONDS": int(environ.get("SESSION_LIFETIME_SECONDS", 12 * 3600)),
        "WTF_CSRF_TIME_LIMIT": None,  # the session lifetime bounds the token
        "LOGIN_MAX_FAILURES": 5,
        "LOGIN_LOCKOUT_SECONDS": 15 * 60,
        "FATHOM_API_BASE_URL": environ.get("FATHOM_API_BASE_URL", "https://api.fathom.ai/external/v1"),
        "FATHOM_OAUTH_CLIENT_ID": environ.get("FATHOM_OAUTH_CLIENT_ID"),
        "FATHOM_OAUTH_CLIENT_SECRET": environ.get("FATHOM_OAUTH_CLIENT_SECRET"),
        "FATHOM_OAUTH_REDIRECT_URI": environ.get("FATHOM_OAUTH_REDIRECT_URI"),
        "FATHOM_OAUTH_AUTHORIZE_URL": environ.get("FATHOM_OAUTH_AUTHORIZE_URL",
                                                  "https://fathom.video/external/v1/oauth2/authorize"),
        "FATHOM_OAUTH_TOKEN_URL": environ.get("FATHOM_OAUTH_TOKEN_URL",
                                              "https://fathom.video/external/v1/oauth2/token"),
        "FATHOM_OAUTH_WEBHOOK_SECRET": environ.get("FATHOM_OAUTH_WEBHOOK_SECRET"),
        "EXPORT_DATABASE_URL": environ.get("EXPORT_DATABASE_URL"),
        "EXPORT_WEBHOOK_URL": environ.get("EXPORT_WEBHOOK_URL"),
        "EXPORT_WEBHOOK_SECRET": environ.get("EXPORT_WEBHOOK_SECRET"),
    }
