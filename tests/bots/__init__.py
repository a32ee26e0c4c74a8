"""Recording bots: the Attendee client, reconciling with calendars, the dispatcher, webhooks and transcripts."""
