"""The admins' accounts page: create accounts, roles, deactivation, and approving host emails."""
from flask import Blueprint, flash, g, redirect, render_template, request, url_for

from .. import accounts
from .auth import admin_required
from .helpers import sentence

bp = Blueprint("accounts_admin", __name__, url_prefix="/admin/users")


@bp.get("/")
@admin_required
def index():
    return _page()


def _page(new_account=None, status: int = 200):
    return render_template("admin/users.html", users=accounts.all_users(),
                           pending=accounts.pending_host_emails(), new_account=new_account), status


@bp.post("/")
@admin_required
def create():
    """The one-time password is shown in this answer only (it is not stored anywhere readable)."""
    form = request.form
    try:
        user, password = accounts.create_user_with_one_time_password(
            form.get("email", ""), role="admin" if form.get("role") == "admin" else "member",
            name=form.get("name", "").strip()[:200] or None)
    except accounts.AccountError as exc:
        flash(sentence(exc), "error")
        return _page(status=400)
    return _page(new_account={"email": user.email, "password": password}, status=201)


def _act(action, done):
    """Run `action()`; flash `done(result)` or the error; back to the accounts page."""
    try:
        result = action()
        flash(done(result), "info")
    except accounts.AccountError as exc:
        flash(sentence(exc), "error")
    return redirect(url_for("accounts_admin.index"))


@bp.post("/<int:user_id>/role")
@admin_required
def set_role(user_id: int):
    role = "admin" if request.form.get("role") == "admin" else "member"

    def change():
        user = accounts.user_by_id(user_id)
        accounts.set_role(user, role, g.user)
        return user
    return _act(change, lambda user: f"{user.email} is now {'an admin' if role == 'admin' else 'a member'}.")


@bp.post("/<int:user_id>/active")
@admin_required
def set_active(user_id: int):
    active = request.form.get("active") == "1"

    def change():
        user = accounts.user_by_id(user_id)
        accounts.set_active(user, active, g.user)
        return user
    return _act(change, lambda user: f"{user.email} can sign in again." if active else
                f"{user.email} is deactivated: they cannot sign in, and their API tokens stop working.")


@bp.post("/<int:user_id>/host-emails")
@admin_required
def add_host_email(user_id: int):
    def add():
        return accounts.add_host_email(accounts.user_by_id(user_id), request.form.get("email", ""),
                                       approval=f"approved by {g.user.email}")
    return _act(add, lambda host_email: f"{host_email.email} now routes recordings to {host_email.user.email}.")


@bp.post("/host-emails/<int:host_email_id>/approve")
@admin_required
def approve_host_email(host_email_id: int):
    def approve():
        host_email = accounts.host_email_by_id(host_email_id)
        return host_email, accounts.approve_host_email(host_email, g.user)

    def done(result):
        host_email, requeued = result
        again = f" {requeued} waiting deliver{'y is' if requeued == 1 else 'ies are'} processed again." if requeued else ""
        return f"{host_email.email} now routes recordings to {host_email.user.email}.{again}"
    return _act(approve, done)


@bp.post("/host-emails/<int:host_email_id>/reject")
@admin_required
def reject_host_email(host_email_id: int):
    return _act(lambda: accounts.reject_host_email(accounts.host_email_by_id(host_email_id), g.user),
                lambda email: f"{email} was rejected and removed.")
