"""Exports: a user's zip bundles, and re-running deliveries to the output hub."""
from flask import (Blueprint, Response, abort, flash, g, redirect, render_template, request, stream_with_context,
                   url_for)

from ..calls import formats, queries
from ..exports import bundles, outbox
from ..extensions import db, htmx
from ..models import ExportBundle, WorkStatus
from .auth import admin_required, login_required, own_or_404
from .helpers import sentence

bp = Blueprint("exports", __name__, url_prefix="/exports")


def _own_bundle(bundle_id: int) -> ExportBundle:
    return own_or_404(ExportBundle, bundle_id)


@bp.get("/")
@login_required
def index():
    recent = db.session.scalars(db.select(ExportBundle).where(ExportBundle.user_id == g.user.id)
                                .order_by(ExportBundle.id.desc()).limit(10)).all()
    return render_template("exports/index.html", bundles=recent, formats=list(formats.FORMATS),
                           owned=bundles.owned_count(g.user))


@bp.post("/bundles")
@login_required
def create_bundle():
    try:
        bundle = bundles.start(g.user, request.form.getlist("formats"))
    except bundles.BundleError as exc:
        flash(sentence(exc), "error")
        return redirect(url_for("exports.index"))
    if bundle.status == "failed":
        flash(sentence(bundle.error), "error")
    return redirect(url_for("exports.index"))


@bp.get("/bundles/<int:bundle_id>")
@login_required
def bundle_status(bundle_id):
    bundle = _own_bundle(bundle_id)
    if htmx:
        return render_template("exports/_bundle.html", bundle=bundle)
    return redirect(url_for("exports.index"))


@bp.get("/bundles/<int:bundle_id>/download")
@login_required
def bundle_download(bundle_id):
    bundle = _own_bundle(bundle_id)
    if bundle.status != WorkStatus.SUCCEEDED:
        abort(404)
    filename = f"callvault-export-{bundle.created_at:%Y-%m-%d}-{bundle.id}.zip"
    return Response(stream_with_context(bundles.stream(bundle.id)), mimetype="application/zip", headers={
        "Content-Disposition": f'attachment; filename="{filename}"', "Content-Length": str(bundle.size_bytes)})


@bp.post("/calls/<int:call_id>/run")
@login_required
def run_call(call_id):
    """Deliver one call to every configured target again (the call page's button)."""
    call = queries.get_call_for(g.user, call_id) or abort(404)
    if not outbox.configured_targets():
        flash(outbox.MISSING_TARGETS if g.user.is_admin else "Exports are not set up on this server.", "error")
    else:
        ids = outbox.make_due(call_ids=[call.id], include_done=True)
        queued = outbox.queue_exports(ids)
        flash("Export queued." if queued == len(ids) else
              "The job queue is unreachable; the export will be retried automatically.", "info")
    return redirect(url_for("calls.detail", call_id=call.id))


@bp.post("/retry-failed")
@admin_required
def retry_failed():
    """Retry pending and failed exports now (the dashboard's button). A big backlog is queued
    outbox.QUEUE_BATCH at a time, the rest by the periodic retry."""
    if not outbox.configured_targets():
        flash(outbox.MISSING_TARGETS, "error")
    else:
        due = len(outbox.make_due())
        queued = outbox.queue_exports(outbox.lease_due_exports())
        later = f"; the other {due - queued} follow automatically" if due > queued else ""
        flash(f"Queued {queued} of {due} export{'s' if due != 1 else ''} to retry{later}.", "info")
    return redirect(url_for("dashboard.index", date=request.form.get("date") or None))
