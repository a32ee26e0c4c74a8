"""Helpers for the webhook tests: secrets, a realistic meeting, Standard-Webhooks signing.

The `personal_key` fixture (a user's personal webhook) is in tests/fixtures/webhooks.py.
"""
import base64
import json
import uuid
from datetime import datetime, timezone

from standardwebhooks import Webhook

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
