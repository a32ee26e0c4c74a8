"""`flask fathom …`: connect a user's API key, check credentials, sync with a progress bar."""
import click
from flask.cli import AppGroup

from .. import accounts
from ..cli_support import clear_errors, read_secret_from_stdin
from ..extensions import db
from ..models import SyncJob
from . import credentials, sync
from .client import FathomError

fathom = AppGroup("fathom", help="Fathom: connect, check and sync.")


@fathom.command("connect")
@click.argument("email")
@click.option("--api-key-stdin", is_flag=True, required=True, help="Read the API key from standard input.")
@clear_errors(accounts.AccountError, credentials.ConnectError)
def connect(email, api_key_stdin):
    """Store a user's Fathom API key (checked with Fathom first, stored encrypted)."""
    user = accounts.find_user(email)
    click.echo(credentials.connect_api_key(user, read_secret_from_stdin("API key")))


@fathom.command("test-connection")
@click.argument("email")
@clear_errors(accounts.AccountError)
def test_connection(email):
    """Check each stored Fathom credential of a user with one call."""
    results = credentials.test_connection(accounts.find_user(email))
    if not results:
        raise click.ClickException(f"{email} has no Fathom credentials; use `flask fathom connect`")
    for result in results:
        click.echo(result.message, err=not result.ok)
    if not any(r.ok for r in results):
        raise click.ClickException("no Fathom credential works")


@fathom.command("sync")
@click.argument("email")
@click.option("--since", default=None, help="First day (YYYY-MM-DD), by when Fathom created the recording.")
@click.option("--until", default=None, help="Last day (YYYY-MM-DD), included.")
@clear_errors(accounts.AccountError, sync.SyncError, FathomError)
def sync_command(email, since, until):
    """Sync a user's Fathom meetings now, in this process, with a progress bar."""
    user = accounts.find_user(email)
    job = sync.start_sync(user, since=sync.parse_day(since, "--since"), until=sync.parse_day(until, "--until"),
                          enqueue_job=False)
    with click.progressbar(length=1, label=f"Sync #{job.id}", show_pos=True, show_eta=False) as bar:
        def progress(job: SyncJob):
            bar.length = max(job.total, 1)
            bar.update(job.done + job.failed - bar.pos)

        finished = sync.run_sync(job.id, on_progress=progress)
    db.session.refresh(finished)
    click.echo(f"{finished.done} synced, {finished.failed} failed of {finished.total} meetings ({finished.status}).")
    for item in finished.items:
        if item.status == "failed":
            click.echo(f"  {item.external_id} {item.title or ''}: {item.error}", err=True)
    if finished.status == "failed":
        raise click.ClickException(finished.error or "the sync failed")
    if finished.failed:
        raise click.ClickException(f"{finished.failed} meeting(s) failed; see above")
