"""The admins' setup page: what the operator configured and what each missing setting would turn on."""
from flask import Blueprint, current_app, render_template

from .. import setup_status
from .auth import admin_required

bp = Blueprint("setup_admin", __name__, url_prefix="/admin/setup")


@bp.get("/")
@admin_required
def index():
    return render_template("admin/setup.html", features=setup_status.features(current_app.config),
                           public_base_url=current_app.config["PUBLIC_BASE_URL"])
