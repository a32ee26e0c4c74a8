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

    transcript_secret = environ.get("TRANSCRIPT_TOKEN_SECRET") or environ.get("WEBHOOK_SECRET")
    if not transcript_secret and not production:
        transcript_secret = _dev_secret(instance_path, "transcript_token_secret", lambda: secrets.token_hex(32))

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
        "TRANSCRIPT_TOKEN_SECRET": transcript_secret,
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
        # Fathom's published limits, per account: 60 calls and 30 heavy calls per 60 s window.
        "FATHOM_RATE_WINDOW_SECONDS": float(environ.get("FATHOM_RATE_WINDOW_SECONDS", 60)),
        "FATHOM_RATE_LIMIT": int(environ.get("FATHOM_RATE_LIMIT", 60)),
        "FATHOM_HEAVY_RATE_LIMIT": int(environ.get("FATHOM_HEAVY_RATE_LIMIT", 30)),
        "FATHOM_HTTP_TIMEOUT_SECONDS": float(environ.get("FATHOM_HTTP_TIMEOUT_SECONDS", 30)),
        "FATHOM_MAX_ATTEMPTS": int(environ.get("FATHOM_MAX_ATTEMPTS", 6)),
        "FATHOM_RETRY_BASE_SECONDS": float(environ.get("FATHOM_RETRY_BASE_SECONDS", 1.0)),
        # Development only: serve Fathom from an in-process sandbox seeded for the demo account.
        "FATHOM_SANDBOX": not production and environ.get("FATHOM_SANDBOX", "") in ("1", "true", "yes"),
        "EXPORT_DATABASE_URL": environ.get("EXPORT_DATABASE_URL"),
        "EXPORT_WEBHOOK_URL": environ.get("EXPORT_WEBHOOK_URL"),
        "EXPORT_WEBHOOK_SECRET": environ.get("EXPORT_WEBHOOK_SECRET"),
        # Immediate tries per export run, then the periodic retry backs off from EXPORT_RETRY_BASE_SECONDS.
        "EXPORT_WEBHOOK_ATTEMPTS": int(environ.get("EXPORT_WEBHOOK_ATTEMPTS", 3)),
        "EXPORT_WEBHOOK_BACKOFF_SECONDS": float(environ.get("EXPORT_WEBHOOK_BACKOFF_SECONDS", 2)),
        "EXPORT_WEBHOOK_TIMEOUT_SECONDS": float(environ.get("EXPORT_WEBHOOK_TIMEOUT_SECONDS", 15)),
        "EXPORT_RETRY_BASE_SECONDS": int(environ.get("EXPORT_RETRY_BASE_SECONDS", 60)),
        "EXPORT_BUNDLE_TTL_DAYS": int(environ.get("EXPORT_BUNDLE_TTL_DAYS", 7)),
        "TRANSCRIPT_LINK_DAYS": int(environ.get("TRANSCRIPT_LINK_DAYS", 30)),
        "DASHBOARD_REFRESH_SECONDS": int(environ.get("DASHBOARD_REFRESH_SECONDS", 30)),
        "SCHEDULER_STALE_SECONDS": int(environ.get("SCHEDULER_STALE_SECONDS", 120)),
        # An OpenAI-compatible API for embeddings and titles; the base URL includes the version (…/v1).
        # Unset: offline titles from key phrases, no semantic search. The key is never logged.
        "AI_API_BASE_URL": (environ.get("AI_API_BASE_URL") or "").rstrip("/") or None,
        "AI_API_KEY": environ.get("AI_API_KEY") or None,
        "AI_EMBEDDING_MODEL": environ.get("AI_EMBEDDING_MODEL") or None,
        "AI_CHAT_MODEL": environ.get("AI_CHAT_MODEL") or None,
        "AI_HTTP_TIMEOUT_SECONDS": float(environ.get("AI_HTTP_TIMEOUT_SECONDS", 30)),
        "AI_MAX_ATTEMPTS": int(environ.get("AI_MAX_ATTEMPTS", 5)),
        "AI_RETRY_BASE_SECONDS": float(environ.get("AI_RETRY_BASE_SECONDS", 1.0)),
        "AI_RETRY_MAX_WAIT_SECONDS": float(environ.get("AI_RETRY_MAX_WAIT_SECONDS", 60)),
        "AI_SEMANTIC_MIN_SIMILARITY": float(environ.get("AI_SEMANTIC_MIN_SIMILARITY", 0.3)),
        "GOOGLE_CLIENT_ID": environ.get("GOOGLE_CLIENT_ID"),
        "GOOGLE_CLIENT_SECRET": environ.get("GOOGLE_CLIENT_SECRET"),
        "GOOGLE_REDIRECT_URI": environ.get("GOOGLE_REDIRECT_URI"),  # default: PUBLIC_BASE_URL + the callback path
        "GOOGLE_SERVICE_ACCOUNT_JSON": environ.get("GOOGLE_SERVICE_ACCOUNT_JSON"),  # JSON text or a file path
        "GOOGLE_API_BASE_URL": environ.get("GOOGLE_API_BASE_URL", "https://www.googleapis.com/calendar/v3"),
        # Unset: consent at accounts.google.com, tokens at oauth2.googleapis.com. Set: one sandbox serves both.
        "GOOGLE_OAUTH_BASE_URL": environ.get("GOOGLE_OAUTH_BASE_URL"),
        "MICROSOFT_CLIENT_ID": environ.get("MICROSOFT_CLIENT_ID"),
        "MICROSOFT_CLIENT_SECRET": environ.get("MICROSOFT_CLIENT_SECRET"),
        "MICROSOFT_REDIRECT_URI": environ.get("MICROSOFT_REDIRECT_URI"),
        "MICROSOFT_TENANT_ID": environ.get("MICROSOFT_TENANT_ID") or "common",
        "MICROSOFT_GRAPH_BASE_URL": environ.get("MICROSOFT_GRAPH_BASE_URL", "https://graph.microsoft.com/v1.0"),
        "MICROSOFT_LOGIN_BASE_URL": environ.get("MICROSOFT_LOGIN_BASE_URL", "https://login.microsoftonline.com"),
        "PILOT_USERS": [e.strip().lower() for e in environ.get("PILOT_USERS", "").split(",") if e.strip()],
        "CALENDAR_HTTP_TIMEOUT_SECONDS": float(environ.get("CALENDAR_HTTP_TIMEOUT_SECONDS", 20)),
        "CALENDAR_MAX_ATTEMPTS": int(environ.get("CALENDAR_MAX_ATTEMPTS", 5)),
        "CALENDAR_RETRY_BASE_SECONDS": float(environ.get("CALENDAR_RETRY_BASE_SECONDS", 1.0)),
        # The recording-bot service (Attendee's REST API). The key and secret are never logged.
        "ATTENDEE_API_BASE_URL": (environ.get("ATTENDEE_API_BASE_URL") or "https://app.attendee.dev").rstrip("/"),
        "ATTENDEE_API_KEY": environ.get("ATTENDEE_API_KEY") or None,
        "ATTENDEE_WEBHOOK_SECRET": environ.get("ATTENDEE_WEBHOOK_SECRET") or None,
        "ATTENDEE_HTTP_TIMEOUT_SECONDS": float(environ.get("ATTENDEE_HTTP_TIMEOUT_SECONDS", 15)),
        "ATTENDEE_MAX_ATTEMPTS": int(environ.get("ATTENDEE_MAX_ATTEMPTS", 3)),
        "ATTENDEE_RETRY_BASE_SECONDS": float(environ.get("ATTENDEE_RETRY_BASE_SECONDS", 1.0)),
        "BOT_NAME": environ.get("BOT_NAME") or "CallVault Notetaker",
        # Bots go to the service this long before join_at; one that shows no sign of joining this long
        # after join_at is marked missed; a bot that should have moved is polled when this stale.
        "BOT_LEAD_MINUTES": int(environ.get("BOT_LEAD_MINUTES", 60)),
        "BOT_GRACE_MINUTES": int(environ.get("BOT_GRACE_MINUTES", 10)),
        "BOT_POLL_AFTER_SECONDS": int(environ.get("BOT_POLL_AFTER_SECONDS", 120)),
        # A bot still joining, in its meeting or processing this long after the meeting's end is
        # polled one last time and, if still not finished, given up as fatal_error (a dashboard failure).
        "BOT_STUCK_AFTER_HOURS": float(environ.get("BOT_STUCK_AFTER_HOURS", 3)),
    }
