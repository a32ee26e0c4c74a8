"""`flask demo`: a demo admin account and realistic meetings, generated offline and deterministically."""
import random
import secrets
from datetime import timedelta

from flask import current_app
from sqlalchemy.exc import SQLAlchemyError

from . import accounts
from .bots import dispatcher, reconcile
from .bots.lifecycle import change_state
from .calendars import meeting_urls
from .calls.store import ActionItemData, CallData, ParticipantData, SegmentData, upsert_call
from .extensions import db
from .labels import state_label
from .models import Bot, Calendar, CalendarEvent, User, utcnow

DEMO_EMAIL = "demo@callvault.local"
TEAM = [("Dana Whitfield", "demo@callvault.local"), ("Priya Raman", "priya@callvault.local"),
        ("Marcus Oyelaran", "marcus@callvault.local"), ("Lena Vogel", "lena@callvault.local")]
GUESTS = [("Tomás Herrera", "tomas@northwind.example"), ("Aiko Tanaka", "aiko@contoso.example"),
          ("Sam Oduya", "sam@fabrikam.example"), ("Greta Lindqvist", "greta@globex.example")]

MEETINGS = [
    ("Weekly product sync", False, [
        "Let's start with the release status for the export feature.",
        "The output hub export is merged; we are waiting on the staging run.",
        "Are we still on track for Thursday's release?",
        "Yes, as long as the migration passes on the staging copy of production data.",
        "I'd like one more pass on the error messages in the settings page.",
        "Noted. I'll pair with design tomorrow morning on that.",
        "Any blockers on the calendar integration side?",
        "Microsoft's subscription renewal needs a scheduled job; that is in review.",
    ]),
    ("Discovery call with {company}", True, [
        "Thanks for making the time today. Could you walk us through how your team runs meetings now?",
        "We record most customer calls, but the transcripts end up scattered across three tools.",
        "What happens to action items after a call?",
        "Honestly, they live in someone's notes and get lost about half of the time.",
        "Would a searchable archive with exports to your data warehouse help?",
        "That's exactly the gap. Security review would want to know where the data lives.",
        "Everything is self-hosted, and secrets are encrypted at rest.",
        "Great, please send over the security overview and pricing.",
    ]),
    ("Pricing review", False, [
        "The proposal is a per-seat price with a floor for small teams.",
        "Our churn data says small teams leave when the bill jumps at the fifth seat.",
        "Then maybe a flat tier up to ten seats?",
        "I can model the revenue impact of that by Friday.",
        "Let's also compare against annual prepay discounts.",
    ]),
    ("Incident retro: webhook backlog", False, [
        "Timeline first: at 14:02 the Redis instance restarted during maintenance.",
        "Webhooks kept arriving and were stored as pending, so nothing was lost.",
        "The sweeper picked them up within a minute after Redis came back.",
        "What should we change?",
        "An alert when pending deliveries are older than five minutes.",
        "And a runbook entry for replaying a delivery from the dashboard.",
    ]),
    ("Onboarding session with {company}", True, [
        "Today we will connect your calendar and your Fathom account.",
        "Do we need admin rights on the Google Workspace side?",
        "Only for domain-wide delegation; individual users can connect with OAuth.",
        "Understood. Let's start with my calendar then.",
        "You should see your upcoming meetings with a bot scheduled for each.",
        "I see them. Can I turn recording off for internal meetings?",
        "Yes, choose 'external only' in your settings.",
    ]),
    ("1:1 Dana / Priya", False, [
        "How are you feeling about the workload this sprint?",
        "Busy but fine. The search work is the most interesting part.",
        "Anything you'd like to hand off?",
        "The dashboard chart could go to Marcus; he knows the SVG code.",
        "Sounds good. Let's also plan your conference talk.",
    ]),
]
ACTIONS = ["Send the security overview and pricing", "Model revenue impact of a flat tier",
           "Add an alert for stale pending deliveries", "Pair with design on settings error messages",
           "Write the replay runbook entry", "Schedule the follow-up demo"]
SUMMARY = """## Summary
{title}: the team reviewed progress and agreed on next steps.

## Key points
- {point1}
- {point2}

## Next steps
- {action}
"""


def _demo_call(rng: random.Random, index: int, now) -> CallData:
    title, external, lines = MEETINGS[index % len(MEETINGS)]
    guest = GUESTS[index % len(GUESTS)]
    company = guest[1].split("@")[1].split(".")[0].capitalize()
    title = title.format(company=company)
    people = TEAM[: 2 + index % 3] + ([guest] if external else [])
    started = (now - timedelta(days=index * 29 / 40, hours=rng.randint(0, 6))).replace(second=0, microsecond=0)
    segments, offset = [], 0
    for turn in range(len(lines) * 3):
        speaker = people[turn % len(people)]
        text = lines[turn % len(lines)]
        duration = 4000 + len(text) * 60
        segments.append(SegmentData(speaker=speaker[0], speaker_email=speaker[1], text=text,
                                    start_ms=offset, end_ms=offset + duration))
        offset += duration + rng.randint(300, 1500)
    action = ACTIONS[index % len(ACTIONS)]
    return CallData(
        source="fathom", external_id=str(900000 + index), title=title, started_at=started,
        ended_at=started + timedelta(milliseconds=offset), recorded_by_name=TEAM[0][0],
        recorded_by_email=TEAM[0][1], recording_url=None, language="en",
        summary_markdown=SUMMARY.format(title=title, point1=lines[1], point2=lines[-1], action=action),
        participants=[ParticipantData(name=n, email=e, is_external=e.endswith(".example"),
                                      is_organizer=(i == 0)) for i, (n, e) in enumerate(people)],
        segments=segments,
        action_items=[ActionItemData(description=action, assignee_name=people[1][0], assignee_email=people[1][1],
                                     timestamp_ms=segments[len(segments) // 2].start_ms)],
    )


# The calendar: (day from today or None for "relative to now", hour, minute or minutes from now,
# minutes long, title, link kind or None, guest index or None, which MEETINGS script, flags).
# Flags: "missed" (the bot never got in), "declined" (the demo user said no: no bot), "cancelled"
# (the organiser cancelled: its bot is cancelled), "twice" (a second invite to the same meeting).
EVENTS = [
    (-1, 9, 0, 60, "Weekly product sync", "meet", None, 0, ()),
    (-1, 13, 0, 45, "Discovery call with Northwind", "zoom", 0, 1, ()),
    (-1, 16, 0, 30, "Partner check-in with Contoso", "teams", 1, 4, ("missed",)),
    (None, 0, -180, 45, "Incident retro: webhook backlog", "meet", None, 3, ()),
    (None, 0, -20, 50, "Customer escalation: Globex", "zoom", 3, 1, ("twice",)),
    (None, 0, 40, 30, "Onboarding session with Fabrikam", "teams", 2, 4, ()),
    (None, 0, 120, 90, "Focus time", None, None, 0, ()),
    (None, 0, 210, 30, "1:1 Dana / Priya", "meet", None, 5, ()),
    (1, 10, 0, 60, "Pricing review", "meet", None, 2, ()),
    (1, 15, 0, 30, "Vendor demo: Initech tooling", "zoom", 2, 1, ("declined",)),
    (1, 17, 0, 60, "Quarterly planning with Northwind", "teams", 0, 1, ("cancelled",)),
    (2, 9, 30, 60, "Roadmap review", "meet", None, 0, ()),
    (3, 14, 0, 45, "Discovery call with Contoso", "zoom", 1, 1, ()),
    (5, 11, 0, 60, "Security review with Globex", "teams", 3, 1, ()),
]


def _raw_link(rng: random.Random, kind: str) -> str:
    """A link as a calendar would carry it (tracking parameters and all), before normalising."""
    if kind == "meet":
        code = "-".join("".join(rng.choice("abcdefghijkmnpqrstuvwxyz") for _ in range(n)) for n in (3, 4, 3))
        return f"https://meet.google.com/{code}?authuser=0&hs=122"
    if kind == "zoom":
        return (f"https://us02web.zoom.us/j/8{rng.randrange(10 ** 9, 10 ** 10)}"
                f"?pwd={rng.getrandbits(96):024x}&utm_source=calendar")
    thread = f"19%3ameeting_{rng.getrandbits(128):032x}%40thread.v2"
    context = "%7b%22Tid%22%3a%22{0}%22%2c%22Oid%22%3a%22{1}%22%7d".format(
        *(f"{rng.getrandbits(128):032x}" for _ in range(2)))
    return f"https://teams.microsoft.com/l/meetup-join/{thread}/0?context={context}"


def _attendees(guest: int | None, index: int, declined: bool) -> list[dict]:
    people = TEAM[: 2 + index % 3] + ([GUESTS[guest]] if guest is not None else [])
    return [{"email": email, "name": name,
             "response": "declined" if declined and email == DEMO_EMAIL else ("accepted" if i % 3 != 2 else "tentative")}
            for i, (name, email) in enumerate(people)]


def _bot_call(bot: Bot, event: CalendarEvent, script: int, user: User, started, ended) -> CallData:
    lines = MEETINGS[script][2]
    speakers = [a for a in event.attendees if a["response"] != "declined"]
    segments, offset, length = [], 0, int((ended - started).total_seconds() * 1000)
    step = length // (len(lines) * 2)
    for turn in range(len(lines) * 2):
        speaker = speakers[turn % len(speakers)]
        segments.append(SegmentData(speaker=speaker["name"], speaker_email=speaker["email"],
                                    text=lines[turn % len(lines)], start_ms=offset, end_ms=offset + step - 800))
        offset += step
    return CallData(source="bot", external_id=bot.attendee_id, title=bot.title or "Recorded meeting",
                    started_at=started, ended_at=ended, recorded_by_name=user.display_name,
                    recorded_by_email=user.email, recording_url=bot.meeting_url, language="en",
                    participants=[ParticipantData(name=a["name"], email=a["email"],
                                                  is_external=not a["email"].endswith("@callvault.local"),
                                                  is_organizer=a["email"] == event.organizer_email)
                                  for a in event.attendees],
                    segments=segments)


def _demo_bot(rng: random.Random, user: User, event: CalendarEvent, script: int, flags, now, found_at) -> Bot:
    """A bot made by reconcile.create_bot, then taken through the states it would have reached by
    now, each change (through reconcile, the dispatcher or lifecycle.change_state) at the time it
    would have happened."""
    start, end = event.start_at, event.end_at
    bot = reconcile.create_bot(reconcile.meeting_key(event.meeting_url, start), event, at=found_at)
    if "cancelled" in flags:
        reconcile.cancel_bot(bot, at=event.provider_updated_at)
        return bot
    lead = timedelta(minutes=current_app.config["BOT_LEAD_MINUTES"])
    if start > now + lead:
        return bot  # the dispatcher creates it at the bot service an hour before the meeting
    steps = [("scheduled", "created at the bot service", start - lead)]
    if "missed" in flags:
        steps.append(("missed", None, start + timedelta(minutes=current_app.config["BOT_GRACE_MINUTES"])))
    else:
        steps += [("joining", "webhook: join_requested", start - timedelta(minutes=1)),
                  ("joined_recording", "webhook: bot_recording_permission_granted", start + timedelta(minutes=1)),
                  ("post_processing", "webhook: meeting_ended", end),
                  ("ended", "webhook: post_processing_completed", end + timedelta(minutes=3))]
    bot.attendee_id = f"bot_{rng.getrandbits(64):016x}"
    bot.remote_join_at, bot.remote_meeting_url = start, bot.meeting_url
    for state, reason, at in steps:
        if at > now:
            break
        if state == "missed":
            dispatcher.mark_missed(bot, at)
            continue
        bot.remote_state, bot.last_remote_at = state, at
        change_state(bot, state, reason, at=at)
    if bot.state == "ended":
        bot.call_id = upsert_call(user, _bot_call(bot, event, script, user, start + timedelta(minutes=1), end),
                                  commit=False).call.id
    return bot


def _demo_calendar(user: User, rng: random.Random, now) -> tuple[int, list[Bot]]:
    """One connected Google calendar with the week's meetings, and a bot for each meeting it wants."""
    connected_at = now - timedelta(days=3)
    calendar = Calendar(user=user, provider="google", auth_method="oauth", account_email=DEMO_EMAIL,
                        deduplication_key=f"{DEMO_EMAIL}-google-oauth", state="connected",
                        full_synced_at=connected_at, last_synced_at=now - timedelta(minutes=4),
                        last_sync_attempt_at=now - timedelta(minutes=4), created_at=connected_at)
    db.session.add(calendar)
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    soon = now.replace(second=0, microsecond=0) - timedelta(minutes=now.minute % 5)
    events, wanted = [], []
    for index, (day, hour, minute, length, title, kind, guest, script, flags) in enumerate(EVENTS):
        start = soon + timedelta(minutes=minute) if day is None else today + timedelta(days=day, hours=hour,
                                                                                         minutes=minute)
        link = meeting_urls.normalize(_raw_link(rng, kind)) if kind else None
        attendees = _attendees(guest, index, "declined" in flags)
        organizers = [TEAM[2][1], GUESTS[guest][1]] if "twice" in flags else [DEMO_EMAIL]
        copies = []
        for copy, organizer in enumerate(organizers):
            event_id = f"demo{index:02d}{copy}{rng.getrandbits(40):010x}"
            copies.append(CalendarEvent(
                calendar=calendar, provider_event_id=event_id, ical_uid=f"{event_id}@google.com",
                title=title if copy == 0 else f"{title} (invite from {GUESTS[guest][0]})", start_at=start,
                end_at=start + timedelta(minutes=length), organizer_email=organizer, attendees=attendees,
                meeting_url=link.url if link else None, meeting_platform=link.platform if link else None,
                is_cancelled="cancelled" in flags,
                provider_updated_at=now - timedelta(days=1) if "cancelled" in flags else connected_at,
                raw={"demo": True}))
        events += copies
        wanted.append((copies[0], script, flags))
    db.session.add_all(events)
    db.session.flush()
    bots = []
    for event, script, flags in wanted:
        # As reconcile decides: a cancelled event still had its bot before it was cancelled.
        event.is_cancelled, cancelled = False, event.is_cancelled
        if reconcile.wants_bot(event):
            bots.append(_demo_bot(rng, user, event, script, flags, now, connected_at))
        event.is_cancelled = cancelled
    return len(events), bots


def demo_user() -> User | None:
    """The demo account, or None: not loaded yet, or no tables yet (`flask db upgrade` has not run)."""
    try:
        return User.query.filter_by(email=DEMO_EMAIL).first()
    except SQLAlchemyError:
        db.session.rollback()
        return None


def load_demo(only_if_empty: bool = False, calls: int = 40) -> str:
    if only_if_empty and User.query.first() is not None:
        return "The database already has users; demo not loaded."
    if demo_user() is not None:
        return f"The demo account {DEMO_EMAIL} already exists."
    password = secrets.token_urlsafe(9)
    user = accounts.create_user(DEMO_EMAIL, password, role="admin", name=TEAM[0][0])
    # Before any event exists, so there is nothing to reconcile in the background.
    reconcile.set_auto_record(user, "all")
    rng, now = random.Random(7), utcnow()
    for index in range(calls):
        upsert_call(user, _demo_call(rng, index, now), commit=False)
    events, bots = _demo_calendar(user, rng, now)
    db.session.commit()
    states = {}
    for bot in bots:
        states[bot.state] = states.get(bot.state, 0) + 1
    return (f"Demo loaded: {calls} meetings.\n"
            f"Calendar: Google · {DEMO_EMAIL} with {events} events from yesterday to 5 days ahead; "
            f"{len(bots)} recording bots ({', '.join(f'{n} {state_label(s)}' for s, n in sorted(states.items()))}), "
            "auto-record set to all meetings.\n"
            f"Sign in at http://127.0.0.1:5000/login as {DEMO_EMAIL} with password: {password}\n"
            "(the password is shown only this once; `flask users create` makes more accounts)")
