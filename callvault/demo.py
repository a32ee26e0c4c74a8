"""`flask demo`: a demo admin account and realistic meetings, generated offline and deterministically."""
import random
import secrets
from datetime import timedelta

from . import accounts
from .calls.store import ActionItemData, CallData, ParticipantData, SegmentData, upsert_call
from .models import User, utcnow

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


def load_demo(only_if_empty: bool = False, calls: int = 40) -> str:
    if only_if_empty and User.query.first() is not None:
        return "The database already has users; demo not loaded."
    if User.query.filter_by(email=DEMO_EMAIL).first() is not None:
        return f"The demo account {DEMO_EMAIL} already exists."
    password = secrets.token_urlsafe(9)
    user = accounts.create_user(DEMO_EMAIL, password, role="admin", name=TEAM[0][0])
    rng, now = random.Random(7), utcnow()
    for index in range(calls):
        upsert_call(user, _demo_call(rng, index, now), commit=False)
    from .extensions import db
    db.session.commit()
    return (f"Demo loaded: {calls} meetings.\n"
            f"Sign in at http://127.0.0.1:5000/login as {DEMO_EMAIL} with password: {password}\n"
            "(the password is shown only this once; `flask users create` makes more accounts)")
