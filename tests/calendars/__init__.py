"""Calendars: Google and Microsoft OAuth, domain-wide delegation, sync, push channels, meeting links."""
