"""`flask webhooks …`: operating on logged webhook deliveries."""
import click
from flask.cli import AppGroup

from ..cli_support import clear_errors
from . import intake

webhooks = AppGroup("webhooks", help="Logged webhook deliveries.")


@webhooks.command("replay")
@click.argument("delivery_id", type=int)
@clear_errors(intake.ReplayRefused)
def replay(delivery_id):
    """Process a logged delivery again (after fixing what made it fail)."""
    delivery = intake.replay(delivery_id)
    if delivery.status != "success":
        raise click.ClickException(f"delivery {delivery_id} failed again: {delivery.error_message}")
    click.echo(f"Delivery {delivery_id} processed: call {delivery.call_id}.")
