"""Fathom's webhooks: the OAuth app's endpoint, users' personal ones, and turning a delivery into a call.

Both endpoints carry the same meeting payload, signed per Standard Webhooks; they differ in the
secret (the app's FATHOM_OAUTH_WEBHOOK_SECRET, or the user's own `whsec_`) and in how the owner
is found (the recorder's host email, or the user the personal webhook belongs to).
"""
import re
import secrets
from functools import partial
from typing import Mapping

from flask import current_app
from standardwebhooks import Webhook
from standardwebhooks.webhooks import EmptyWebhookSecretError, WebhookVerificationError

from .. import accounts, jsonbody
from ..calls.store import ActionItemData, CallData, SegmentData, upsert_call
from ..crypto import SecretUnreadable
from ..extensions import db
from ..logs import log_event
from ..models import Call, FathomConnection, User, WebhookDelivery
from ..webhooks import intake
from ..webhooks.intake import ProcessingFailed, Rejected, Verdict
from . import credentials
from .client import FathomError, FathomNotFound
from .mapping import NotAMeeting, meeting_to_call_data, recording_id_of

SOURCE = "fathom"
OAUTH_APP_ENDPOINT = "/webhooks/fathom"
PERSONAL_ENDPOINT = "/webhooks/fathom/<key>"
SIGNATURE_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")
WEBHOOK_KEY_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")  # what secrets.token_urlsafe makes
PERSONAL_TRIGGERS = ("my_recordings",)
PERSONAL_WEBHOOK_PROOF = "a recording Fathom sent to the user's personal webhook"
CONTENT_KEYS = ("transcript", "default_summary", "action_items")  # a webhook set up without them sends null
PERSONAL_INCLUDES = {"include_transcript": True, "include_summary": True, "include_action_items": True}


class WebhookSetupError(Exception):
    """Registering or deleting a personal webhook failed; the message is safe to show."""


def receive_oauth_app(headers: Mapping[str, str], body: bytes) -> intake.Answer:
    return intake.receive(SOURCE, OAUTH_APP_ENDPOINT, headers, body, _judge_oauth_app)


def receive_personal(key: str, headers: Mapping[str, str], body: bytes) -> intake.Answer:
    return intake.receive(SOURCE, PERSONAL_ENDPOINT, headers, body, partial(_judge_personal, key))


def reject_oversized(endpoint: str, headers: Mapping[str, str], preview: bytes, size: int | None) -> intake.Answer:
    return intake.reject_oversized(SOURCE, endpoint, headers, preview, size)


def _judge_oauth_app(headers, body: bytes) -> Verdict:
    secret = current_app.config.get("FATHOM_OAUTH_WEBHOOK_SECRET")
    if not secret:
        raise Rejected(503, "not_configured", "FATHOM_OAUTH_WEBHOOK_SECRET is not set, so Fathom OAuth-app "
                                              "webhooks cannot be verified")
    return Verdict(webhook_id=_check(secret, headers, body, "FATHOM_OAUTH_WEBHOOK_SECRET"))


def _judge_personal(key: str, headers, body: bytes) -> Verdict:
    connection = (FathomConnection.query.filter_by(webhook_key=key).first()
                  if WEBHOOK_KEY_RE.fullmatch(key) else None)
    if connection is None or connection.webhook_secret_encrypted is None:
        raise Rejected(404, "not_found", f"no personal webhook has the key {key[:64]!r}")
    try:
        secret = connection.webhook_secret
    except SecretUnreadable as exc:
        raise Rejected(503, "secret_unreadable", str(exc)) from None
    webhook_id = _check(secret, headers, body, f"the personal webhook secret of user {connection.user_id}")
    return Verdict(webhook_id=webhook_id, user_id=connection.user_id)


def _check(secret: str, headers, body: bytes, secret_name: str) -> str:
    """Verify the signature over the raw body, check the body is a meeting; return the webhook id.

    Raises Rejected: 401 for anything wrong with the signature (including headers malformed
    enough to make the library raise ValueError), 400 for a verified body that is not a meeting,
    503 when the secret itself is unusable (our configuration, not the sender's fault).
    """
    try:
        webhook = Webhook(secret)
    except (ValueError, EmptyWebhookSecretError):
        raise Rejected(503, "misconfigured", f"{secret_name} is not a valid whsec_ secret") from None
    signed = {name: headers.get(name, "") for name in SIGNATURE_HEADERS}
    try:
        webhook.verify(body, signed, json_parse=False)
    except UnicodeDecodeError:
        raise Rejected(401, "invalid_signature", "the body is not UTF-8, so its signature cannot match",
                       signature_valid=False) from None
    except WebhookVerificationError as exc:
        raise Rejected(401, "invalid_signature", f"signature check failed: {exc}", signature_valid=False) from None
    except ValueError:  # binascii.Error is one: a signature that is not "v1,<base64>"
        raise Rejected(401, "invalid_signature", "malformed webhook-signature header",
                       signature_valid=False) from None
    try:
        meeting_from_body(body)
    except NotAMeeting as exc:
        raise Rejected(400, "not_a_meeting", str(exc), signature_valid=True) from None
    return signed["webhook-id"]


def meeting_from_body(body: bytes | str) -> dict:
    try:
        payload = jsonbody.loads(body)
    except jsonbody.JSONBodyError as exc:
        raise NotAMeeting(str(exc)) from None
    recording_id_of(payload)
    return payload


def process(delivery: WebhookDelivery) -> Call:
    """The delivery's meeting as a call of its owner (not committed: intake commits it with the row)."""
    try:
        meeting = meeting_from_body(delivery.body)
        if "\\u0000" in delivery.body:  # the only way a JSON string carries NUL
            meeting = _without_nul(meeting)
        data = meeting_to_call_data(meeting)
    except NotAMeeting as exc:
        raise ProcessingFailed(str(exc)) from None
    owner = _owner(delivery, meeting)
    if any(meeting.get(key) is None for key in CONTENT_KEYS):  # look up what the vault has only when needed
        existing = Call.query.filter_by(source=data.source, external_id=data.external_id).first()
        if existing is not None:
            _keep_content_not_sent(meeting, data, existing)
    return upsert_call(owner, data, commit=False).call


def _owner(delivery: WebhookDelivery, meeting: dict) -> User:
    recorded_by = meeting.get("recorded_by")
    email = recorded_by.get("email") if isinstance(recorded_by, dict) else None
    email = email.strip().lower() if isinstance(email, str) else ""
    if delivery.endpoint == PERSONAL_ENDPOINT:
        owner = db.session.get(User, delivery.user_id) if delivery.user_id else None
        if owner is None:
            raise ProcessingFailed("the user this personal webhook belonged to no longer exists")
        # The webhook was registered with the owner's own credential for their own recordings
        # (PERSONAL_TRIGGERS), signed with their own secret: its recorder is the owner's address.
        if email and accounts.normalize_email_or_none(email):
            accounts.prove_host_email(owner, email, PERSONAL_WEBHOOK_PROOF)
        return owner
    if not email:
        raise ProcessingFailed("the meeting has no recorded_by.email, so its owner is unknown")
    owner = accounts.user_for_host_email(email)
    if owner is None:  # nobody's, or only claimed: it waits, replayable, for an approval
        raise ProcessingFailed(accounts.waiting_for_host_email(email[:320]))
    return owner


def _keep_content_not_sent(meeting: dict, data: CallData, call: Call) -> None:
    """A webhook set up without transcript, summary or action items sends them as null: keep
    what the vault already has (from a manual sync) rather than wiping it."""
    if meeting.get("transcript") is None:
        data.segments = [SegmentData(speaker=s.speaker, text=s.text, start_ms=s.start_ms, end_ms=s.end_ms,
                                     speaker_email=s.speaker_email) for s in call.segments]
    if meeting.get("default_summary") is None:
        data.summary_markdown = call.summary_markdown
    if meeting.get("action_items") is None:
        data.action_items = [ActionItemData(description=a.description, assignee_name=a.assignee_name,
                                            assignee_email=a.assignee_email, completed=a.completed,
                                            timestamp_ms=a.timestamp_ms) for a in call.action_items]


def _without_nul(value):
    """PostgreSQL text cannot hold NUL, which JSON can carry as \\u0000."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {_without_nul(k): _without_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_nul(v) for v in value]
    return value


# --- a user's personal webhook -------------------------------------------------------------------

def register_personal_webhook(user: User) -> FathomConnection:
    """Ask Fathom to POST the user's recordings to a URL of their own, signed with their own secret.

    Fathom answers with the webhook's id and `whsec_` secret; both are kept (the secret
    encrypted), as Fathom has no endpoint to list webhooks later.
    """
    connection = credentials.get_connection(user)
    if connection is None or not (connection.has_oauth or connection.has_api_key):
        raise WebhookSetupError("connect Fathom first (an API key or OAuth), then register the webhook")
    if connection.webhook_id:
        raise WebhookSetupError("a personal webhook is already registered; delete it first")
    key = secrets.token_urlsafe(24)
    try:
        with credentials.client_for(connection) as client:
            created = client.create_webhook(personal_webhook_url(key), PERSONAL_TRIGGERS, **PERSONAL_INCLUDES)
    except FathomError as exc:
        raise WebhookSetupError(f"Fathom did not register the webhook: {exc}") from None
    webhook_id, secret = created.get("id"), created.get("secret")
    if webhook_id in (None, "") or not isinstance(secret, str) or not secret.startswith("whsec_"):
        raise WebhookSetupError("Fathom's answer had no webhook id and whsec_ secret")
    connection.webhook_id, connection.webhook_key, connection.webhook_secret = str(webhook_id), key, secret
    db.session.commit()
    log_event("fathom_personal_webhook_registered", user_id=user.id)
    return connection


def oauth_app_webhook_url() -> str:
    """Where the operator registers the OAuth app's webhook at Fathom."""
    return f"{current_app.config['PUBLIC_BASE_URL']}{OAUTH_APP_ENDPOINT}"


def personal_webhook_url(key: str) -> str:
    return f"{current_app.config['PUBLIC_BASE_URL']}{OAUTH_APP_ENDPOINT}/{key}"


def delete_personal_webhook(user: User) -> None:
    """Delete the webhook at Fathom (gone already is fine), then forget its id, key and secret."""
    connection = credentials.get_connection(user)
    if connection is None or not connection.webhook_id:
        raise WebhookSetupError("no personal webhook is registered")
    try:
        with credentials.client_for(connection) as client:
            client.delete_webhook(connection.webhook_id)
    except FathomNotFound:
        pass
    except FathomError as exc:
        raise WebhookSetupError(f"Fathom did not delete the webhook: {exc}") from None
    connection.webhook_id = connection.webhook_key = connection.webhook_secret = None
    db.session.commit()
    log_event("fathom_personal_webhook_deleted", user_id=user.id)
