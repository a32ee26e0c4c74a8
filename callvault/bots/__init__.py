"""Recording bots: one per meeting from the calendars, sent to an Attendee-compatible bot service."""
