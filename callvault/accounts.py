"""Accounts: creating users, signing in (with throttling), host emails and API tokens."""
import math
import re
import time
from datetime import timedelta

import redis
from flask import current_app
from sqlalchemy import delete

from .extensions import db
from .logs import log_event
from .models import ROLES, ApiToken, HostEmail, User, UserSession, utcnow
from .models.users import verify_dummy_password
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
    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


# A pair's failures are forgotten a day after the last one; an address's after the longest delay.
PAIR_MEMORY_SECONDS = 24 * 3600


def _pair_key(email: str, ip: str) -> str:
    return f"callvault:login-throttle:{ip}:{email}"


def _address_key(ip: str) -> str:
    return f"callvault:login-failures:ip:{ip}"


def login_delay(failures: int, config) -> float:
    """How long after its last failure an (account, address) pair must wait: nothing for the first
    LOGIN_MAX_FAILURES failures, then LOGIN_DELAY_SECONDS doubling per failure, at most LOGIN_MAX_DELAY_SECONDS."""
    extra = failures - config["LOGIN_MAX_FAILURES"]
    if extra < 0:
        return 0.0
    return min(float(config["LOGIN_MAX_DELAY_SECONDS"]), config["LOGIN_DELAY_SECONDS"] * 2 ** min(extra, 32))


def _wait_words(seconds: float) -> str:
    seconds = max(1, math.ceil(seconds))
    if seconds < 90:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    return f"{math.ceil(seconds / 60)} minutes"


def _throttle_wait(email: str, ip: str, now: float) -> float:
    """Seconds this pair (or, after very many failures across accounts, this address) must still wait."""
    config = current_app.config
    try:
        with get_redis().pipeline() as pipe:
            pipe.hmget(_pair_key(email, ip), "failures", "last")
            pipe.get(_address_key(ip))
            pipe.ttl(_address_key(ip))
            (failures, last), address_failures, address_ttl = pipe.execute()
    except redis.RedisError:
        log_event("login_throttle_unavailable")
        return 0.0
    wait = float(last or 0) + login_delay(int(failures or 0), config) - now if failures else 0.0
    # One address trying many accounts (password spraying) waits as a whole until its failures expire.
    if int(address_failures or 0) >= config["LOGIN_MAX_FAILURES"] * 4:
        wait = max(wait, float(address_ttl if address_ttl and address_ttl > 0 else config["LOGIN_DELAY_SECONDS"]))
    return wait


def _record_failure(email: str, ip: str, now: float) -> None:
    config = current_app.config
    try:
        with get_redis().pipeline() as pipe:
            pipe.hincrby(_pair_key(email, ip), "failures", 1)
            pipe.hset(_pair_key(email, ip), "last", repr(now))
            pipe.expire(_pair_key(email, ip), PAIR_MEMORY_SECONDS)
            pipe.incr(_address_key(ip))
            pipe.expire(_address_key(ip), math.ceil(config["LOGIN_MAX_DELAY_SECONDS"]))
            pipe.execute()
    except redis.RedisError:
        log_event("login_throttle_unavailable")


def authenticate(email: str, password: str, ip: str, now: float | None = None) -> User | None:
    """The user if the credentials are right. Raises LoginThrottled while this address must wait.

    Failures are counted per (account, client address) with growing delays, so a stranger guessing
    from elsewhere never keeps the owner out: the right password from another address always works.
    An unknown or inactive account costs the same password-hash work as a wrong password, so the
    answer's timing does not tell which emails have accounts. If Redis is unreachable the throttle
    is skipped (and logged) rather than locking everyone out.
    """
    email = (email or "").strip().lower()
    now = time.time() if now is None else now
    wait = _throttle_wait(email, ip, now)
    if wait > 0:
        raise LoginThrottled(f"too many failed sign-in attempts; try again in {_wait_words(wait)}",
                             retry_after=math.ceil(wait))

    user = User.query.filter_by(email=email).first()
    if user is None or not user.is_active:
        verify_dummy_password(password or "")
    elif user.check_password(password or ""):
        user.last_login_at = utcnow()
        db.session.commit()
        try:
            get_redis().delete(_pair_key(email, ip))
        except redis.RedisError:
            pass
        return user
    _record_failure(email, ip, now)
    log_event("login_failed", email_domain=email.rpartition("@")[2])
    return None


# --- sessions ------------------------------------------------------------------------------------

def start_session(user: User) -> str:
    """A new signed-in session for `user` (its id goes in the session cookie); the user's sessions older
    than the sign-in lifetime are dropped on the way."""
    cutoff = utcnow() - timedelta(seconds=current_app.config["SESSION_LIFETIME_SECONDS"])
    db.session.execute(delete(UserSession).where(UserSession.user_id == user.id, UserSession.created_at < cutoff))
    row = UserSession.start(user)
    db.session.add(row)
    db.session.commit()
    return row.id


def session_user(session_id: str | None, user_id: int | None) -> User | None:
    """The active user a session cookie stands for, or None once that session was ended."""
    if not isinstance(session_id, str) or not isinstance(user_id, int):
        return None
    row = db.session.get(UserSession, session_id)
    if row is None or row.user_id != user_id or not row.user.is_active:
        return None
    return row.user


def end_session(session_id: str | None) -> None:
    if isinstance(session_id, str):
        db.session.execute(delete(UserSession).where(UserSession.id == session_id))
        db.session.commit()


def end_other_sessions(user: User, keep: str | None = None) -> int:
    """End every session of `user` except `keep` (None: all of them). Returns how many ended."""
    query = delete(UserSession).where(UserSession.user_id == user.id)
    if keep is not None:
        query = query.where(UserSession.id != keep)
    ended = db.session.execute(query).rowcount
    db.session.commit()
    return ended


def change_password(user: User, current: str, new: str, keep_session: str | None) -> None:
    """Set a new password after checking the current one; every other session of the user ends."""
    if not user.check_password(current or ""):
        raise AccountError("the current password is not right")
    if len(new or "") < MIN_PASSWORD_LENGTH:
        raise AccountError(f"the new password must be at least {MIN_PASSWORD_LENGTH} characters")
    user.set_password(new)
    end_other_sessions(user, keep=keep_session)
