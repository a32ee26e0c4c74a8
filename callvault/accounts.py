"""Accounts: creating users, signing in (with throttling), host emails and API tokens."""
import math
import re
import secrets
import time
from datetime import timedelta

import redis
from flask import current_app
from sqlalchemy import delete, select, update

from . import signals
from .extensions import db
from .logs import log_event
from .models import ROLES, ApiToken, FathomConnection, HostEmail, User, UserSession, WebhookDelivery, utcnow
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


def normalize_email_or_none(email: str) -> str | None:
    try:
        return normalize_email(email)
    except AccountError:
        return None


def create_user(email: str, password: str, role: str = "member", name: str | None = None) -> User:
    email = normalize_email(email)
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"the password must be at least {MIN_PASSWORD_LENGTH} characters")
    if User.query.filter_by(email=email).first():
        raise AccountError(f"a user with email {email} already exists")
    claimed = HostEmail.query.filter_by(email=email).first()
    if claimed is not None and claimed.is_approved:
        raise AccountError(f"{email} is already another user's host email")
    if claimed is not None:  # someone's unproven claim on this address gives way to its owner
        db.session.delete(claimed)
        db.session.flush()
    user = User(email=email, role=role, name=name)
    user.set_password(password)
    user.host_emails.append(HostEmail(email=email, status="approved", proof="account email"))
    db.session.add(user)
    db.session.commit()
    log_event("user_created", user_id=user.id, role=role)
    return user


def create_user_with_one_time_password(email: str, role: str = "member", name: str | None = None
                                       ) -> tuple[User, str]:
    """An account with a random password, returned once for the admin to hand over."""
    password = secrets.token_urlsafe(12)
    return create_user(email, password, role=role, name=name), password


def set_role(user: User, role: str, acting: User) -> None:
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}")
    if user.id == acting.id and role != "admin":
        raise AccountError("you cannot remove your own admin rights; ask another admin")
    user.role = role
    db.session.commit()
    log_event("user_role_changed", user_id=user.id, role=role, by=acting.id)


def set_active(user: User, active: bool, acting: User) -> None:
    """Deactivate or reactivate an account. A deactivated user cannot sign in, and their session
    and API tokens stop working at the next request (both check is_active)."""
    if user.id == acting.id and not active:
        raise AccountError("you cannot deactivate your own account")
    user.is_active = active
    db.session.commit()
    log_event("user_activated" if active else "user_deactivated", user_id=user.id, by=acting.id)


def find_user(email: str) -> User:
    user = User.query.filter_by(email=normalize_email(email)).first()
    if user is None:
        raise AccountError(f"no user with email {email.strip().lower()}")
    return user


# --- host emails ---------------------------------------------------------------------------------
# An address routes a Fathom recording to its user only once approved. A member adding an address
# in Settings makes a pending claim; it is approved by proof (the account's own address, or the
# Fathom account the member connected with their own credential) or by an admin.

FATHOM_PROOF = "the user's own Fathom connection"


def has_host_email(user: User, email: str) -> bool:
    try:
        email = normalize_email(email)
    except AccountError:
        return False
    return HostEmail.query.filter_by(user_id=user.id, email=email).first() is not None


def add_host_email(user: User, email: str, approval: str | None = None) -> HostEmail:
    """Add an address to the user: approved if an admin or operator adds it (`approval` says who,
    e.g. "approved by admin@example.com"), or if the user's own Fathom connection proves it;
    otherwise a pending claim an admin has to approve."""
    email = normalize_email(email)
    existing = HostEmail.query.filter_by(email=email).first()
    if existing and existing.user_id != user.id:
        raise AccountError(f"{email} is already a host email of another user")
    if existing and existing.is_approved and approval is not None:
        return existing
    if existing and (existing.is_approved or approval is None):
        raise AccountError(f"{email} is already one of your host emails"
                           + ("" if existing.is_approved else ", waiting for an admin's approval"))
    host_email = existing or HostEmail(user=user, email=email)
    db.session.add(host_email)
    if approval is not None:
        _approve(host_email, approval)
    elif _proven_by_fathom(user, email):
        _approve(host_email, FATHOM_PROOF)
    db.session.commit()
    log_event("host_email_added", user_id=user.id, status=host_email.status)
    return host_email


def _proven_by_fathom(user: User, email: str) -> bool:
    account_email = db.session.scalar(select(FathomConnection.account_email)
                                      .where(FathomConnection.user_id == user.id))
    return bool(account_email) and account_email.lower() == email


def prove_host_email(user: User, email: str | None, proof: str = FATHOM_PROOF) -> HostEmail | None:
    """The user's own Fathom credential shows `email` is theirs: approve their pending claim on it,
    or add it approved if nobody holds it. Another user's approved address is left alone.
    Does not commit (the caller's transaction carries it)."""
    if not email:
        return None
    email = email.strip().lower()
    host_email = HostEmail.query.filter_by(email=email).first()
    if host_email is None:
        host_email = HostEmail(user_id=user.id, email=email)
        db.session.add(host_email)
    elif host_email.user_id != user.id:
        if host_email.is_approved:
            return None
        host_email.user_id = user.id  # another member's unproven claim gives way to proof
    if not host_email.is_approved:
        _approve(host_email, proof)
        log_event("host_email_proven", user_id=user.id)
    return host_email


def approve_host_email(host_email: HostEmail, admin: User) -> int:
    """An admin approves a pending claim; deliveries that waited on it are processed again.
    Returns how many were queued again."""
    if host_email.is_approved:
        raise AccountError(f"{host_email.email} is already approved")
    waiting = _approve(host_email, f"approved by {admin.email}")
    db.session.commit()
    log_event("host_email_approved", host_email_id=host_email.id, by=admin.id, requeued=waiting)
    return waiting


def reject_host_email(host_email: HostEmail, admin: User) -> str:
    if host_email.is_approved and host_email.email == host_email.user.email:
        raise AccountError("the account's own address cannot be rejected")
    email = host_email.email
    db.session.delete(host_email)
    db.session.commit()
    log_event("host_email_rejected", user_id=host_email.user_id, by=admin.id)
    return email


def _approve(host_email: HostEmail, proof: str) -> int:
    """Approve the address and put the deliveries that failed waiting on it back to pending; each
    is queued after the commit. Returns how many."""
    host_email.status, host_email.proof = "approved", proof[:200]
    waiting = list(db.session.scalars(select(WebhookDelivery.id).where(
        WebhookDelivery.status == "failed", WebhookDelivery.signature_valid.is_(True),
        WebhookDelivery.error_message == waiting_for_host_email(host_email.email))))
    if waiting:
        db.session.execute(update(WebhookDelivery).where(WebhookDelivery.id.in_(waiting))
                           .values(status="pending", error_message=None)
                           .execution_options(synchronize_session=False))
        for delivery_id in waiting:
            signals.send_after_commit(signals.delivery_accepted, delivery_id=delivery_id)
    return len(waiting)


def waiting_for_host_email(email: str) -> str:
    """The failure message of a delivery whose recorder's address no approved host email holds; an
    approval of that address finds the deliveries by it."""
    return (f"no user has host email {email} approved; once an admin approves it on the accounts page, "
            "the delivery is processed again")


MAX_ID = 2**31 - 1  # an INTEGER column: a larger id is no row, and PostgreSQL refuses to compare it


def host_email_by_id(host_email_id: int) -> HostEmail:
    host_email = db.session.get(HostEmail, host_email_id) if 0 < host_email_id <= MAX_ID else None
    if host_email is None:
        raise AccountError("no such host email")
    return host_email


def user_by_id(user_id: int) -> User:
    user = db.session.get(User, user_id) if 0 < user_id <= MAX_ID else None
    if user is None:
        raise AccountError("no such account")
    return user


def all_users() -> list[User]:
    return list(db.session.scalars(select(User).order_by(User.email)))


def pending_host_emails() -> list[HostEmail]:
    return list(db.session.scalars(select(HostEmail).where(HostEmail.status == "pending")
                                   .order_by(HostEmail.created_at, HostEmail.id)))


def remove_host_email(user: User, email: str) -> None:
    email = normalize_email(email)
    host_email = HostEmail.query.filter_by(user_id=user.id, email=email).first()
    if host_email is None:
        raise AccountError(f"{email} is not a host email of {user.email}")
    db.session.delete(host_email)
    db.session.commit()


def user_for_host_email(email: str | None) -> User | None:
    """The user an approved host email routes recordings to; a pending claim routes nothing."""
    if not email:
        return None
    return db.session.scalars(select(User).join(HostEmail, HostEmail.user_id == User.id).where(
        HostEmail.email == email.strip().lower(), HostEmail.status == "approved")).first()


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
