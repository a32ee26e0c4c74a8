"""All configuration comes from the environment, here and nowhere else.

Embedded defaults make one process a working app on a laptop: SQLite under `instance/`
and an in-process queue (fakeredis plus a worker thread). In production both URLs and
the secrets are required and missing ones stop the app at start-up with a clear message.

A setting that cannot be parsed raises `ConfigError` naming the variable; the process entry points
(`app.py` for gunicorn and `flask`, `worker.py`) turn it into one line on stderr and a non-zero exit
with `exit_on_config_error`. Every setting is parsed before a development secret is written, so a bad
one leaves nothing behind.
"""
import math
import os
import secrets
import sys
from contextlib import contextmanager
from pathlib import Path

from cryptography.fernet import Fernet

ENVIRONMENTS = ("production", "development", "testing")
# gunicorn stops (rather than restarts) workers that exit with its "app failed to load" code, so a bad
# setting halts the server with the one line instead of restarting workers that can never start.
CONFIG_ERROR_EXIT_CODE = 4


class ConfigError(RuntimeError):
    """A required setting is missing or malformed. Its message is one line naming the variable."""


@contextmanager
def exit_on_config_error():
    """Where a process starts: a ConfigError becomes `CallVault: <message>` on stderr and a non-zero exit."""
    try:
        yield
    except ConfigError as exc:
        print(f"CallVault: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(CONFIG_ERROR_EXIT_CODE) from None


def _raw(environ, name: str) -> str | None:
    """The variable's text, or None when unset or blank (hosting dashboards leave blanks behind)."""
    value = environ.get(name)
    return value.strip() if value is not None and value.strip() else None


def _checked(name: str, value, text: str, minimum):
    if minimum is not None and value < minimum:
        if minimum == 0:
            raise ConfigError(f"{name} cannot be negative (got {text!r})")
        raise ConfigError(f"{name} must be at least {minimum} (got {text!r})")
    return value


def _whole(environ, name: str, default: int, unit: str = "", minimum: int | None = 0) -> int:
    """A whole number, e.g. BOT_LEAD_MINUTES=60."""
    text = _raw(environ, name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number{' of ' + unit if unit else ''} (got {text!r})") from None
    return _checked(name, value, text, minimum)


def _number(environ, name: str, default: float, unit: str = "", minimum: float | None = 0) -> float:
    """A number, fractions allowed, e.g. BOT_STUCK_AFTER_HOURS=1.5."""
    text = _raw(environ, name)
    if text is None:
        return float(default)
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise ConfigError(f"{name} must be a number{' of ' + unit if unit else ''} (got {text!r})")
    return _checked(name, value, text, minimum)


def _flag(environ, name: str, default: bool = False) -> bool:
    text = _raw(environ, name)
    if text is None:
        return default
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be 1 or 0 (or true/false, yes/no) (got {text!r})")


def _choice(environ, name: str, choices: tuple[str, ...], default: str) -> str:
    text = _raw(environ, name)
    if text is None:
        return default
    if text not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)} (got {text!r})")
    return text


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


def _fernet_keys(text: str) -> list[str]:
    keys = [k.strip() for k in text.split(",") if k.strip()]
    for key in keys:
        try:
            Fernet(key)
        except (ValueError, TypeError):
            raise ConfigError("CREDENTIALS_ENCRYPTION_KEY must be comma-separated Fernet keys "
                              "(generate one with: python -c 'from cryptography.fernet import Fernet; "
                              "print(Fernet.generate_key().decode())')") from None
    return keys


def _made_up_secret(env: str, instance_path: Path, name: str, make) -> str:
    """A secret nobody set. Development generates it once and keeps it under instance/ so restarts keep
    sessions; testing makes one up for this process and writes nothing."""
    if env == "testing":
        return make()
    path = instance_path / name
    if path.exists():
        return path.read_text().strip()
    instance_path.mkdir(parents=True, exist_ok=True)
    value = make()
    path.write_text(value)
    path.chmod(0o600)
    return value


def _require_production_settings(environ) -> None:
    required = ("SECRET_KEY", "CREDENTIALS_ENCRYPTION_KEY", "DATABASE_URL", "REDIS_URL")
    missing = [name for name in required if not environ.get(name)]
    if missing:
        names = ", ".join(missing[:-1]) + " and " + missing[-1] if len(missing) > 1 else missing[0]
        raise ConfigError(f"{names} must be set in production")


def _secrets(environ, instance_path: Path, env: str) -> dict:
    """The secrets; outside production the unset ones are made up (see _made_up_secret)."""
    given_keys = environ.get("CREDENTIALS_ENCRYPTION_KEY")
    keys = _fernet_keys(given_keys) if given_keys else None   # checked before anything is written
    secret_key = environ.get("SECRET_KEY")
    transcript_secret = environ.get("TRANSCRIPT_TOKEN_SECRET") or environ.get("WEBHOOK_SECRET")
    if env != "production":
        secret_key = secret_key or _made_up_secret(env, instance_path, "secret_key", lambda: secrets.token_hex(32))
        if keys is None:
            keys = _fernet_keys(_made_up_secret(env, instance_path, "credentials_encryption_key",
                                                lambda: Fernet.generate_key().decode()))
        transcript_secret = transcript_secret or _made_up_secret(
            env, instance_path, "transcript_token_secret", lambda: secrets.token_hex(32))
    return {"SECRET_KEY": secret_key, "CREDENTIALS_ENCRYPTION_KEYS": keys, "TRANSCRIPT_TOKEN_SECRET": transcript_secret}


def load_config(environ=None, instance_path: Path | str = "instance") -> dict:
    """Every setting, parsed. A missing or malformed one raises ConfigError naming it."""
    environ = os.environ if environ is None else environ
    instance_path = Path(instance_path)
    env = _choice(environ, "CALLVAULT_ENV", ENVIRONMENTS, "production" if environ.get("DYNO") else "development")
    if env == "production":
        _require_production_settings(environ)
    config = _settings(environ, instance_path, env)
    # Secrets last: a development secret is written only once every other setting has parsed.
    config.update(_secrets(environ, instance_path, env))
    return config


def _settings(environ, instance_path: Path, env: str) -> dict:
    production = env == "production"
    redis_url = environ.get("REDIS_URL") or None
    return {
        "ENV_NAME": env,
        "SQLALCHEMY_DATABASE_URI": _database_url(environ, instance_path),
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "REDIS_URL": redis_url,
        # Without Redis the queues run in-process (fakeredis + a worker thread).
        "INPROCESS_QUEUE": redis_url is None,
        "INPROCESS_WORKER": True,
        "PUBLIC_BASE_URL": (environ.get("PUBLIC_BASE_URL") or "http://127.0.0.1:5000").rstrip("/"),
        "MAX_CONTENT_LENGTH": _whole(environ, "MAX_CONTENT_LENGTH", 10 * 1024 * 1024, "bytes", minimum=1),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": production,
        "SESSION_LIFETIME_SECONDS": _whole(environ, "SESSION_LIFETIME_SECONDS", 12 * 3600, "seconds", minimum=1),
        "WTF_CSRF_TIME_LIMIT": None,  # the session lifetime bounds the token
        # Sign-in throttle, per (account, client address): this many failures are free, then each next
        # attempt waits LOGIN_DELAY_SECONDS, doubling per further failure up to LOGIN_MAX_DELAY_SECONDS.
        "LOGIN_MAX_FAILURES": 5,
        "LOGIN_DELAY_SECONDS": 30.0,
        "LOGIN_MAX_DELAY_SECONDS": 15 * 60.0,
        # How many proxies in front of the app append to X-Forwarded-For (Heroku's router: 1). 0 ignores it.
        "TRUSTED_PROXY_HOPS": _whole(environ, "TRUSTED_PROXY_HOPS", 0, "proxies"),
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
        "FATHOM_RATE_WINDOW_SECONDS": _number(environ, "FATHOM_RATE_WINDOW_SECONDS", 60, "seconds"),
        "FATHOM_RATE_LIMIT": _whole(environ, "FATHOM_RATE_LIMIT", 60, "calls", minimum=1),
        "FATHOM_HEAVY_RATE_LIMIT": _whole(environ, "FATHOM_HEAVY_RATE_LIMIT", 30, "calls", minimum=1),
        "FATHOM_HTTP_TIMEOUT_SECONDS": _number(environ, "FATHOM_HTTP_TIMEOUT_SECONDS", 30, "seconds"),
        "FATHOM_MAX_ATTEMPTS": _whole(environ, "FATHOM_MAX_ATTEMPTS", 6, "attempts", minimum=1),
        "FATHOM_RETRY_BASE_SECONDS": _number(environ, "FATHOM_RETRY_BASE_SECONDS", 1.0, "seconds"),
        # Development only: serve Fathom from an in-process sandbox seeded for the demo account.
        "FATHOM_SANDBOX": _flag(environ, "FATHOM_SANDBOX") and not production,
        "EXPORT_DATABASE_URL": environ.get("EXPORT_DATABASE_URL"),
        "EXPORT_WEBHOOK_URL": environ.get("EXPORT_WEBHOOK_URL"),
        "EXPORT_WEBHOOK_SECRET": environ.get("EXPORT_WEBHOOK_SECRET"),
        # Immediate tries per export run, then the periodic retry backs off from EXPORT_RETRY_BASE_SECONDS.
        "EXPORT_WEBHOOK_ATTEMPTS": _whole(environ, "EXPORT_WEBHOOK_ATTEMPTS", 3, "attempts", minimum=1),
        "EXPORT_WEBHOOK_BACKOFF_SECONDS": _number(environ, "EXPORT_WEBHOOK_BACKOFF_SECONDS", 2, "seconds"),
        "EXPORT_WEBHOOK_TIMEOUT_SECONDS": _number(environ, "EXPORT_WEBHOOK_TIMEOUT_SECONDS", 15, "seconds"),
        "EXPORT_RETRY_BASE_SECONDS": _whole(environ, "EXPORT_RETRY_BASE_SECONDS", 60, "seconds"),
        "EXPORT_BUNDLE_TTL_DAYS": _whole(environ, "EXPORT_BUNDLE_TTL_DAYS", 7, "days", minimum=1),
        "TRANSCRIPT_LINK_DAYS": _whole(environ, "TRANSCRIPT_LINK_DAYS", 30, "days", minimum=1),
        "WEBHOOK_RETENTION_DAYS": _whole(environ, "WEBHOOK_RETENTION_DAYS", 30, "days", minimum=1),
        "WEBHOOK_MAX_ATTEMPTS": _whole(environ, "WEBHOOK_MAX_ATTEMPTS", 3, "attempts", minimum=1),
        # Where a judged webhook request is put before its 2xx: "redis" (the inbox stream, drained into the
        # database by the workers), "database" (rows committed on the request path), or "auto": redis when
        # REDIS_URL is set, database with the in-process queue (fakeredis keeps nothing across a restart).
        "WEBHOOK_INTAKE": _choice(environ, "WEBHOOK_INTAKE", ("auto", "redis", "database"), "auto"),
        "WEBHOOK_DRAIN_BATCH": _whole(environ, "WEBHOOK_DRAIN_BATCH", 50, "deliveries", minimum=1),
        # How long a drain waits on an empty inbox for more requests before giving its worker back.
        "WEBHOOK_DRAIN_LINGER_SECONDS": _number(environ, "WEBHOOK_DRAIN_LINGER_SECONDS", 1.0, "seconds"),
        "WORKER_HEARTBEAT_SECONDS": _whole(environ, "WORKER_HEARTBEAT_SECONDS", 10, "seconds", minimum=1),
        # How often an open library asks whether new meetings arrived (0: never).
        "LIBRARY_POLL_SECONDS": _whole(environ, "LIBRARY_POLL_SECONDS", 15, "seconds", minimum=0),
        "DASHBOARD_REFRESH_SECONDS": _whole(environ, "DASHBOARD_REFRESH_SECONDS", 30, "seconds", minimum=1),
        # The dashboard's all-time figures are kept in Redis this long (0: computed on every request).
        "DASHBOARD_CACHE_SECONDS": _whole(environ, "DASHBOARD_CACHE_SECONDS", 15, "seconds"),
        "SCHEDULER_STALE_SECONDS": _whole(environ, "SCHEDULER_STALE_SECONDS", 120, "seconds", minimum=1),
        # An OpenAI-compatible API for embeddings and titles; the base URL includes the version (…/v1).
        # Unset: offline titles from key phrases, no semantic search. The key is never logged.
        "AI_API_BASE_URL": (environ.get("AI_API_BASE_URL") or "").rstrip("/") or None,
        "AI_API_KEY": environ.get("AI_API_KEY") or None,
        "AI_EMBEDDING_MODEL": environ.get("AI_EMBEDDING_MODEL") or None,
        "AI_CHAT_MODEL": environ.get("AI_CHAT_MODEL") or None,
        "AI_HTTP_TIMEOUT_SECONDS": _number(environ, "AI_HTTP_TIMEOUT_SECONDS", 30, "seconds"),
        "AI_MAX_ATTEMPTS": _whole(environ, "AI_MAX_ATTEMPTS", 5, "attempts", minimum=1),
        "AI_RETRY_BASE_SECONDS": _number(environ, "AI_RETRY_BASE_SECONDS", 1.0, "seconds"),
        "AI_RETRY_MAX_WAIT_SECONDS": _number(environ, "AI_RETRY_MAX_WAIT_SECONDS", 60, "seconds"),
        "AI_SEMANTIC_MIN_SIMILARITY": _number(environ, "AI_SEMANTIC_MIN_SIMILARITY", 0.3),
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
        "CALENDAR_HTTP_TIMEOUT_SECONDS": _number(environ, "CALENDAR_HTTP_TIMEOUT_SECONDS", 20, "seconds"),
        "CALENDAR_MAX_ATTEMPTS": _whole(environ, "CALENDAR_MAX_ATTEMPTS", 5, "attempts", minimum=1),
        "CALENDAR_RETRY_BASE_SECONDS": _number(environ, "CALENDAR_RETRY_BASE_SECONDS", 1.0, "seconds"),
        # The recording-bot service (Attendee's REST API). The key and secret are never logged.
        "ATTENDEE_API_BASE_URL": (environ.get("ATTENDEE_API_BASE_URL") or "https://app.attendee.dev").rstrip("/"),
        "ATTENDEE_API_KEY": environ.get("ATTENDEE_API_KEY") or None,
        "ATTENDEE_WEBHOOK_SECRET": environ.get("ATTENDEE_WEBHOOK_SECRET") or None,
        "ATTENDEE_HTTP_TIMEOUT_SECONDS": _number(environ, "ATTENDEE_HTTP_TIMEOUT_SECONDS", 15, "seconds"),
        "ATTENDEE_MAX_ATTEMPTS": _whole(environ, "ATTENDEE_MAX_ATTEMPTS", 3, "attempts", minimum=1),
        "ATTENDEE_RETRY_BASE_SECONDS": _number(environ, "ATTENDEE_RETRY_BASE_SECONDS", 1.0, "seconds"),
        "BOT_NAME": environ.get("BOT_NAME") or "CallVault Notetaker",
        # Bots go to the service this long before join_at; one that shows no sign of joining this long
        # after join_at is marked missed; a bot that should have moved is polled when this stale.
        "BOT_LEAD_MINUTES": _whole(environ, "BOT_LEAD_MINUTES", 60, "minutes"),
        "BOT_GRACE_MINUTES": _whole(environ, "BOT_GRACE_MINUTES", 3, "minutes"),
        "BOT_POLL_AFTER_SECONDS": _whole(environ, "BOT_POLL_AFTER_SECONDS", 120, "seconds"),
        # A bot still joining, in its meeting or processing this long after the meeting's end is
        # polled one last time and, if still not finished, given up as fatal_error (a dashboard failure).
        "BOT_STUCK_AFTER_HOURS": _number(environ, "BOT_STUCK_AFTER_HOURS", 3, "hours"),
    }
