"""Readable words for the states and statuses stored in the database, one mapping for every page."""

STATE_LABELS = {
    # recording bots
    "staged": "about to join", "joining": "joining",
    "waiting_room": "in the waiting room", "joined_not_recording": "in the meeting, not recording",
    "joined_recording": "recording", "joined_recording_paused": "recording paused", "leaving": "leaving",
    "post_processing": "processing", "fatal_error": "failed", "data_deleted": "deleted",
    # connections and setup stages
    "needs_attention": "needs attention", "not_set_up": "not set up",
    # meeting platforms
    "google_meet": "Google Meet", "zoom": "Zoom", "teams": "Teams", "webex": "Webex",
}


def state_label(value) -> str:
    """`joined_recording` → "recording"; an unknown state reads with spaces for underscores."""
    if value is None:
        return ""
    value = str(value)
    return STATE_LABELS.get(value, value.replace("_", " "))
