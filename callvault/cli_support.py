"""What every `flask …` command shares: fail with one clear line, read a secret from stdin.

It imports no feature, so any feature's commands can use it; `callvault/cli.py` is the one place that
registers the commands, and no feature imports that.
"""
import functools
import sys

import click


def clear_errors(*handled):
    """Turn the listed exceptions into `Error: <message>` and exit code 1."""
    def decorator(fn):
        @functools.wraps(fn)
        def wrapped(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except handled as exc:
                raise click.ClickException(str(exc)) from None
        return wrapped
    return decorator


def read_secret_from_stdin(what: str) -> str:
    value = sys.stdin.readline().strip()
    if not value:
        raise click.ClickException(f"no {what} on standard input")
    return value
