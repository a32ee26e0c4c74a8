"""WSGI entry point: `gunicorn app:app` and `flask --app app …`.

A bad or missing setting stops the process here with one line on stderr (see config.exit_on_config_error).
"""
import gc

from callvault import create_app
from callvault.config import exit_on_config_error

with exit_on_config_error():
    app = create_app()
# What the imports and create_app built lives as long as the process: frozen, the garbage collector's
# full passes no longer walk it. Each pass walked ~190,000 objects (100-130 ms on the 2-CPU bench
# machine) inside whichever request was running, every few dozen requests: the slowest 5% of every
# page and search (bench/run_all.py).
gc.freeze()
