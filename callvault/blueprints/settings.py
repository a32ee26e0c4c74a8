"""A user's own settings: host emails and personal API tokens."""
from flask import Blueprint, flash, g, redirect, render_template, request, url_for

from .. import accounts
from .auth import login_required

bp = Blueprint("settings", __name__, url_prefix="/settings")


@bp.get("/")
@login_required
def index():
    return render_template("settings/index.html", new_token=None)


@bp.post("/host-emails")
@login_required
def add_host_email():
    try:
        accounts.add_host_email(g.user, request.form.get("email", ""))
        flash("Host email added.", "info")
    except accounts.AccountError as exc:
        flash(str(exc).capitalize() + ".", "error")
    return redirect(url_for("settings.index"))


@bp.post("/host-emails/remove")
@login_required
def remove_host_email():
    try:
        accounts.remove_host_email(g.user, request.form.get("email", ""))
        flash("Host email removed.", "info")
    except accounts.AccountError as exc:
        flash(str(exc).capitalize() + ".", "error")
    return redirect(url_for("settings.index"))


@bp.post("/tokens")
@login_required
def create_token():
    token = accounts.issue_api_token(g.user, request.form.get("name", "").strip() or "token")
    return render_template("settings/index.html", new_token=token)


@bp.post("/tokens/<int:token_id>/revoke")
@login_required
def revoke_token(token_id):
    try:
        accounts.revoke_api_token(g.user, token_id)
        flash("Token revoked.", "info")
    except accounts.AccountError as exc:
        flash(str(exc).capitalize() + ".", "error")
    return redirect(url_for("settings.index"))
