"""WSGI entry point: `gunicorn app:app` and `flask --app app …`.

A bad or missing setting stops the process here with one line on stderr (see config.exit_on_config_error).
"""
from callvault import create_app
from callvault.config import exit_on_config_error

with exit_on_config_error():
    app = create_app()
