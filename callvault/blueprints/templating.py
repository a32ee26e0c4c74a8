"""Every filter and global the templates use, registered in one place by `init_app(app)`.

The functions live with what they are about (rendering in calls.render, share links in
transcripts.links, …); only the thin glue a template needs is written here.
"""
from flask import Flask, g, session

from ..bots.listing import words as bot_state_words
from ..bots.reconcile import auto_record, auto_record_words
from ..calendars import connections, push
from ..calls.formats import clock
from ..calls.render import markdown_to_safe_html, speaker_colour
from ..exports.outbox import configured_targets
from ..labels import state_label
from ..models import Calendar
from ..safe_urls import http_url
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


FILTERS = {
    "markdown": markdown_to_safe_html,
    "clock": clock_filter,
    # Every stored URL rendered as an href or src goes through this: anything but http(s) renders no link.
    "safe_url": http_url,
    "state": state_label,
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
}


def init_app(app: Flask) -> None:
    app.jinja_env.filters.update(FILTERS)
    app.jinja_env.globals.update(GLOBALS)
