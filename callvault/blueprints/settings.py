"""A user's own settings: host emails, personal API tokens, their personal Fathom webhook, the password,
signed-in sessions and AI assistants."""
import json
from pathlib import Path

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, session, url_for

from .. import accounts
from ..bots import reconcile
from ..fathom import webhooks as fathom_webhooks
from ..mcp import oauth as mcp_oauth
from .auth import login_required
from .helpers import sentence

bp = Blueprint("settings", __name__, url_prefix="/settings")
NEW_TOKEN_KEY = "new_api_token"  # shown once, on the page the create form redirects to


@bp.get("/")
@login_required
def index():
    return render_template("settings/index.html", new_token=session.pop(NEW_TOKEN_KEY, None),
                           assistant=_assistant())


def _assistant() -> dict:
    """The "Connect an AI assistant" card: the MCP address, configurations to copy, the granted clients."""
    url = mcp_oauth.resource_url(current_app.config)
    root = Path(current_app.root_path).parent
    local = {"mcpServers": {"callvault": {
        "command": str(root / ".venv" / "bin" / "flask"),
        "args": ["--app", str(root / "app.py"), "mcp", "serve", "--user", g.user.email]}}}
    return {
        "url": url,
        "remote_configs": [
            ("Claude Code", f"claude mcp add --transport http callvault {url}"),
            ("JSON configuration (Cursor, VS Code, Windsurf…)",
             json.dumps({"mcpServers": {"callvault": {"type": "http", "url": url}}}, indent=2)),
            ("With a personal API token instead of signing in",
             json.dumps({"mcpServers": {"callvault": {"type": "http", "url": url, "headers": {
                 "Authorization": "Bearer <your personal API token>"}}}}, indent=2)),
        ],
        "local_config": json.dumps(local, indent=2),
        "grants": mcp_oauth.grants_of(g.user),
    }


def _do(action, done: str, errors, anchor: str = ""):
    """Run `action()` and flash `done`, or the error's message; then back to the settings page (at `anchor`)."""
    try:
        action()
        flash(done, "info")
    except errors as exc:
        flash(sentence(exc), "error")
    return redirect(url_for("settings.index") + anchor)


@bp.post("/host-emails")
@login_required
def add_host_email():
    email = request.form.get("email", "")
    if accounts.has_host_email(g.user, email):
        flash(f"{accounts.normalize_email(email)} is already one of your host emails.", "info")
        return redirect(url_for("settings.index", _anchor="host-emails"))
    try:
        host_email = accounts.add_host_email(g.user, email)
    except accounts.AccountError as exc:
        flash(sentence(exc), "error")
    else:
        flash("Host email added." if host_email.is_approved else
              f"{host_email.email} is waiting for approval: recordings from it reach you once an admin approves "
              "it, or once your own Fathom connection shows it is your account.", "info")
    return redirect(url_for("settings.index", _anchor="host-emails"))


@bp.post("/host-emails/remove")
@login_required
def remove_host_email():
    return _do(lambda: accounts.remove_host_email(g.user, request.form.get("email", "")), "Host email removed.",
               accounts.AccountError)


@bp.post("/tokens")
@login_required
def create_token():
    """Post/Redirect/Get: a reload of the page that shows the token does not mint another."""
    session[NEW_TOKEN_KEY] = accounts.issue_api_token(g.user, request.form.get("name", "").strip() or "token")
    return redirect(url_for("settings.index", _anchor="tokens"))


@bp.post("/tokens/<int:token_id>/revoke")
@login_required
def revoke_token(token_id):
    return _do(lambda: accounts.revoke_api_token(g.user, token_id), "Token revoked.", accounts.AccountError)


@bp.post("/assistants/<int:grant_id>/revoke")
@login_required
def revoke_assistant(grant_id):
    grant = mcp_oauth.revoke_grant(g.user, grant_id)
    if grant is None:
        flash("That assistant is not connected (any more).", "error")
    else:
        flash(f"{grant.client.display_name} is disconnected: its access ends now.", "info")
    return redirect(url_for("settings.index") + "#ai-assistant")


@bp.post("/fathom-webhook")
@login_required
def register_fathom_webhook():
    return _do(lambda: fathom_webhooks.register_personal_webhook(g.user),
               "Personal Fathom webhook registered: your new recordings will arrive by themselves.",
               fathom_webhooks.WebhookSetupError, "#fathom-webhook")


@bp.post("/fathom-webhook/delete")
@login_required
def delete_fathom_webhook():
    return _do(lambda: fathom_webhooks.delete_personal_webhook(g.user), "Personal Fathom webhook deleted.",
               fathom_webhooks.WebhookSetupError, "#fathom-webhook")


@bp.post("/auto-record")
@login_required
def set_auto_record():
    return _do(lambda: reconcile.set_auto_record(g.user, request.form.get("auto_record", "")),
               "Recording bots: saved. Your upcoming meetings are updated in a moment.", ValueError, "#auto-record")


@bp.post("/password")
@login_required
def change_password():
    return _do(lambda: accounts.change_password(g.user, request.form.get("current_password", ""),
                                                request.form.get("new_password", ""), keep_session=session.get("sid")),
               "Password changed. You were signed out everywhere else.", accounts.AccountError, "#account")


@bp.post("/sign-out-everywhere")
@login_required
def sign_out_everywhere():
    """Ends every session of the account, this one included."""
    accounts.end_other_sessions(g.user)
    session.clear()
    flash("Signed out everywhere.", "info")
    return redirect(url_for("auth.login"))
