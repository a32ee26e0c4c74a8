"""Signed transcript links: who may open which meeting's transcript without an account.

The token keeps the format of links already sent: `base64url(payload).base64url(signature)`, where
payload is the JSON text `{"meetingId": "...", "email": "...", "exp": <milliseconds since epoch>}` and
the signature is HMAC-SHA256 of that JSON text (not of its base64) with TRANSCRIPT_TOKEN_SECRET.
Base64 is URL-safe and unpadded; padded tokens are accepted too.
"""
import base64
import binascii
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from datetime import datetime, timezone

from flask import current_app
from sqlalchemy import select

from ..extensions import db
from ..ids import parse_id
from ..models import Call

MISSING_SECRET = "Transcript links need TRANSCRIPT_TOKEN_SECRET (or WEBHOOK_SECRET) to be set."

# kind -> (short title, explanation). Neither ever names the meeting.
PROBLEMS = {
    "expired": ("Link expired", "This link has expired. Ask the person who shared it for a new one."),
    "tampered": ("Link altered", "This link has been changed since it was made, so it cannot be trusted."),
    "wrong_meeting": ("Wrong meeting", "This link was made for a different meeting."),
    "not_participant": ("Not a participant", "This link was made for someone who was not in this meeting."),
    "malformed": ("Broken link", "This link is incomplete or damaged. Copy the whole address from your "
                                 "message and try again."),
    "missing": ("Link needed", "This transcript opens from the personal link you were sent, or after "
                               "signing in."),
}


class LinkError(Exception):
    """Why a token does not open a meeting; `kind` is one of PROBLEMS."""

    def __init__(self, kind: str):
        super().__init__(kind)
        self.kind = kind
        self.title, self.message = PROBLEMS[kind]


class LinkConfigError(RuntimeError):
    """No secret is configured, so links can be neither made nor checked."""

    def __init__(self):
        super().__init__(MISSING_SECRET)


@dataclass(frozen=True)
class LinkClaims:
    meeting_id: str
    email: str
    expires_at: datetime


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(secret: str | None, payload: bytes) -> bytes:
    if not secret:
        raise LinkConfigError()
    return hmac.new(secret.encode(), payload, hashlib.sha256).digest()


def _now_ms(now: datetime | None) -> int:
    return int((now.timestamp() if now else time.time()) * 1000)


def create_token(secret: str | None, meeting_id, email: str, days: int = 30, now: datetime | None = None) -> str:
    exp = _now_ms(now) + days * 24 * 3600 * 1000
    payload = json.dumps({"meetingId": str(meeting_id), "email": email.strip().lower(), "exp": exp}).encode()
    return f"{_b64encode(payload)}.{_b64encode(_sign(secret, payload))}"


def read_token(secret: str | None, token: str | None, now: datetime | None = None) -> LinkClaims:
    """The token's claims if it is well formed, signed with `secret` and unexpired; else LinkError."""
    if not secret:
        raise LinkConfigError()
    parts = (token or "").strip().split(".")
    if len(parts) != 2 or not all(parts):
        raise LinkError("malformed")
    try:
        payload, signature = _b64decode(parts[0]), _b64decode(parts[1])
    except (binascii.Error, ValueError):
        raise LinkError("malformed") from None
    if len(signature) != hashlib.sha256().digest_size:
        raise LinkError("malformed")
    if not hmac.compare_digest(_sign(secret, payload), signature):
        raise LinkError("tampered")
    try:
        data = json.loads(payload)
        meeting_id, email, exp = data["meetingId"], data["email"], data["exp"]
    except (ValueError, TypeError, KeyError, RecursionError):
        raise LinkError("malformed") from None
    if (not isinstance(meeting_id, (str, int)) or not isinstance(email, str)
            or not isinstance(exp, (int, float)) or isinstance(exp, bool)):
        raise LinkError("malformed")
    try:  # an `exp` of 1e300, NaN or Infinity is no moment at all
        expires_at = datetime.fromtimestamp(exp / 1000, tz=timezone.utc)
    except (OverflowError, ValueError, OSError):
        raise LinkError("malformed") from None
    if exp < _now_ms(now):
        raise LinkError("expired")
    return LinkClaims(str(meeting_id), email.strip().lower(), expires_at)


def open_with_token(secret: str | None, token: str | None, meeting_id: str,
                    now: datetime | None = None) -> Call | None:
    """The meeting `token` opens at /transcripts/<meeting_id>/, or None if it no longer exists.

    Raises LinkError saying why not. The checks run in an order that reveals nothing about a
    meeting to someone without a genuine, current link for it.
    """
    claims = read_token(secret, token, now)
    if claims.meeting_id != str(meeting_id):
        raise LinkError("wrong_meeting")
    call = find_meeting(claims.meeting_id)
    if call is not None and claims.email not in meeting_audience(call):
        raise LinkError("not_participant")
    return call


def meeting_audience(call: Call) -> set[str]:
    """Lower-case emails a link may be made out to: the owner (and their host addresses), whoever
    recorded it, the organizer and every attendee."""
    emails = {call.owner.email, call.recorded_by_email, *(h.email for h in call.owner.host_emails if h.is_approved),
              *(p.email for p in call.participants)}
    return {e.strip().lower() for e in emails if e}


def find_meeting(meeting_id: str) -> Call | None:
    """A call by its id; links from before the vault may carry the source's id instead."""
    call_id = parse_id(meeting_id)
    if call_id is not None:
        call = db.session.get(Call, call_id)
        if call is not None:
            return call
    if len(meeting_id) > Call.external_id.type.length or "\x00" in meeting_id:  # no source id is like that
        return None
    return db.session.scalars(select(Call).where(Call.external_id == meeting_id).order_by(Call.id)).first()


def make_link(call: Call, email: str, days: int | None = None) -> str:
    """The viewer URL for `email`, who must be in the meeting (LinkError otherwise)."""
    email = (email or "").strip().lower()
    if email not in meeting_audience(call):
        raise LinkError("not_participant")
    config = current_app.config
    token = create_token(config["TRANSCRIPT_TOKEN_SECRET"], call.id, email,
                         days=days or config["TRANSCRIPT_LINK_DAYS"])
    return f"{config['PUBLIC_BASE_URL']}/dashboard/transcripts/{call.id}/?token={token}"


def share_links(call: Call) -> dict:
    """The call page's share links: {"error": message, "links": []} when links cannot be made, else
    {"error": None, "links": [(participant, url), …]}, one per participant email."""
    if not current_app.config["TRANSCRIPT_TOKEN_SECRET"]:
        return {"error": MISSING_SECRET, "links": []}
    seen, made = set(), []
    for participant in call.participants:
        email = (participant.email or "").strip().lower()
        if email and email not in seen:
            seen.add(email)
            made.append((participant, make_link(call, email)))
    return {"error": None, "links": made}
