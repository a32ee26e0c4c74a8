"""People: accounts, the addresses their recordings come from, and personal API tokens."""
import hashlib
import secrets

from werkzeug.security import check_password_hash, generate_password_hash

from ..extensions import db
from .types import UTCDateTime, utcnow

ROLES = ("admin", "member")
# The hash of a password nobody knows, in werkzeug's default method and cost (a test keeps them equal):
# signing in as an unknown or inactive account verifies against it, so it costs what a wrong password
# for a real account costs and the time taken does not tell which emails have an account.
DUMMY_PASSWORD_HASH = ("scrypt:32768:8:1$qUB4FVnXOkAtNcwA$70ee26a431d535f14bdbeaf72b7b891014011fce4e900cf3d8cef"
                       "816f1d28cec262be7a3132305048a54549f04e58bf70c6b0152fb44244dd3dbe0c9969fff9d")


def verify_dummy_password(password: str) -> bool:
    """The same work as checking a real password; always False."""
    check_password_hash(DUMMY_PASSWORD_HASH, password)
    return False


class User(db.Model):
    __tablename__ = "users"

    id = db.Column(db.Integer, primary_key=True)
    email = db.Column(db.String(320), nullable=False, unique=True)
    name = db.Column(db.String(200))
    password_hash = db.Column(db.String(256))
    role = db.Column(db.String(16), nullable=False, default="member")
    is_active = db.Column(db.Boolean, nullable=False, default=True)
    created_at = db.Column(UTCDateTime, nullable=False, default=utcnow)
    last_login_at = db.Column(UTCDateTime)

    host_emails = db.relationship("HostEmail", back_populates="user", cascade="all, delete-orphan",
                                  order_by="HostEmail.email")
    api_tokens = db.relationship("ApiToken", back_populates="user", cascade="all, delete-orphan")
    sessions = db.relationship("UserSession", back_populates="user", cascade="all, delete-orphan",
                               passive_deletes=True)

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def display_name(self) -> str:
        return self.name or self.email

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        if not self.password_hash:
            return verify_dummy_password(password)
        return check_password_hash(self.password_hash, password)

    def __repr__(self):
        return f"<User {self.id} {self.email}>"


HOST_EMAIL_STATES = ("pending", "approved")


class HostEmail(db.Model):
    """An address a user's recordings are made from (Fathom's `recorded_by.email`).

    Only an approved address routes recordings to the user: the account's own address, one proven
    by the user's own Fathom connection, or one an admin approved. An address a member merely typed
    in is a pending claim that routes nothing (see accounts.add_host_email).
    """

    __tablename__ = "host_emails"

    id = db.Column(db.Integer, primary_key=True)
    user_id = db.Column(db.Integer, db.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    email = db.Column(db.String(320), nullable=False, unique=True)  # stored lower-case
    status = db.Column(db.String(16), nullable=False, default="pending", server_default="pending", index=True)
    proof = db.Column(db.String(200))  # how it was proven or who approved it, shown to admins
    created_at = db.Column(UTCDateTime, default=utcnow)

    @property
    def is_approved(self) -> bool:
        return self.status == "approved"

    user = db.relationship("User", back_populates="host_emails")


class ApiToken(db.Model):
    """A personal API token. Only its SHA-256 is stored: tokens are 256-bit random, so a slow hash adds nothing."""

    __tablename__ = "api_tokens"
    PREFIX = "cv_"

    id = db.Column(db.Integer, primary_key=True)
    user_id = db.Column(db.Integer, db.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    name = db.Column(db.String(100), nullable=False, default="token")
    token_hash = db.Column(db.String(64), nullable=False, unique=True)
    display_prefix = db.Column(db.String(16), nullable=False)
    created_at = db.Column(UTCDateTime, nullable=False, default=utcnow)
    last_used_at = db.Column(UTCDateTime)

    user = db.relationship("User", back_populates="api_tokens")

    @staticmethod
    def hash(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    @classmethod
    def issue(cls, user: User, name: str = "token") -> tuple["ApiToken", str]:
        token = cls.PREFIX + secrets.token_urlsafe(32)
        record = cls(user=user, name=name, token_hash=cls.hash(token), display_prefix=token[:10])
        return record, token


class UserSession(db.Model):
    """A signed-in browser. The session cookie names its row; a cookie whose row is gone (signed out,
    signed out everywhere, password changed) signs nobody in, even if it was copied before."""

    __tablename__ = "user_sessions"

    id = db.Column(db.String(64), primary_key=True)  # secrets.token_urlsafe(32), only ever in the signed cookie
    user_id = db.Column(db.Integer, db.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    created_at = db.Column(UTCDateTime, nullable=False, default=utcnow)

    user = db.relationship("User", back_populates="sessions")

    @classmethod
    def start(cls, user: User) -> "UserSession":
        return cls(id=secrets.token_urlsafe(32), user=user)
