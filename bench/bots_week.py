"""A simulated working week of meetings with recording bots, faults mixed in. Run by hand.

    .venv/bin/python bench/bots_week.py [--users 4] [--per-day 8] [--seed 7]

In one process: CallVault on a throwaway SQLite file (in-process queue), the fake Attendee
(sandboxes/attendee.py, a real HTTP server on loopback) and a small world that plays the meetings:
the service's scheduler stages bots 5 minutes ahead and launches them at join_at, a launched bot
records if its meeting is running and leaves when it ends. Time is compressed: the dispatcher runs
once per simulated minute, 08:00–19:00, Monday to Friday (no webhooks: polling only, the worst case).

Faults mixed in, by meeting: added 5 or 20 minutes after it started; moved while its bot is staged or
in the meeting; cancelled while scheduled, staged or in the meeting; a service bot the scheduler never
launches; a service bot that fails to join; and bot-service outages (one from before a join time until
10 minutes into meetings, one long enough that short meetings end before it is over).

Prints: meetings that should have been recorded, bots sent, meetings recorded, meetings missed and
why. The goal: a meeting is missed only when it ended before the bot service could be reached.
"""
import argparse
import logging
import os
import random
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("CALLVAULT_ENV", "testing")  # never writes secrets under instance/
os.environ.setdefault("SECRET_KEY", "bench-secret-key")
os.environ.setdefault("CREDENTIALS_ENCRYPTION_KEY", Fernet.generate_key().decode())
for _name in ("DATABASE_URL", "REDIS_URL"):
    os.environ.pop(_name, None)

FAULTS = ("none", "none", "none", "added_5_late", "added_20_late", "moved_when_staged", "moved_in_meeting",
          "cancelled_when_scheduled", "cancelled_when_staged", "cancelled_in_meeting", "never_launched",
          "fails_to_join")


@dataclass
class Meeting:
    index: int
    url: str
    title: str
    start: datetime
    end: datetime
    fault: str
    added_at: datetime
    owners: list  # (user id, calendar id)
    event_ids: list
    cancelled: bool = False
    done: bool = False  # its fault has been applied


class World:
    """What happens at the bot service and in the meetings, minute by minute."""

    def __init__(self, attendee, meetings: list[Meeting]):
        self.attendee, self.meetings = attendee, meetings
        self.by_url = {m.url: m for m in meetings}
        self.first_bot: dict[str, str] = {}  # meeting url -> its first service bot id
        self.joining_since: dict[str, datetime] = {}
        self.failed_at: dict[str, datetime] = {}  # meeting url -> when its first service bot failed

    def running(self, url: str, now: datetime) -> Meeting | None:
        meeting = self.by_url.get(url)
        if meeting and not meeting.cancelled and meeting.start <= now < meeting.end:
            return meeting
        return None

    def step(self, now: datetime) -> None:
        sandbox = self.attendee
        for bot in list(sandbox.bots.values()):
            url, state, bot_id = bot["meeting_url"], bot["state"], bot["id"]
            meeting = self.by_url.get(url)
            self.first_bot.setdefault(url, bot_id)
            first = self.first_bot[url] == bot_id
            join_at = _parse(bot["join_at"])
            if state == "scheduled" and join_at - timedelta(minutes=5) <= now:
                sandbox.set_state(bot_id, "staged", "staged", deliver=False)
                state = "staged"
            if state == "staged" and join_at <= now:
                if meeting and meeting.fault == "never_launched" and first:
                    continue  # the service's scheduler skipped it
                sandbox.set_state(bot_id, "joining", "join_requested", deliver=False)
                state = "joining"
            if state == "joining":
                self.joining_since.setdefault(bot_id, now)
                if meeting and meeting.fault == "fails_to_join" and first:
                    sandbox.set_state(bot_id, "fatal_error", "could_not_join", deliver=False)
                    self.failed_at.setdefault(url, now)
                elif self.running(url, now):
                    sandbox.set_state(bot_id, "joined_recording", "bot_joined", deliver=False)
                    sandbox.add_utterance(bot_id, "Host", "Let's start.", int(now.timestamp() * 1000))
                elif now - self.joining_since[bot_id] >= timedelta(minutes=10):
                    sandbox.set_state(bot_id, "fatal_error", "nobody_came", deliver=False)
            elif state == "joined_recording" and not self.running(url, now):
                sandbox.set_state(bot_id, "post_processing", "bot_left_meeting", deliver=False)
            elif state in ("leaving", "post_processing"):
                sandbox.set_state(bot_id, "ended", "post_processing_completed", deliver=False)


def _parse(value):
    from callvault.timeutil import parse_instant
    return parse_instant(value) if value else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=4)
    parser.add_argument("--per-day", type=int, default=8, help="meetings per user per day")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    from callvault import create_app
    from callvault.accounts import create_user
    from callvault.bots import dispatcher, reconcile, transcripts
    from callvault.extensions import db
    from callvault.models import Bot, Calendar, CalendarEvent
    from callvault.search.schema import ensure_search_schema
    from sandboxes.attendee import AttendeeSandbox

    rng = random.Random(args.seed)
    workdir = tempfile.mkdtemp(prefix="callvault-bots-week-")
    sandbox = AttendeeSandbox(api_key="bench-key").start()
    clock = {"now": None}
    sandbox.now = lambda: clock["now"]
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{workdir}/bench.sqlite3", "INPROCESS_WORKER": False,
                      "ATTENDEE_API_BASE_URL": sandbox.base_url, "ATTENDEE_API_KEY": "bench-key",
                      "ATTENDEE_WEBHOOK_SECRET": sandbox.webhook_secret, "ATTENDEE_HTTP_TIMEOUT_SECONDS": 2,
                      "ATTENDEE_MAX_ATTEMPTS": 2, "ATTENDEE_RETRY_BASE_SECONDS": 0.001,
                      "PUBLIC_BASE_URL": "http://callvault.bench", "BOT_LEAD_MINUTES": 60,
                      "BOT_GRACE_MINUTES": 3, "BOT_POLL_AFTER_SECONDS": 120})
    logging.getLogger("callvault").setLevel(logging.WARNING)  # the state-change log is not what is measured
    started = time.perf_counter()
    with app.app_context():
        db.create_all()
        with db.engine.begin() as connection:
            ensure_search_schema(connection)
        monday = (datetime.now(timezone.utc) + timedelta(days=7)).replace(hour=0, minute=0, second=0, microsecond=0)
        monday -= timedelta(days=monday.weekday())
        people = []
        for n in range(args.users):
            account = create_user(f"person{n}@acme.test", "bench password 1234", name=f"Person {n}")
            calendar = Calendar(user_id=account.id, provider="google", auth_method="oauth",
                                account_email=account.email, deduplication_key=f"bench-{n}")
            db.session.add(calendar)
            db.session.commit()
            people.append((account.id, calendar.id, account.email))

        meetings: list[Meeting] = []
        for day in range(5):
            for person in range(args.users):
                for slot in rng.sample(range(9 * 4, 17 * 4), args.per_day):  # quarter hours 9:00-17:00
                    start = monday + timedelta(days=day, minutes=15 * slot)
                    length = rng.choice((15, 30, 30, 45, 60))
                    fault = rng.choice(FAULTS)
                    index = len(meetings)
                    added = {"added_5_late": start + timedelta(minutes=5),
                             "added_20_late": start + timedelta(minutes=20)}.get(fault, monday - timedelta(days=1))
                    owners = [people[person]]
                    if rng.random() < 0.2:  # a colleague has the same meeting on their calendar: one bot
                        owners.append(people[(person + 1) % args.users])
                    meetings.append(Meeting(index, f"https://acme.zoom.us/j/{9100000000 + index}",
                                            f"Meeting {index} ({fault})", start, start + timedelta(minutes=length),
                                            fault, added, owners, []))
        # Outages of the bot service's API: from before join times until 10 minutes into meetings, and a
        # long one in which meetings shorter than it start and end.
        outages = [(monday + timedelta(days=1, hours=9, minutes=50), monday + timedelta(days=1, hours=10, minutes=10)),
                   (monday + timedelta(days=2, hours=13, minutes=55), monday + timedelta(days=2, hours=14, minutes=10)),
                   (monday + timedelta(days=3, hours=11), monday + timedelta(days=3, hours=12, minutes=30))]
        world = World(sandbox, meetings)

        def add_events(meeting: Meeting, now: datetime) -> None:
            for user_id, calendar_id, email in meeting.owners:
                attendees = [{"email": e, "response": "accepted"} for _, _, e in meeting.owners]
                attendees.append({"email": "guest@client.test", "response": "needs_action"})
                row = CalendarEvent(calendar_id=calendar_id, provider_event_id=f"ev-{meeting.index}-{calendar_id}",
                                    title=meeting.title, start_at=meeting.start, end_at=meeting.end,
                                    meeting_url=meeting.url, attendees=attendees, organizer_email=attendees[0]["email"])
                db.session.add(row)
                db.session.flush()
                meeting.event_ids.append(row.id)
            db.session.commit()
            reconcile.reconcile_events(meeting.event_ids, now=now)

        def change_events(meeting: Meeting, now: datetime, **fields) -> None:
            for event_id in meeting.event_ids:
                row = db.session.get(CalendarEvent, event_id)
                for name, value in fields.items():
                    setattr(row, name, value)
            db.session.commit()
            reconcile.reconcile_events(meeting.event_ids, now=now)

        for meeting in meetings:
            if meeting.added_at < monday:
                add_events(meeting, monday)

        triggers = {  # fault -> minutes from the start when it strikes
            "moved_when_staged": -3, "moved_in_meeting": 5, "cancelled_when_scheduled": -30,
            "cancelled_when_staged": -3, "cancelled_in_meeting": 5}
        ticks = 0
        for day in range(5):
            now = monday + timedelta(days=day, hours=8)
            end_of_day = monday + timedelta(days=day, hours=19)
            while now < end_of_day:
                clock["now"] = now
                sandbox.down = any(a <= now < b for a, b in outages)
                for meeting in meetings:
                    if not meeting.event_ids and meeting.added_at <= now:
                        add_events(meeting, now)
                    offset = triggers.get(meeting.fault)
                    if offset is None or meeting.done or now < meeting.start + timedelta(minutes=offset):
                        continue
                    meeting.done = True
                    if meeting.fault.startswith("cancelled"):
                        meeting.cancelled = True
                        change_events(meeting, now, is_cancelled=True)
                    else:
                        meeting.start += timedelta(hours=1)
                        meeting.end += timedelta(hours=1)
                        change_events(meeting, now, start_at=meeting.start, end_at=meeting.end)
                world.step(now)
                dispatcher.tick(now=now)
                ticks += 1
                # The worker's part: the transcript fetch each ended bot asked for.
                for bot_id in list(db.session.scalars(db.select(Bot.id).where(
                        Bot.state == "ended", Bot.call_id.is_(None), Bot.transcript_attempts < 3))):
                    transcripts.fetch(bot_id)
                if ticks % 60 == 0:
                    app.extensions["redis"].flushdb()  # queued jobs are run above; nothing else reads them
                busy = any(m.start - timedelta(minutes=70) <= now <= m.end + timedelta(minutes=20)
                           or m.added_at - timedelta(minutes=5) <= now <= m.added_at for m in meetings)
                now += timedelta(minutes=1 if busy else 5)  # a quiet hour is stepped through faster

        report(meetings, outages, sandbox, world, ticks, time.perf_counter() - started)
    sandbox.stop()


def report(meetings, outages, sandbox, world, ticks, seconds) -> None:
    from callvault.bots import reconcile
    from callvault.extensions import db
    from callvault.models import Bot

    # A meeting put on a calendar only after it had ended was never there to be recorded.
    added_after_the_end = [m for m in meetings if not m.cancelled and m.added_at >= m.end]
    wanted = [m for m in meetings if not m.cancelled and m.added_at < m.end]
    recorded, missed = [], []
    for meeting in wanted:
        bot = db.session.scalars(db.select(Bot).where(
            Bot.meeting_key == reconcile.meeting_key(meeting.url, meeting.start))).first()
        (recorded if bot is not None and bot.call_id is not None else missed).append((meeting, bot))

    def unreachable_until_the_end(meeting):
        """The service was down from when the meeting last needed a new bot until it ended: from when it
        could first get one, or from when its first bot failed at the service."""
        begin = max(meeting.start - timedelta(minutes=60), meeting.added_at,
                    world.failed_at.get(meeting.url, meeting.start - timedelta(minutes=60)))
        return any(a <= begin and meeting.end <= b for a, b in outages)

    sent = sandbox.count("POST", "/api/v1/bots", status=201)
    cancelled = [m for m in meetings if m.cancelled]
    live_in_cancelled = [b for b in sandbox.bots.values() if b["meeting_url"] in {m.url for m in cancelled}
                         and b["state"] in ("joined_recording", "joining", "staged", "scheduled")]
    print(f"Simulated week: {len(meetings)} meetings ({len(cancelled)} cancelled), {ticks} dispatcher ticks, "
          f"{seconds:.1f} s of real time")
    print("Faults mixed in: " + ", ".join(f"{k} {v}" for k, v in sorted(Counter(m.fault for m in meetings).items())))
    print("Outages of the bot service: " + "; ".join(f"{a:%a %H:%M}-{b:%H:%M}" for a, b in outages))
    print(f"Meetings added to a calendar only after they had ended (nothing to record): {len(added_after_the_end)}")
    print(f"Meetings that should have been recorded: {len(wanted)}")
    print(f"Bots sent (service bots created): {sent}")
    print(f"Meetings recorded: {len(recorded)}")
    print(f"Meetings missed: {len(missed)}")
    reasons = Counter()
    for meeting, bot in missed:
        why = ("the meeting ended before the bot service could be reached" if unreachable_until_the_end(meeting)
               else "OTHER")
        reasons[why] += 1
        detail = bot.state_reason if bot is not None else "no bot"
        print(f"  - {meeting.title} {meeting.start:%a %H:%M}-{meeting.end:%H:%M}: {why} [{detail}]")
    for why, n in reasons.items():
        print(f"  {n} × {why}")
    print(f"Service bots left in a cancelled meeting: {len(live_in_cancelled)}")
    print("Goal (missed only when the meeting ended before the service could be reached): "
          + ("met" if not reasons.get("OTHER") and not live_in_cancelled else "NOT met"))


if __name__ == "__main__":
    main()
