"""`flask bots …`: create missing bots, run the dispatcher now, list bots."""
from datetime import timedelta

import click
from flask.cli import AppGroup
from sqlalchemy import select

from ..extensions import db
from ..models import Bot, utcnow
from . import dispatcher, reconcile

bots = AppGroup("bots", help="Recording bots.")


@bots.command("ensure")
@click.option("--days", type=click.IntRange(1, 60), default=7, show_default=True, help="How far ahead to look.")
@click.option("--dry-run", is_flag=True, help="Say what would change; change nothing.")
def ensure(days, dry_run):
    """Create bots for upcoming meetings that lack one (and cancel bots no calendar wants)."""
    plan = reconcile.ensure(days, dry_run=dry_run)
    verb = "would " if dry_run else ""
    for label, items in (("create", plan.created), ("move", plan.moved), ("re-link", plan.relinked),
                         ("cancel", plan.cancelled)):
        for item in items:
            click.echo(f"{verb}{label}: {item}")
    click.echo(f"{'Dry run: ' if dry_run else ''}{len(plan.created)} to create, {len(plan.moved)} moved, "
               f"{len(plan.relinked)} re-linked, {len(plan.cancelled)} cancelled in the next {days} days.")
    if not dry_run and plan.changed:
        click.echo("The dispatcher sends them to the bot service ahead of their join time "
                   "(`flask bots dispatch` does it now).")


@bots.command("dispatch")
def dispatch():
    """Run the dispatcher once now: create, reschedule, withdraw and poll bots at the service."""
    counts = dispatcher.tick()
    click.echo(", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in sorted(counts.items())) or "nothing to do")


@bots.command("list")
@click.option("--days", type=click.IntRange(1, 60), default=2, show_default=True, help="From this many days back.")
def list_bots(days):
    """Bots joining from `--days` ago onwards, with their state and why."""
    rows = db.session.scalars(select(Bot).where(Bot.join_at >= utcnow() - timedelta(days=days))
                              .order_by(Bot.join_at, Bot.id))
    for bot in rows:
        click.echo(f"{bot.id}\t{bot.join_at:%Y-%m-%d %H:%M}Z\t{bot.state}\t{bot.attendee_id or '-'}\t"
                   f"{bot.title or bot.meeting_url}\t{bot.state_reason or ''}")
