"""`flask bots …`: create missing bots, run the dispatcher now, send a bot now, list bots."""
from datetime import timedelta

import click
from flask.cli import AppGroup
from sqlalchemy import select

from ..cli_support import clear_errors
from ..extensions import db
from ..models import Bot, utcnow
from . import actions, dispatcher, reconcile

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


@bots.command("send")
@click.argument("event_id", type=int)
@clear_errors(actions.ActionRefused, RuntimeError)
def send(event_id):
    """Send a bot now to the meeting of calendar event EVENT_ID, if it is still running (late join)."""
    sent = actions.send_now(event_id)
    bot = sent.bot
    if sent.already_there:
        click.echo(f"Bot {bot.id} is already in the meeting ({bot.state.replace('_', ' ')}); nothing sent.")
        return
    dispatcher.dispatch_bot(bot.id)
    db.session.refresh(bot)
    if bot.attendee_id is None or bot.send_now_at is not None:
        raise click.ClickException(f"bot {bot.id} could not be sent: {bot.last_error or bot.state_reason}; "
                                   "the dispatcher keeps trying every minute while the meeting runs")
    click.echo(f"Bot {bot.id} sent to {bot.title or bot.meeting_url}: service bot {bot.attendee_id}, "
               f"{bot.state.replace('_', ' ')}.")


@bots.command("retry-transcript")
@click.argument("bot_id", type=int)
@clear_errors(actions.ActionRefused)
def retry_transcript(bot_id):
    """Fetch an ended bot's transcript again (after its retries ran out)."""
    bot = db.session.get(Bot, bot_id)
    if bot is None:
        raise click.ClickException(f"there is no bot {bot_id}")
    actions.fetch_transcript_again(bot)
    click.echo(f"Bot {bot_id}: the transcript is being fetched again.")


@bots.command("list")
@click.option("--days", type=click.IntRange(1, 60), default=2, show_default=True, help="From this many days back.")
def list_bots(days):
    """Bots joining from `--days` ago onwards, with their state and why, and what to do about a problem."""
    rows = db.session.scalars(select(Bot).where(Bot.join_at >= utcnow() - timedelta(days=days))
                              .order_by(Bot.join_at, Bot.id))
    for bot in rows:
        click.echo(f"{bot.id}\t{bot.join_at:%Y-%m-%d %H:%M}Z\t{bot.state}\t{bot.attendee_id or '-'}\t"
                   f"{bot.title or bot.meeting_url}\t{bot.state_reason or ''}{_problem(bot)}")


def _problem(bot: Bot) -> str:
    if bot.state == "ended" and bot.call_id is None and bot.transcript_attempts >= dispatcher.MAX_TRANSCRIPT_ATTEMPTS:
        return (f"\ttranscript never arrived after {bot.transcript_attempts} tries ({bot.transcript_error or 'no error'})"
                f": retry with `flask bots retry-transcript {bot.id}`")
    if bot.state in ("fatal_error", "missed") and bot.event_id and actions.still_running(bot):
        return f"\tthe meeting is still running: `flask bots send {bot.event_id}`"
    return ""
