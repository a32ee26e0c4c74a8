"""Sign-in for the admin pages, and the decorators that guard them."""
import functools
import time
from urllib.parse import urlparse

from flask import (Blueprint, abort, current_app, flash, g, redirect, render_template, request, session,
                   url_for)

from .. import accounts
from ..extensions import db
from .helpers import sentence

bp = Blueprint("auth", __name__)


@bp.before_app_request
def load_signed_in_user():
    g.user = None
    user_id = session.get("uid")
    if user_id is None:
        return
    if time.time() - session.get("signed_in_at", 0) > current_app.config["SESSION_LIFETIME_SECONDS"]:
        session.clear()
        g.session_expired = True
        return
    user = accounts.session_user(session.get("sid"), user_id)
    if user is None:  # signed out (here or everywhere), password changed, or the account deactivated
        session.clear()
        return
    g.user = user


def login_required(view):
    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        if g.user is None:
            if g.get("session_expired"):
                flash("Your session expired. Please sign in again.", "warning")
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)
    return wrapped


def admin_required(view):
    @functools.wraps(view)
    @login_required
    def wrapped(*args, **kwargs):
        if not g.user.is_admin:
            abort(404)
        return view(*args, **kwargs)
    return wrapped


def own_or_404(model, row_id: int):
    """The signed-in user's row of `model` (it has a user_id), or 404 for anyone else's or none."""
    row = db.session.get(model, row_id)
    if row is None or row.user_id != g.user.id:
        abort(404)
    return row


def safe_next(target: str | None) -> str:
    """Only same-site paths: never an open redirect."""
    if not target:
        return url_for("calls.library")
    parsed = urlparse(target)
    if parsed.scheme or parsed.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("calls.library")
    return target


@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "GET":
        if g.user:
            return redirect(safe_next(request.args.get("next")))
        return render_template("auth/login.html", email="", next=request.args.get("next", ""))
    email = request.form.get("email", "")
    try:
        user = accounts.authenticate(email, request.form.get("password", ""), request.remote_addr or "?")
    except accounts.LoginThrottled as exc:
        flash(sentence(exc), "error")
        page = render_template("auth/login.html", email=email, next=request.form.get("next", ""))
        return page, 429, {"Retry-After": str(exc.retry_after)}
    if user is None:
        flash("Wrong email or password.", "error")
        return render_template("auth/login.html", email=email, next=request.form.get("next", "")), 401
    session.clear()
    session["uid"] = user.id
    session["sid"] = accounts.start_session(user)
    session["signed_in_at"] = time.time()
    return redirect(safe_next(request.form.get("next")))


@bp.post("/logout")
def logout():
    """Ends this session on the server too: a copy of the cookie taken before signs nobody in."""
    accounts.end_session(session.get("sid"))
    session.clear()
    flash("Signed out.", "info")
    return redirect(url_for("auth.login"))
