"""WSGI entry point: `gunicorn app:app` and `flask --app app …`."""
import sys

from callvault import create_app
from callvault.config import ConfigError

try:
    app = create_app()
except ConfigError as exc:
    sys.exit(f"CallVault cannot start: {exc}")
