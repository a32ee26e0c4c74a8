"""A local fake of Attendee's bot API, for tests: a real HTTP server on loopback.

It enforces what Attendee enforces (see docs/attendee-api.md): `Token` auth; unknown fields
rejected; `join_at` a string in the future (null is refused); metadata an object of strings of at
most 1,000 characters; bot-level webhook URLs `https://` with known triggers; one live bot per
deduplication key (a second create answers Attendee's 400); PATCH of join_at / meeting_url and
DELETE only while `scheduled`, which a bot stops being 5 minutes before join_at (`staged`); POST
/leave only from `joining` on (a staged bot can be neither deleted, moved nor made to leave).
`down = True` answers every call 503 (an outage). State changes are driven by the test
(`advance`, `set_state`) and delivered as webhooks signed
the way Attendee signs them, POSTed with requests' default JSON encoding. Faults on demand:
an HTTP status, a slow answer (before or after the work is done) or a dropped connection.
Only the standard library and requests; no Flask app is imported.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import uuid
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

import requests

from callvault.bots.client import iso
from callvault.timeutil import parse_instant

from .loopback import ApiError, LoopbackSandbox

CREATE_FIELDS = {"meeting_url", "bot_name", "bot_image", "metadata", "bot_chat_message", "join_at", "calendar_event_id",
                 "deduplication_key", "webhooks", "callback_settings", "external_media_storage_settings",
                 "voice_agent_settings", "transcription_settings", "websocket_settings", "rtmp_settings",
                 "recording_settings", "google_meet_settings", "teams_settings", "zoom_settings", "debug_settings",
                 "automatic_leave_settings"}
PATCH_FIELDS = {"join_at", "meeting_url", "metadata"}
TRIGGERS = {"bot.state_change", "transcript.update", "chat_messages.update", "participant_events.join_leave",
            "participant_events.speech_start_stop", "calendar.events_update", "calendar.state_change",
            "bot_logs.update"}
MEETING_HOSTS = ("meet.google.com", "zoom.us", "teams.microsoft.com", "teams.live.com", "webex.com")
TERMINAL = {"ended", "fatal_error", "data_deleted"}
LEAVABLE = {"joining", "waiting_room", "joined_not_recording", "joined_recording", "joined_recording_paused"}
STAGE_BEFORE = timedelta(minutes=5)
MAX_METADATA_LENGTH = 1000
DUPLICATE_KEY = ("Deduplication key already in use. A bot in a non-terminal state with this deduplication key "
                 "already exists. Please use a different deduplication key or wait for that bot to terminate.")


def sign(payload: dict, secret_b64: str) -> str:
    """Attendee's signature: base64 HMAC-SHA256 of the canonical JSON, keyed with the decoded secret."""
    canonical = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return base64.b64encode(hmac.new(base64.b64decode(secret_b64), canonical.encode("utf-8"),
                                     hashlib.sha256).digest()).decode()


class AttendeeSandbox(LoopbackSandbox):
    thread_name = "attendee-sandbox"

    def __init__(self, api_key: str = "test-attendee-key", webhook_secret: str | None = None,
                 host: str = "127.0.0.1", port: int = 0):
        super().__init__(host, port)
        self.api_key = api_key
        self.webhook_secret = webhook_secret or base64.b64encode(secrets.token_bytes(32)).decode()
        self.project_webhook_url: str | None = None  # used for bots created without bot-level webhooks
        self.deliver_https_to: str | None = None  # where bot-level https:// webhooks really go (tests)
        self.now = lambda: datetime.now(timezone.utc)
        self.bots: dict[str, dict] = {}
        self.utterances: dict[str, list[dict]] = {}
        self.deliveries: list[dict] = []  # {"url", "payload", "status"}
        self.down = False  # an outage: every call answers 503

    # -- lifecycle (start, stop, with) and faults (fail_next, slow_next, drop_next): LoopbackSandbox --

    @property
    def base_url(self) -> str:
        return self._server_url()

    # -- observation -----------------------------------------------------------------------------

    def count(self, method: str | None = None, path_prefix: str | None = None, status=None) -> int:
        return len(self._logged(method, path_prefix, status))

    def requests_to(self, method: str, path_prefix: str) -> list[dict]:
        return self._logged(method, path_prefix)

    def live_bots(self) -> list[dict]:
        with self._lock:
            return [b for b in self.bots.values() if b["state"] not in TERMINAL]

    # -- driving bots (the test plays the meeting) ----------------------------------------------

    def advance(self, launch: bool = False) -> None:
        """What Attendee's scheduler does at `now`: scheduled bots within 5 minutes of join_at are staged;
        with `launch`, staged bots whose join_at has come are launched (`joining`)."""
        with self._lock:
            due = [b for b in self.bots.values()
                   if b["state"] == "scheduled" and parse_instant(b["join_at"]) - STAGE_BEFORE <= self.now()]
        for bot in due:
            self.set_state(bot["id"], "staged", "staged")
        if launch:
            with self._lock:
                launching = [b for b in self.bots.values()
                             if b["state"] == "staged" and parse_instant(b["join_at"]) <= self.now()]
            for bot in launching:
                self.set_state(bot["id"], "joining", "join_requested")

    def set_state(self, bot_id: str, new_state: str, event_type: str = "state_change", deliver: bool = True,
                  event_metadata: dict | None = None) -> dict | None:
        """Move a bot and send the bot.state_change webhook; returns the payload sent."""
        with self._lock:
            bot = self.bots[bot_id]
            old_state, bot["state"] = bot["state"], new_state
            created = iso(self.now())
            bot["events"].append({"type": event_type, "created_at": created})
        data = {"new_state": new_state, "old_state": old_state, "created_at": created, "event_type": event_type,
                "event_sub_type": None}
        if event_metadata:
            data["event_metadata"] = event_metadata
        return self.send_webhook(bot_id, "bot.state_change", data) if deliver else None

    def add_utterance(self, bot_id: str, speaker: str, text: str, timestamp_ms: int, duration_ms: int = 2000):
        with self._lock:
            self.utterances.setdefault(bot_id, []).append({
                "speaker_name": speaker, "speaker_uuid": f"spk-{speaker}", "speaker_user_uuid": None,
                "speaker_is_host": False, "timestamp_ms": timestamp_ms, "duration_ms": duration_ms,
                "transcription": {"transcript": text, "words": None}})

    def adopt_bot(self, bot_id: str, meeting_url: str, join_at: datetime, state: str,
                  deduplication_key: str | None = None, metadata: dict | None = None) -> None:
        """A bot created before this sandbox started (the offline demo's), in the state it had reached."""
        with self._lock:
            self.bots[bot_id] = {"id": bot_id, "meeting_url": meeting_url, "bot_name": "CallVault",
                                 "metadata": metadata, "join_at": iso(join_at), "deduplication_key": deduplication_key,
                                 "state": state, "events": [], "webhooks": []}

    def webhook_payload(self, bot_id: str, trigger: str, data: dict) -> dict:
        with self._lock:
            bot = self.bots[bot_id]
            return {"idempotency_key": str(uuid.uuid4()), "bot_id": bot_id, "bot_metadata": bot["metadata"],
                    "trigger": trigger, "data": data}

    def send_webhook(self, bot_id: str, trigger: str, data: dict) -> dict | None:
        payload = self.webhook_payload(bot_id, trigger, data)
        url = self._webhook_url(bot_id, trigger)
        if url is None:
            return payload
        self.deliver(url, payload)
        return payload

    def deliver(self, url: str, payload: dict, signature: str | None = None) -> int | None:
        """POST a payload the way Attendee does; one try (Attendee gives up after ~3 s of retries)."""
        headers = {"X-Webhook-Signature": signature or sign(payload, self.webhook_secret)}
        try:
            status = requests.post(url, json=payload, headers=headers, timeout=10).status_code
        except requests.RequestException:
            status = None
        with self._lock:
            self.deliveries.append({"url": url, "payload": payload, "status": status})
        return status

    def _webhook_url(self, bot_id: str, trigger: str) -> str | None:
        with self._lock:
            hooks = self.bots[bot_id]["webhooks"]
        if hooks:  # bot-level webhooks replace the project's
            for hook in hooks:
                if trigger in hook["triggers"]:
                    url = hook["url"]
                    if self.deliver_https_to:
                        url = self.deliver_https_to + urlsplit(url).path
                    return url
            return None
        return self.project_webhook_url

    # -- the API ---------------------------------------------------------------------------------

    def _new_entry(self, handler, parts, body: bytes) -> dict:
        entry = dict(super()._new_entry(handler, parts, body), json=None)
        try:
            entry["json"] = json.loads(body) if body else None
        except ValueError:
            pass
        return entry

    def _route(self, handler, entry, query, body):
        if self.down:
            raise ApiError(503, {"error": "Service unavailable"})
        if handler.headers.get("Authorization") != f"Token {self.api_key}":
            raise ApiError(401, {"detail": "Invalid token."})
        path, method = entry["path"].rstrip("/"), entry["method"]
        segments = path.split("/")[3:]  # after /api/v1
        if not path.startswith("/api/v1/bots") or not segments or segments[0] != "bots":
            raise ApiError(404, {"error": "Not found"})
        if method in ("POST", "PATCH") and body and not isinstance(entry["json"], dict):
            raise ApiError(400, {"error": "JSON parse error"})
        data = entry["json"] or {}
        if len(segments) == 1:
            if method == "POST":
                return 201, self._create(data), {}
            if method == "GET":
                return 200, self._list(query), {}
        elif len(segments) in (2, 3):
            bot = self._bot(segments[1])
            action = segments[2] if len(segments) == 3 else None
            if action is None and method == "GET":
                return 200, self._serialize(bot), {}
            if action is None and method == "PATCH":
                return 200, self._patch(bot, data), {}
            if action is None and method == "DELETE":
                return self._delete(bot)
            if action == "leave" and method == "POST":
                return 200, self._leave(bot), {}
            if action == "transcript" and method == "GET":
                with self._lock:
                    return 200, list(self.utterances.get(bot["id"], [])), {}
        raise ApiError(404, {"error": "Not found"})

    def _bot(self, bot_id: str) -> dict:
        with self._lock:
            bot = self.bots.get(bot_id)
        if bot is None:
            raise ApiError(404, {"error": "Bot not found"})
        return bot

    def _create(self, data: dict) -> dict:
        unexpected = set(data) - CREATE_FIELDS
        if unexpected:
            raise ApiError(400, {"non_field_errors": [f"Unexpected field(s): {', '.join(sorted(unexpected))}. "
                                                      f"Allowed fields are: {', '.join(sorted(CREATE_FIELDS))}"]})
        errors = {}
        for name in ("meeting_url", "bot_name"):
            if not isinstance(data.get(name), str) or not data[name].strip():
                errors[name] = ["This field is required." if name not in data else "Not a valid string."]
        if "meeting_url" not in errors and not _meeting_url_ok(data["meeting_url"]):
            errors["meeting_url"] = ["Invalid meeting URL"]
        join_at = self._join_at(data, errors)
        self._check_metadata(data, errors)
        key = data.get("deduplication_key")
        if "deduplication_key" in data and (not isinstance(key, str) or not key.strip()):
            errors["deduplication_key"] = ["This field may not be null." if key is None else "Not a valid string."]
        self._check_webhooks(data.get("webhooks"), errors, "webhooks" in data)
        if errors:
            raise ApiError(400, errors)
        with self._lock:
            if key and any(b["deduplication_key"] == key and b["state"] not in TERMINAL for b in self.bots.values()):
                raise ApiError(400, {"error": DUPLICATE_KEY})
            bot_id = "bot_" + secrets.token_urlsafe(12).replace("-", "x").replace("_", "y")
            self.bots[bot_id] = {
                "id": bot_id, "meeting_url": data["meeting_url"], "bot_name": data["bot_name"],
                "metadata": data.get("metadata"), "join_at": iso(join_at) if join_at else None,
                "deduplication_key": key, "state": "scheduled" if join_at else "joining",
                "events": [{"type": "join_requested", "created_at": iso(self.now())}] if not join_at else [],
                "webhooks": data.get("webhooks") or []}
            return self._serialize(self.bots[bot_id])

    def _join_at(self, data: dict, errors: dict) -> datetime | None:
        if "join_at" not in data:
            return None
        value = data["join_at"]
        if value is None:
            errors["join_at"] = ["This field may not be null."]
            return None
        moment = parse_instant(value)
        if moment is None:
            errors["join_at"] = ["Datetime has wrong format. Use one of these formats instead: "
                                 "YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z]."]
        elif moment < self.now():
            errors["join_at"] = ["join_at cannot be in the past"]
        return moment

    def _check_metadata(self, data: dict, errors: dict) -> None:
        if "metadata" not in data or data["metadata"] is None:
            return
        value = data["metadata"]
        if not isinstance(value, dict):
            errors["metadata"] = ["Metadata must be an object not an array or other type"]
        elif not value:
            errors["metadata"] = ["Metadata must have at least one key"]
        elif any(not isinstance(v, str) for v in value.values()):
            errors["metadata"] = [f"Value for key '{next(k for k, v in value.items() if not isinstance(v, str))}' "
                                  "must be a string"]
        elif len(json.dumps(value)) > MAX_METADATA_LENGTH:
            errors["metadata"] = [f"Metadata must be less than {MAX_METADATA_LENGTH} characters"]

    def _check_webhooks(self, hooks, errors: dict, given: bool) -> None:
        if not given or hooks is None:
            return
        problem = None
        if not isinstance(hooks, list):
            problem = "webhooks must be a list"
        elif len(hooks) > 2:
            problem = "You have reached the maximum number of webhooks for a single bot"
        else:
            for hook in hooks:
                if not isinstance(hook, dict) or set(hook) != {"url", "triggers"}:
                    problem = "each webhook needs exactly url and triggers"
                elif not isinstance(hook["url"], str) or not hook["url"].startswith("https://"):
                    problem = f"'{hook['url']}' does not match '^https://.*'"
                elif (not isinstance(hook["triggers"], list) or not hook["triggers"]
                      or len(set(map(str, hook["triggers"]))) != len(hook["triggers"])
                      or not set(hook["triggers"]) <= TRIGGERS):
                    problem = "triggers must be a non-empty list of unique known triggers"
        if problem:
            errors["webhooks"] = [problem]

    def _patch(self, bot: dict, data: dict) -> dict:
        unexpected = set(data) - PATCH_FIELDS
        if unexpected:
            raise ApiError(400, {"non_field_errors": [f"Unexpected field(s): {', '.join(sorted(unexpected))}"]})
        errors = {}
        join_at = self._join_at(data, errors)
        if "meeting_url" in data and (not isinstance(data["meeting_url"], str)
                                      or not _meeting_url_ok(data["meeting_url"])):
            errors["meeting_url"] = ["Invalid meeting URL"]
        self._check_metadata(data, errors)
        if errors:
            raise ApiError(400, errors)
        with self._lock:
            new_join = iso(join_at) if join_at else bot["join_at"]
            new_url = data.get("meeting_url", bot["meeting_url"])
            if (new_join != bot["join_at"] or new_url != bot["meeting_url"]) and bot["state"] != "scheduled":
                raise ApiError(400, {"error": f"Bot is in state {bot['state']} but the join_at or meeting_url can "
                                              "only be updated when in the scheduled state"})
            bot["join_at"], bot["meeting_url"] = new_join, new_url
            bot["metadata"] = data.get("metadata", bot["metadata"])
            return self._serialize(bot)

    def _delete(self, bot: dict):
        with self._lock:
            if bot["state"] != "scheduled":
                raise ApiError(400, {"error": f"Bot is in state {bot['state']} but can only be deleted when in "
                                              "scheduled state"})
            del self.bots[bot["id"]]
        return 200, None, {}

    def _leave(self, bot: dict) -> dict:
        with self._lock:
            if bot["state"] not in LEAVABLE:
                raise ApiError(400, {"error": f"Bot is in state {bot['state']} but can only leave once it is joining "
                                              "or in the meeting"})
        self.set_state(bot["id"], "leaving", "leave_requested", deliver=False)
        with self._lock:
            return self._serialize(bot)

    def _list(self, query: dict) -> dict:
        with self._lock:
            bots = [b for b in self.bots.values()
                    if ("deduplication_key" not in query or b["deduplication_key"] == query["deduplication_key"])
                    and ("meeting_url" not in query or b["meeting_url"] == query["meeting_url"])]
            return {"next": None, "previous": None, "results": [self._serialize(b) for b in bots]}

    def _serialize(self, bot: dict) -> dict:
        return {"id": bot["id"], "metadata": bot["metadata"], "meeting_url": bot["meeting_url"], "state": bot["state"],
                "events": list(bot["events"]), "transcription_state": None, "recording_state": None,
                "join_at": bot["join_at"], "deduplication_key": bot["deduplication_key"]}


def _meeting_url_ok(url: str) -> bool:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    return parts.scheme == "https" and any(host == h or host.endswith("." + h) for h in MEETING_HOSTS)
