"""`flask calendars …` and `flask watch-channels manage`."""
import click
from flask.cli import AppGroup

from ..cli_support import clear_errors
from ..extensions import db
from ..models import Calendar, WatchChannel
from . import connections, push, sync
from .transport import CalendarError

calendars = AppGroup("calendars", help="Google and Microsoft calendars.")
watch_channels = AppGroup("watch-channels", help="Push notifications: Google channels, Microsoft subscriptions.")


@calendars.command("setup-pilot")
@clear_errors(CalendarError)
def setup_pilot():
    """Create service-account calendars for PILOT_USERS (domain-wide delegation). Idempotent."""
    results = connections.setup_pilot_calendars()
    problems = 0
    for email, outcome, calendar in results:
        if calendar is None:
            problems += 1
            click.echo(f"{email}: {outcome}", err=True)
        else:
            click.echo(f"{email}: {outcome} (calendar {calendar.id}, {calendar.deduplication_key})")
    click.echo("Run `flask calendars sync` to sync now; the scheduler syncs every 30 minutes.")
    if problems:
        raise click.ClickException(f"{problems} pilot user(s) could not be set up; see above")


@calendars.command("sync")
@click.option("--calendar", "calendar_id", type=int, default=None, help="Only this calendar (its id).")
@click.option("--full", is_flag=True, help="A full sync of the window instead of an incremental one.")
def sync_command(calendar_id, full):
    """Sync connected calendars now, in this process."""
    if calendar_id is not None:
        calendar = db.session.get(Calendar, calendar_id)
        if calendar is None:
            raise click.ClickException(f"there is no calendar {calendar_id}")
        targets = [calendar]
    else:
        targets = Calendar.query.filter_by(state="connected").order_by(Calendar.id).all()
        if not targets:
            click.echo("No connected calendars.")
    failed = 0
    for calendar in targets:
        label = calendar.label
        result = sync.sync_calendar(calendar.id, full=full)
        if result.status == "ok":
            click.echo(f"Calendar {calendar.id} {label}: {result.kind} sync, {result.events} event(s) stored.")
        else:
            failed += 1
            click.echo(f"Calendar {calendar.id} {label}: {result.status}: {result.message}", err=True)
    if failed:
        raise click.ClickException(f"{failed} calendar(s) did not sync; see above")


@watch_channels.command("manage")
@click.option("--list", "list_only", is_flag=True, help="Show the channels and stop there.")
@click.option("--renew-expiring", is_flag=True, help="Only renew channels that expire within a day.")
@click.option("--stop", is_flag=True, help="Stop every active channel.")
def manage(list_only, renew_expiring, stop):
    """Create, renew and stop push-notification channels.

    Without options it does what the hourly job does: create missing channels, renew the ones
    expiring within a day, stop those of disconnected calendars.
    """
    if list_only:
        channels = WatchChannel.query.order_by(WatchChannel.calendar_id, WatchChannel.id).all()
        for channel in channels:
            seen = channel.last_notification_at.strftime("%Y-%m-%d %H:%M") if channel.last_notification_at else "never"
            click.echo(f"{channel.id}\tcalendar {channel.calendar_id}\t{channel.provider}\t{channel.state}\t"
                       f"expires {channel.expires_at:%Y-%m-%d %H:%M} UTC\tlast notification {seen}")
        if not channels:
            click.echo("No channels.")
        return
    if stop:
        click.echo(f"Stopped {push.stop_all_channels()} channel(s).")
        return
    report = push.manage_channels(create_missing=not renew_expiring)
    click.echo(f"{report.created} created, {report.renewed} renewed, {report.stopped} stopped, "
               f"{report.failed} failed.")
    if report.failed:
        for calendar in Calendar.query.filter(Calendar.push_error.isnot(None)).order_by(Calendar.id):
            click.echo(f"Calendar {calendar.id} {calendar.label}: {calendar.push_error}", err=True)
        raise click.ClickException(f"{report.failed} channel(s) could not be created or renewed")

