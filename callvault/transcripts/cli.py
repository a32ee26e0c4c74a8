"""`flask transcripts …`: signed viewer links."""
import click
from flask.cli import AppGroup

from . import links

transcripts = AppGroup("transcripts", help="Transcript viewer links.")


@transcripts.command("link")
@click.argument("meeting_id")
@click.argument("email")
@click.option("--days", type=click.IntRange(1, 3650), default=None,
              help="How long the link works (default TRANSCRIPT_LINK_DAYS, 30).")
def transcripts_link(meeting_id, email, days):
    """Print a signed transcript-viewer URL for EMAIL, who must have been in the meeting."""
    call = links.find_meeting(meeting_id)
    if call is None:
        raise click.ClickException(f"no meeting {meeting_id}")
    try:
        click.echo(links.make_link(call, email, days=days))
    except links.LinkConfigError as exc:
        raise click.ClickException(str(exc)) from None
    except links.LinkError:
        raise click.ClickException(f"{email.strip().lower()} is not the owner, organizer or an attendee of "
                                   f"meeting {call.id}") from None
