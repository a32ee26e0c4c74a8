"""Accounts: creating users, signing in (with throttling), host emails and API tokens."""
import re

import redis
from flask import current_app

from .extensions import db
from .logs import log_event
from .models import ROLES, ApiToken, HostEmail, User, utcnow
from .queues import get_redis

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD_LENGTH = 10


class AccountError(ValueError):
    """A request about an account that cannot be honoured; the message is safe to show."""


def normalize_email(email: str) -> str:
    email = (email or "").strip().lower()
    if not EMAIL_RE.match(email) or len(email) > 320:
        raise AccountError(f"'{email}' is not an email address")
    return email


def create_user(email: str, password: str, role: str = "member", name: str | None = None) -> User:
    email = normalize_email(email)
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"the password must be at least {MIN_PASSWORD_LENGTH} characters")
    if User.query.filter_by(email=email).first():
        raise AccountError(f"a user with email {email} already exists")
    if HostEmail.query.filter_by(email=email).first():
        raise AccountError(f"{email} is already another user's host email")
    user = User(email=email, role=role, name=name)
    user.set_password(password)
    user.host_emails.append(HostEmail(email=email))
    db.session.add(user)
    db.session.commit()
    return user


def find_user(email: str) -> User:
    user = User.query.filter_by(email=normalize_email(email)).first()
    if user is None:
        raise AccountError(f"no user with email {email.strip().lower()}")
    return user


def has_host_email(user: User, email: str) -> bool:
    try:
        email = normalize_email(email)
    except AccountError:
        return False
    return HostEmail.query.filter_by(user_id=user.id, email=email).first() is not None


def add_host_email(user: User, email: str) -> HostEmail:
    email = normalize_email(email)
    existing = HostEmail.query.filter_by(email=email).first()
    if existing:
        if existing.user_id == user.id:
            return existing
        raise AccountError(f"{email} is already a host email of another user")
    host_email = HostEmail(user=user, email=email)
    db.session.add(host_email)
    db.session.commit()
    return host_email


def remove_host_email(user: User, email: str) -> None:
    email = normalize_email(email)
    host_email = HostEmail.query.filter_by(user_id=user.id, email=email).first()
    if host_email is None:
        raise AccountError(f"{email} is not a host email of {user.email}")
    db.session.delete(host_email)
    db.session.commit()


def user_for_host_email(email: str | None) -> User | None:
    if not email:
        return None
    host_email = HostEmail.query.filter_by(email=email.strip().lower()).first()
    return host_email.user if host_email else None


def issue_api_token(user: User, name: str = "token") -> str:
    record, token = ApiToken.issue(user, name=(name or "token")[:100])
    db.session.add(record)
    db.session.commit()
    return token


def revoke_api_token(user: User, token_id: int) -> None:
    record = ApiToken.query.filter_by(id=token_id, user_id=user.id).first()
    if record is None:
        raise AccountError("no such token")
    db.session.delete(record)
    db.session.commit()


def user_for_api_token(token: str) -> User | None:
    if not token or not token.startswith(ApiToken.PREFIX):
        return None
    record = ApiToken.query.filter_by(token_hash=ApiToken.hash(token)).first()
    if record is None or not record.user.is_active:
        return None
    record.last_used_at = utcnow()
    db.session.commit()
    return record.user


# --- sign-in -------------------------------------------------------------------------------------

class LoginThrottled(AccountError):
    pass


def _failure_keys(email: str, ip: str) -> list[str]:
    return [f"callvault:login-failures:email:{email}", f"callvault:login-failures:ip:{ip}"]


def authenticate(email: str, password: str, ip: str) -> User | None:
    """The user if the credentials are right. Raises LoginThrottled after too many failures.

    Failures are counted per email and per address in Redis; if Redis is unreachable the
    throttle is skipped (and logged) rather than locking everyone out.
    """
    email = (email or "").strip().lower()
    config = current_app.config
    keys = _failure_keys(email, ip)
    try:
        counts = [int(v or 0) for v in get_redis().mget(keys)]
    except redis.RedisError:
        log_event("login_throttle_unavailable")
        counts = [0, 0]
    if counts[0] >= config["LOGIN_MAX_FAILURES"] or counts[1] >= config["LOGIN_MAX_FAILURES"] * 4:
        raise LoginThrottled("too many failed sign-in attempts; try again in a few minutes")

    user = User.query.filter_by(email=email).first()
    if user is not None and user.is_active and user.check_password(password or ""):
        user.last_login_at = utcnow()
        db.session.commit()
        try:
            get_redis().delete(keys[0])
        except redis.RedisError:
            pass
        return user
    try:
        with get_redis().pipeline() as pipe:
            for key in keys:
                pipe.incr(key)
                pipe.expire(key, config["LOGIN_LOCKOUT_SECONDS"])
            pipe.execute()
    except redis.RedisError:
        log_event("login_throttle_unavailable")
    log_event("login_failed", email_domain=email.rpartition("@")[2])
    return None
