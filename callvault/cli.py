"""`flask …` commands. Each fails with one clear line on stderr and a non-zero exit.

This module registers every command group (`register_cli`); the helpers the groups share live in
`cli_support`, so no feature imports this module back.
"""
import secrets
import sys

import click
from flask import Flask
from flask.cli import AppGroup, with_appcontext

from . import accounts, crypto
from .cli_support import clear_errors, read_secret_from_stdin
from .extensions import db


users = AppGroup("users", help="Manage accounts.")


@users.command("create")
@click.argument("email")
@click.option("--admin", is_flag=True, help="Give the account the admin role.")
@click.option("--name", default=None, help="Display name.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@clear_errors(accounts.AccountError)
def users_create(email, admin, name, password_stdin):
    """Create an account. Without --password-stdin a password is generated and printed once."""
    password = read_secret_from_stdin("password") if password_stdin else secrets.token_urlsafe(12)
    user = accounts.create_user(email, password, role="admin" if admin else "member", name=name)
    click.echo(f"Created {user.role} {user.email}")
    if not password_stdin:
        click.echo(f"Password (shown once): {password}")


@users.command("token")
@click.argument("email")
@click.option("--name", default="cli", help="A label for the token.")
@clear_errors(accounts.AccountError)
def users_token(email, name):
    """Print a new personal API token."""
    click.echo(accounts.issue_api_token(accounts.find_user(email), name))


@users.command("host-email")
@click.argument("email")
@click.option("--add", "add", multiple=True, help="Address to add.")
@click.option("--remove", "remove", multiple=True, help="Address to remove.")
@clear_errors(accounts.AccountError)
def users_host_email(email, add, remove):
    """Manage a user's host emails (the addresses their recordings come from)."""
    user = accounts.find_user(email)
    for address in add:
        accounts.add_host_email(user, address, approval="added by an operator (flask users host-email)")
    for address in remove:
        accounts.remove_host_email(user, address)
    db.session.refresh(user)
    click.echo(", ".join(h.email + ("" if h.is_approved else " (waiting for approval)") for h in user.host_emails)
               or "(no host emails)")


keys = AppGroup("keys", help="Encryption keys for stored secrets.")


@keys.command("rotate")
def keys_rotate():
    """Re-encrypt every stored secret with the newest CREDENTIALS_ENCRYPTION_KEY."""
    count, problems = crypto.rotate_all(db.session)
    click.echo(f"Re-encrypted {count} secret{'s' if count != 1 else ''} with the newest key.")
    for problem in problems:
        click.echo(f"Error: {problem}", err=True)
    if problems:
        sys.exit(1)


@click.command("demo")
@with_appcontext
@click.option("--if-empty", is_flag=True, help="Do nothing when the database already has users.")
def demo_command(if_empty):
    """Load the sandbox: a demo admin account with realistic meetings, offline."""
    from .demo import load_demo

    message = load_demo(only_if_empty=if_empty)
    click.echo(message)


def register_cli(app: Flask) -> None:
    """Every `flask …` command group, registered here and only here."""
    from .bots.cli import bots
    from .calendars.cli import calendars, watch_channels
    from .exports.cli import exports
    from .fathom.cli import fathom
    from .mcp.cli import mcp
    from .search.cli import search
    from .transcripts.cli import transcripts
    from .webhooks.cli import webhooks

    for command in (users, keys, demo_command, exports, transcripts, webhooks, fathom, search, calendars,
                    watch_channels, bots, mcp):
        app.cli.add_command(command)
