"""`flask exports …`: push meetings to the output hub now."""
import sys

import click
from flask.cli import AppGroup

from ..calls.queries import QueryError, parse_datetime
from ..extensions import db
from ..models import CallExport
from . import outbox, runner

exports = AppGroup("exports", help="The output hub and outgoing webhooks.")


@exports.command("run")
@click.option("--since", default=None, help="Also (re-)export every call that started on or after this date.")
@click.option("--target", type=click.Choice(["database", "webhook"]), default=None,
              help="Only this target (default: every configured one).")
def exports_run(since, target):
    """Deliver pending and failed exports now; with --since, backfill calls from that date."""
    if not outbox.configured_targets():
        raise click.ClickException(outbox.MISSING_TARGETS)
    if target and target not in outbox.configured_targets():
        setting = "EXPORT_DATABASE_URL" if target == "database" else "EXPORT_WEBHOOK_URL"
        raise click.ClickException(f"the {target} target is not configured: set {setting}")
    try:
        since_at = parse_datetime(since, "--since")
    except QueryError as exc:
        raise click.ClickException(str(exc)) from None
    targets = [target] if target else None
    ids = outbox.make_due(since=since_at, targets=targets, include_done=True) if since_at else \
        outbox.make_due(targets=targets)
    delivered, failed = 0, []
    with click.progressbar(ids, label="Exporting", file=sys.stderr) as bar:
        for export_id in bar:
            status = runner.run_export(export_id)
            if status == "failed":
                failed.append(export_id)
            elif status == "done":
                delivered += 1
    click.echo(f"Delivered {delivered} of {len(ids)} export{'s' if len(ids) != 1 else ''}.")
    for export in db.session.scalars(db.select(CallExport).where(CallExport.id.in_(failed))):
        click.echo(f"Error: call {export.call_id} → {export.target}: {export.last_error}", err=True)
    if failed:
        raise SystemExit(1)
