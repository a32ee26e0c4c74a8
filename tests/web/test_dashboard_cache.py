"""The dashboard's all-time figures are kept in Redis for DASHBOARD_CACHE_SECONDS: shared by the page
and the JSON API, recomputed by a worker once stale (by the request when none are kept), live when the
cache is off or Redis is down."""
import json
from datetime import timedelta

import redis

from callvault.dashboard import figures
from callvault.extensions import db
from callvault.models import utcnow
from callvault.queues import get_queue, get_redis
from tests.support.web import login


def summary(client) -> dict:
    response = client.get("/dashboard/api/summary/")
    assert response.status_code == 200
    return response.json


def cache_key() -> str:
    return figures.SUMMARY_CACHE_KEY.format(day=utcnow().date().isoformat())


def test_figures_are_kept_for_the_ttl_then_recomputed(app, admin, member, make_call):
    app.config["DASHBOARD_CACHE_SECONDS"] = 60
    client = app.test_client()
    login(client, "admin@example.com")
    make_call(member, external_id="1")
    first = summary(client)
    assert first["calls"]["total"] == 1
    with app.app_context():
        assert 60 < get_redis().ttl(cache_key()) <= 60 * (1 + figures.STALE_SERVED_FOR)  # shown while stale

    make_call(member, external_id="2")
    kept = summary(client)
    assert kept["calls"]["total"] == 1 and kept["generated_at"] == first["generated_at"]
    page = client.get("/dashboard/").get_data(as_text=True)  # the page shows the same kept figures
    assert '<dd data-figure="calls-total">1</dd>' in page
    assert f'<time id="updated-at">{first["generated_at"][11:19]}</time>' in page

    with app.app_context():
        get_redis().delete(cache_key())  # what expiry does
    assert summary(client)["calls"]["total"] == 2
    assert '<dd data-figure="calls-total">2</dd>' in client.get("/dashboard/").get_data(as_text=True)


def test_machinery_figures_stay_live_while_the_rest_is_kept(app, admin):
    app.config["DASHBOARD_CACHE_SECONDS"] = 60
    client = app.test_client()
    login(client, "admin@example.com")
    summary(client)
    with app.app_context():
        kept = get_redis().get(cache_key())
        assert b'"machinery"' not in kept  # never stored: queues and workers are read on every request
    assert "machinery" in summary(client)


def test_zero_seconds_turns_the_cache_off(app, admin, member, make_call):
    app.config["DASHBOARD_CACHE_SECONDS"] = 0
    client = app.test_client()
    login(client, "admin@example.com")
    make_call(member, external_id="1")
    assert summary(client)["calls"]["total"] == 1
    make_call(member, external_id="2")
    assert summary(client)["calls"]["total"] == 2
    with app.app_context():
        assert get_redis().get(cache_key()) is None


def test_without_redis_the_figures_are_computed_live(app, member, make_call):
    unreachable = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    make_call(member, external_id="1")
    with app.app_context():
        first = figures.cached_summary(unreachable, {"redis": "down"}, 60)
        assert first["calls"]["total"] == 1 and first["machinery"] == {"redis": "down"}
    make_call(member, external_id="2")
    with app.app_context():
        assert figures.cached_summary(unreachable, {}, 60)["calls"]["total"] == 2
        db.session.remove()


def refreshes_queued(app) -> int:
    with app.app_context():
        return sum(job.func_name == "callvault.jobs.dashboard.refresh_dashboard_figures"
                   for job in get_queue("default").get_jobs())


def make_stale(app, seconds: int) -> None:
    with app.app_context():
        kept = json.loads(get_redis().get(cache_key()))
        kept["generated_at"] = (utcnow() - timedelta(seconds=seconds)).isoformat()
        get_redis().set(cache_key(), json.dumps(kept), keepttl=True)


def test_stale_figures_are_shown_while_one_worker_job_computes_them_again(app, admin, member, make_call, drain):
    app.config["DASHBOARD_CACHE_SECONDS"] = 60
    client = app.test_client()
    login(client, "admin@example.com")
    make_call(member, external_id="1")
    first = summary(client)
    make_call(member, external_id="2")
    make_stale(app, 61)

    stale = summary(client)  # no request waits for the scan: the kept figures, and a refresh is asked for
    assert stale["calls"]["total"] == 1
    assert '<dd data-figure="calls-total">1</dd>' in client.get("/dashboard/").get_data(as_text=True)
    summary(client)
    assert refreshes_queued(app) == 1  # asked once per TTL, however many requests find them stale
    drain()

    fresh = summary(client)
    assert fresh["calls"]["total"] == 2 and fresh["generated_at"] > first["generated_at"]
    assert refreshes_queued(app) == 0  # fresh figures ask for nothing


def test_figures_no_worker_refreshed_expire_and_the_request_computes_them(app, admin, member, make_call):
    app.config["DASHBOARD_CACHE_SECONDS"] = 60
    client = app.test_client()
    login(client, "admin@example.com")
    summary(client)
    make_call(member, external_id="1")
    make_stale(app, 61)
    assert summary(client)["calls"]["total"] == 0
    with app.app_context():
        get_redis().delete(cache_key())  # what expiry does when no worker ran the refresh
    assert summary(client)["calls"]["total"] == 1
