"""Google and Microsoft calendars: connecting, syncing events, push notifications.

Plain modules, no Flask requests: the blueprint, the jobs and the CLI call into them.
Facts about the providers' APIs, with sources, are in docs/calendar-apis.md.
"""
