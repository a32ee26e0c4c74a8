"""Every filter and global the templates use, registered in one place by `init_app(app)`.

The functions live with what they are about (rendering in calls.render, share links in
transcripts.links, …); only the thin glue a template needs is written here.
"""
import re

from flask import Flask, current_app, g, session

from ..bots.listing import words as bot_state_words
from ..bots.reconcile import auto_record, auto_record_words
from ..calendars import connections, push
from ..calls.formats import clock
from ..calls.render import markdown_to_safe_html, speaker_colour
from ..exports.outbox import configured_targets
from ..labels import state_label
from ..models import Calendar
from ..safe_urls import http_url
from ..setup_status import is_on
from ..tracked_work import duration_seconds
from ..transcripts.links import share_links
from ..transcripts.view import transcript_items
from . import calendars as calendar_pages


def clock_filter(ms):
    """A transcript timestamp: mm:ss, or hh:mm:ss past an hour."""
    return clock(ms, None, hours_always=False)


def calendar_next_renewal(calendar: Calendar):
    """When the calendar's push channel is renewed, or None without one."""
    channel = calendar.active_channel
    return channel.expires_at - push.RENEW_BEFORE if channel else None


def calendars_needing_attention() -> list[Calendar]:
    """The signed-in user's calendars the provider disconnected (the banner on every page), but for
    those whose banner they dismissed this session."""
    user = g.get("user")
    if user is None:
        return []
    dismissed = set(session.get(calendar_pages.DISMISSED_NOTICES, []))
    return [c for c in connections.needing_attention(user) if calendar_pages.notice_key(c) not in dismissed]


SETTING_NAME = re.compile(r"\b[A-Z][A-Z0-9]*_[A-Z0-9_]*[A-Z0-9]\b")  # AI_API_BASE_URL, EXPORT_WEBHOOK_SECRET…
NOT_SET_UP = "This is not set up on this server yet; an administrator can see what is missing."


def for_reader(message):
    """A message as the signed-in person may read it: one that names a server setting is operator
    configuration, shown to admins only (the setup page lists it); everyone else reads plain words."""
    user = g.get("user")
    if not message or (user is not None and user.is_admin) or not SETTING_NAME.search(str(message)):
        return message
    return NOT_SET_UP


def feature_on(key: str) -> bool:
    """Whether the operator configured a feature (setup_status.FEATURES), for buttons that need it."""
    return is_on(current_app.config, key)


FILTERS = {
    "markdown": markdown_to_safe_html,
    "clock": clock_filter,
    # Every stored URL rendered as an href or src goes through this: anything but http(s) renders no link.
    "safe_url": http_url,
    "state": state_label,
    "for_reader": for_reader,
    "transcript_items": transcript_items,
}

GLOBALS = {
    "speaker_colour": speaker_colour,
    "transcript_share_links": share_links,
    "export_targets": configured_targets,
    "bot_auto_record": auto_record,
    "bot_auto_record_words": auto_record_words,
    "bot_state_words": bot_state_words,
    "calendar_next_renewal": calendar_next_renewal,
    "calendars_needing_attention": calendars_needing_attention,
    "feature_on": feature_on,
    "job_seconds": duration_seconds,
}


def init_app(app: Flask) -> None:
    app.jinja_env.filters.update(FILTERS)
    app.jinja_env.globals.update(GLOBALS)
