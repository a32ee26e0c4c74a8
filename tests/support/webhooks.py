"""Helpers for the webhook tests: secrets, a realistic meeting, Standard-Webhooks signing.

The `personal_key` fixture (a user's personal webhook) is in tests/fixtures/webhooks.py.
"""
import base64
import json
import uuid
from datetime import datetime, timezone

from flask.testing import FlaskClient
from standardwebhooks import Webhook

from callvault import signals
from callvault.webhooks import intake

SECRET = "whsec_" + base64.b64encode(b"oauth-app-secret-for-the-tests!!").decode()
OLD_SECRET = "whsec_" + base64.b64encode(b"the-secret-before-the-rotation!!").decode()
PERSONAL_SECRET = "whsec_" + base64.b64encode(b"a-users-own-personal-secret-1234").decode()
URL = "/webhooks/fathom"


def meeting(recording_id=104819048, email="member@example.com", **fields) -> dict:
    return {
        "recording_id": recording_id, "title": "Team Sync Meeting", "created_at": "2026-11-20T15:23:19Z",
        "recording_start_time": "2026-11-20T15:00:00Z", "recording_end_time": "2026-11-20T15:20:00Z",
        "url": f"https://fathom.video/calls/{recording_id}", "share_url": "https://fathom.video/share/abc",
        "recorded_by": {"name": "Max Member", "email": email},
        "calendar_invitees": [{"name": "Max Member", "email": email, "is_external": False}],
        "transcript": [{"speaker": {"display_name": "Max Member"}, "text": "Hello everyone",
                        "timestamp": "00:00:10"}],
        "default_summary": {"markdown_formatted": "## Summary\nWe synced."},
        **fields,
    }


def signed(body: bytes, secret=SECRET, msg_id=None, at=None, secrets=None) -> dict:
    """Headers for `body` signed with the standardwebhooks package (by every secret in `secrets`)."""
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    at = at or datetime.now(timezone.utc)
    signatures = [Webhook(s).sign(msg_id, at, body.decode()) for s in (secrets or [secret])]
    return {"Content-Type": "application/json", "webhook-id": msg_id,
            "webhook-timestamp": str(int(at.timestamp())), "webhook-signature": " ".join(signatures)}


def encode(payload) -> bytes:
    return json.dumps(payload).encode()


def record_inbox(app) -> list:
    """What the workers' drain does first: record every request waiting in the Redis inbox as its row
    (a no-op on the database intake). The accepted ones are then queued for processing the way the
    database intake queues them (`delivery_accepted`), so `drain` processes them. Returns the Recorded."""
    recorded = []
    with app.app_context():
        if not intake.waiting_in_inbox():  # the database intake, an empty inbox, or an unreachable Redis
            return recorded
        while batch := intake.record_from_inbox(app.config["WEBHOOK_DRAIN_BATCH"]):
            recorded += batch
        for each in recorded:
            if each.status == "pending":
                signals.delivery_accepted.send(None, delivery_id=each.delivery_id)
    return recorded


class RecordingClient(FlaskClient):
    """The test client, for either intake: after a POST to a webhook endpoint the request is recorded
    (record_inbox), so a test can look at its row at once, as it can on the database intake."""

    def open(self, *args, **kwargs):
        response = super().open(*args, **kwargs)
        request = args[0] if args and not isinstance(args[0], str) else None
        path = args[0] if args and isinstance(args[0], str) else (request.path if request else kwargs.get("path", ""))
        if str(path).startswith("/webhooks/"):
            record_inbox(self.application)
        return response


def use_intake(app, intake_way: str):
    """The app with WEBHOOK_INTAKE set and the RecordingClient as its test client."""
    app.config["WEBHOOK_INTAKE"] = intake_way
    app.test_client_class = RecordingClient
    return app
