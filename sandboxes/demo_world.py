"""`FATHOM_SANDBOX=1` (development only, set by `make run`): the demo's calendar and bots served from this process.

`flask demo` writes a connected Google calendar, its events and their bots into the database, but
it runs in its own process, so nothing real stands behind them. Left like that, the first periodic
calendar sync finds no stored credential and disconnects the calendar, reconcile cancels the bots,
and every page shows a banner whose Reconnect cannot work. So `make run` also starts:

- a GoogleSandbox holding the demo calendar's events (mirrored from the database, same ids), with
  an OAuth client registered for this app and a stored credential (access + refresh token) for the
  demo account: periodic syncs find the same meetings and change nothing; Reconnect works too;
- an AttendeeSandbox that knows the bots the demo already sent there, and takes new ones from the
  dispatcher; a `MeetingPlayer` plays each meeting at its time (staged, recording, ended, with a
  transcript), so bots progress as they would against the real service.

Every GOOGLE_* and ATTENDEE_* URL is pointed at them. Like the Fathom sandbox, each start issues new
tokens, and one process serves it.
"""
import secrets
import threading
from datetime import datetime, timedelta, timezone

from callvault.bots.lifecycle import IN_MEETING, PRE_JOIN
from callvault.demo import DEMO_EMAIL, MEETINGS, demo_user
from callvault.extensions import db
from callvault.logs import log_event
from callvault.models import Bot, Calendar, CalendarCredential, CalendarEvent, User, utcnow

from .attendee import AttendeeSandbox
from .calendars import GOOGLE_SCOPE, GoogleSandbox

GOOGLE_CLIENT_ID = "callvault-demo-google"
GOOGLE_CALLBACK = "/dashboard/auth/google/callback/"
GOOGLE_RESPONSES = {"accepted": "accepted", "declined": "declined", "tentative": "tentative",
                    "needs_action": "needsAction"}
PLAY_EVERY_SECONDS = 5.0
DEFAULT_MEETING = timedelta(minutes=30)


def start_calendar_and_bots(app) -> "DemoWorld":
    world = DemoWorld(app)
    app.extensions["demo_world"] = world
    with app.app_context():
        world.connected = world.connect_demo_account()
    connected_lock = threading.Lock()

    @app.before_request
    def _connect_demo_calendar():
        with connected_lock:  # `flask demo` may create the account after this process started
            if not world.connected:
                world.connected = world.connect_demo_account()

    world.player.start()
    log_event("demo_world_started", google=world.google.root_url, attendee=world.attendee.base_url)
    return world


class DemoWorld:
    def __init__(self, app):
        self.app = app
        self.connected = False
        self.google = GoogleSandbox().start()
        client_secret = secrets.token_urlsafe(24)
        redirect_uri = app.config.get("GOOGLE_REDIRECT_URI") or app.config["PUBLIC_BASE_URL"] + GOOGLE_CALLBACK
        self.google.add_oauth_client(GOOGLE_CLIENT_ID, client_secret, redirect_uri)
        self.google.default_login_hint = DEMO_EMAIL  # Reconnect approves as the demo account
        self.attendee = AttendeeSandbox(api_key=secrets.token_urlsafe(16)).start()
        app.config.update(
            GOOGLE_CLIENT_ID=GOOGLE_CLIENT_ID, GOOGLE_CLIENT_SECRET=client_secret, GOOGLE_REDIRECT_URI=redirect_uri,
            GOOGLE_API_BASE_URL=self.google.api_base_url, GOOGLE_OAUTH_BASE_URL=self.google.oauth_base_url,
            ATTENDEE_API_BASE_URL=self.attendee.base_url, ATTENDEE_API_KEY=self.attendee.api_key,
            ATTENDEE_WEBHOOK_SECRET=self.attendee.webhook_secret)
        self.player = MeetingPlayer(app, self.attendee)

    def stop(self) -> None:
        self.player.stop()
        self.google.stop()
        self.attendee.stop()

    def connect_demo_account(self) -> bool:
        """Mirror the demo calendar into the Google sandbox, store working tokens for it, and hand the
        demo's live bots to the Attendee sandbox. False if the demo account does not exist yet."""
        user = demo_user()
        if user is None:
            return False
        calendars = Calendar.query.filter_by(user_id=user.id, provider="google", auth_method="oauth").all()
        for calendar in calendars:
            self._mirror_events(calendar)
            self._store_credential(user, calendar)
        for bot in Bot.query.filter(Bot.owner_id == user.id, Bot.attendee_id.is_not(None),
                                    Bot.state.in_(PRE_JOIN + IN_MEETING)):
            self.attendee.adopt_bot(bot.attendee_id, bot.remote_meeting_url or bot.meeting_url,
                                    bot.remote_join_at or bot.join_at, bot.remote_state or "scheduled",
                                    bot.deduplication_key,
                                    {"callvault_bot_id": str(bot.id), "generation": str(bot.generation)})
        db.session.commit()
        return True

    def _mirror_events(self, calendar: Calendar) -> None:
        for event in CalendarEvent.query.filter_by(calendar_id=calendar.id, is_deleted=False):
            fields = {"id": event.provider_event_id, "iCalUID": event.ical_uid,
                      "status": "cancelled" if event.is_cancelled else "confirmed",
                      "organizer": {"email": event.organizer_email},
                      "attendees": [{"email": a["email"], "displayName": a.get("name"),
                                     "responseStatus": GOOGLE_RESPONSES.get(a.get("response"), "needsAction")}
                                    for a in event.attendees]}
            if event.meeting_url:
                fields["conferenceData"] = {"entryPoints": [{"entryPointType": "video", "uri": event.meeting_url}]}
            self.google.add_event(calendar.account_email, event.title, event.start_at, event.end_at, **fields)

    def _store_credential(self, user: User, calendar: Calendar) -> None:
        email = calendar.account_email
        credential = calendar.credential or CalendarCredential.query.filter_by(
            provider="google", account_email=email).first() or CalendarCredential(
            user_id=user.id, provider="google", account_email=email)
        credential.access_token = self.google.issue_access_token(email, GOOGLE_SCOPE)
        credential.refresh_token = self.google.issue_refresh_token(email, GOOGLE_CLIENT_ID, GOOGLE_SCOPE)
        credential.token_expires_at = utcnow() + timedelta(seconds=self.google.token_lifetime_seconds)
        credential.scopes = GOOGLE_SCOPE
        calendar.credential = credential
        calendar.sync_cursor = None  # a token from an earlier process's sandbox: start with a full sync
        if not calendar.is_connected:  # broken by a run before the demo had its sandboxes
            calendar.state, calendar.disconnected_reason, calendar.disconnected_at = "connected", None, None
        db.session.add(calendar)


class MeetingPlayer:
    """Plays the demo's meetings at the bot service, as Attendee would: a scheduled bot is staged 5
    minutes before join_at, records from join_at, and ends with a transcript when its event ends.
    The dispatcher sees each step when it polls."""

    def __init__(self, app, attendee: AttendeeSandbox):
        self.app, self.attendee = app, attendee
        self._stop = threading.Event()

    def start(self) -> None:
        threading.Thread(target=self._loop, name="demo-meeting-player", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.wait(PLAY_EVERY_SECONDS):
            with self.app.app_context():
                try:
                    self.play(datetime.now(timezone.utc))
                except Exception:  # the demo's meetings must never stop the app
                    self.app.logger.exception("demo meeting player failed")
                finally:
                    db.session.remove()

    def play(self, now: datetime) -> None:
        self.attendee.advance()
        with self.attendee._lock:
            bots = [dict(b) for b in self.attendee.bots.values()]
        for remote in bots:
            join_at = datetime.fromisoformat(remote["join_at"].replace("Z", "+00:00")) if remote["join_at"] else now
            if remote["state"] in ("staged", "joining") and join_at <= now:
                self.attendee.set_state(remote["id"], "joined_recording", "bot_recording_permission_granted")
            elif remote["state"] == "joined_recording" and self._meeting_end(remote, join_at) <= now:
                self._transcript(remote, join_at)
                self.attendee.set_state(remote["id"], "post_processing", "meeting_ended")
                self.attendee.set_state(remote["id"], "ended", "post_processing_completed")

    def _meeting_end(self, remote: dict, join_at: datetime) -> datetime:
        bot_id = (remote.get("metadata") or {}).get("callvault_bot_id")
        bot = db.session.get(Bot, int(bot_id)) if bot_id and bot_id.isdigit() else None
        if bot is not None and bot.event is not None and bot.event.end_at:
            return bot.event.end_at
        return join_at + DEFAULT_MEETING

    def _transcript(self, remote: dict, join_at: datetime) -> None:
        lines = MEETINGS[sum(map(ord, remote["id"])) % len(MEETINGS)][2]
        speakers = ["Dana Whitfield", "Priya Raman", "Marcus Oyelaran"]
        start_ms = int(join_at.timestamp() * 1000) + 60_000
        for turn, text in enumerate(lines):
            self.attendee.add_utterance(remote["id"], speakers[turn % len(speakers)], text,
                                        start_ms + turn * 20_000, duration_ms=15_000)
