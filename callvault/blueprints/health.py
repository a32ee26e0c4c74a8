"""Liveness: can this web process reach its database and Redis?"""
import redis
from flask import Blueprint, jsonify, redirect, url_for
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from ..extensions import db
from ..queues import get_redis

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    checks = {}
    try:
        db.session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except SQLAlchemyError as exc:
        db.session.rollback()
        checks["database"] = f"error: {type(exc).__name__}"
    try:
        get_redis().ping()
        checks["redis"] = "ok"
    except redis.RedisError as exc:
        checks["redis"] = f"error: {type(exc).__name__}"
    healthy = all(v == "ok" for v in checks.values())
    return jsonify({"status": "ok" if healthy else "unhealthy", **checks}), 200 if healthy else 503


@bp.get("/favicon.ico")
def favicon():
    """Browsers ask for it on pages that name no icon (JSON documents): the app's own icon."""
    return redirect(url_for("static", filename="favicon.svg"), 301)
