"""The admins' setup page: what the operator configured and what each missing setting would turn on."""
from flask import Blueprint, current_app, render_template

from .. import setup_status
from ..bots import lifecycle
from ..fathom import webhooks as fathom_webhooks
from .auth import admin_required

bp = Blueprint("setup_admin", __name__, url_prefix="/admin/setup")


@bp.get("/")
@admin_required
def index():
    return render_template("admin/setup.html", features=setup_status.features(current_app.config),
                           fathom_webhook_url=fathom_webhooks.oauth_app_webhook_url(),
                           attendee_webhook_url=lifecycle.webhook_url())
