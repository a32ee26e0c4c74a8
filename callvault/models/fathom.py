"""A user's connection to Fathom: OAuth tokens and/or an API key, and a personal webhook."""
from ..crypto import EncryptedField
from ..extensions import db
from .types import UTCDateTime, utcnow


class FathomConnection(db.Model):
    __tablename__ = "fathom_connections"

    id = db.Column(db.Integer, primary_key=True)
    user_id = db.Column(db.Integer, db.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, unique=True)
    api_key_encrypted = db.Column(db.Text)
    access_token_encrypted = db.Column(db.Text)
    refresh_token_encrypted = db.Column(db.Text)
    token_expires_at = db.Column(UTCDateTime)
    account_email = db.Column(db.String(320))
    status = db.Column(db.String(24), nullable=False, default="ok")  # ok | needs_attention
    last_error = db.Column(db.Text)
    last_checked_at = db.Column(UTCDateTime)
    # Personal webhook registered at Fathom (there is no list endpoint: keep the id).
    webhook_id = db.Column(db.String(128))
    webhook_key = db.Column(db.String(64), unique=True)  # the secret-free path part of our URL
    webhook_secret_encrypted = db.Column(db.Text)
    created_at = db.Column(UTCDateTime, nullable=False, default=utcnow)
    updated_at = db.Column(UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow)

    user = db.relationship("User", backref=db.backref("fathom_connection", uselist=False,
                                                      cascade="all, delete-orphan"))

    api_key = EncryptedField()
    access_token = EncryptedField()
    refresh_token = EncryptedField()
    webhook_secret = EncryptedField()

    @property
    def has_oauth(self) -> bool:
        return self.access_token_encrypted is not None or self.refresh_token_encrypted is not None

    @property
    def has_api_key(self) -> bool:
        return self.api_key_encrypted is not None
