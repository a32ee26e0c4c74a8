"""People: accounts, the addresses their recordings come from, and personal API tokens."""
import hashlib
import secrets

from werkzeug.security import check_password_hash, generate_password_hash

from ..extensions import db
from .types import UTCDateTime, utcnow

ROLES = ("admin", "member")


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

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def display_name(self) -> str:
        return self.name or self.email

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return bool(self.password_hash) and check_password_hash(self.password_hash, password)

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
