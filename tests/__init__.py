"""CallVault's tests, by area.

fathom/, webhooks/, calendars/, bots/, search/, exports/: one folder per feature; web/: sign-in, the
library, the API, settings, the dashboard and the transcript viewer; core/: configuration,
encryption, migrations, queues and the worker, the store, the CLI and the demo. Browser tests sit in
their area and have `browser` in their names.

Fixtures: tests/conftest.py (the app, its client and runner, users, calls) and tests/fixtures/ by
domain, loaded by conftest's `pytest_plugins`. Plain helpers: tests/support/, imported normally.
The fake external services the fixtures start live outside the tests, in sandboxes/.
"""
