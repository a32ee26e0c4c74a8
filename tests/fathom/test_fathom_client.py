"""The Fathom client and credentials against the sandbox: rate limits, retries, token refresh, fallback."""
import socket
import threading

import pytest
import requests

from callvault.extensions import db
from callvault.fathom import credentials, listing, sync
from callvault.fathom.client import ApiKeyAuth, ClientSettings, FathomClient, FathomError, FathomUnavailable
from callvault.models import Call, SyncJob, User, utcnow
from tests.support.fathom import MEMBER_EMAIL, connect_oauth, connection_of, store_api_key

TOKEN_PATH = "/external/v1/oauth2/token"


def _user(user_id):
    return db.session.get(User, user_id)


def _start(app, user_id, **kwargs) -> int:
    with app.app_context():
        return sync.start_sync(_user(user_id), **kwargs).id


def _run(app, job_id, on_progress=None):
    with app.app_context():
        job = sync.run_sync(job_id, on_progress=on_progress)
        return job.status, job.done, job.failed, job.error


def _list_all(app, user_id) -> list[str]:
    ids, cursor = [], None
    with app.app_context():
        while True:
            page, cursor = listing.fetch_meetings(_user(user_id), cursor=cursor)
            ids += [m.recording_id for m in page]
            if not cursor:
                return ids


def _expire_access_token(app, user_id) -> tuple[int, str]:
    with app.app_context():
        connection = connection_of(user_id)
        connection.token_expires_at = utcnow()
        db.session.commit()
        return connection.id, connection.access_token


def _never_twice_429_in_a_row(sb) -> None:
    statuses = [entry["status"] for entry in sb.requests_log]
    assert all(not (a == b == 429) for a, b in zip(statuses, statuses[1:])), statuses


# --- OAuth tokens --------------------------------------------------------------------------------

def test_two_concurrent_refreshers_rotate_the_token_once_and_keep_the_grant(fathom_app, sandbox, member):
    connect_oauth(fathom_app, member, sandbox)
    connection_id, old_token = _expire_access_token(fathom_app, member)
    barrier, seen = threading.Barrier(2), []

    def worker():
        with fathom_app.app_context():
            barrier.wait()
            seen.append(credentials.ConnectionAuth(connection_id).headers()["Authorization"])

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(seen) == 2 and seen[0] == seen[1] != f"Bearer {old_token}"
    assert sandbox.count(path_prefix=TOKEN_PATH) == 2  # the code exchange and one refresh
    assert sandbox.count(status=400) == 0  # nobody presented a used refresh token

    with fathom_app.app_context():
        current = seen[0][len("Bearer "):]
        newer = credentials.fresh_access_token(connection_id, seen_token=current, force=True)
        assert newer != current  # the stored refresh token is the live one: the grant survived
        assert connection_of(member).access_token == newer


def test_a_rejected_access_token_is_refreshed_mid_sync(fathom_app, sandbox, member):
    connect_oauth(fathom_app, member, sandbox)
    sandbox.add_meetings(MEMBER_EMAIL, 3, transcript_segments=1)
    with fathom_app.app_context():
        connection = connection_of(member)
        connection.access_token = "stale-token"  # Fathom will answer 401
        db.session.commit()
    assert _run(fathom_app, _start(fathom_app, member))[:3] == ("succeeded", 3, 0)
    assert sandbox.count(status=401) == 1 and sandbox.count(path_prefix=TOKEN_PATH) == 2


def test_failed_refresh_falls_back_to_the_api_key(fathom_app, sandbox, member):
    connect_oauth(fathom_app, member, sandbox)
    store_api_key(fathom_app, member, sandbox)
    sandbox.add_meetings(MEMBER_EMAIL, 4, transcript_segments=1)
    with fathom_app.app_context():
        connection = connection_of(member)
        connection.refresh_token, connection.token_expires_at = "used-up", utcnow()
        db.session.commit()
    assert _run(fathom_app, _start(fathom_app, member))[:3] == ("succeeded", 4, 0)
    assert sandbox.count(path_prefix="/external/v1/recordings") == 0  # the API key reads whole pages
    with fathom_app.app_context():
        connection = connection_of(member)
        assert connection.status == "ok" and not connection.has_oauth and connection.has_api_key
        assert "Fathom OAuth stopped working" in connection.last_error and "invalid_grant" in connection.last_error


def test_revoked_api_key_marks_the_connection(fathom_app, sandbox, member):
    store_api_key(fathom_app, member, sandbox)
    sandbox.add_meetings(MEMBER_EMAIL, 2, transcript_segments=1)
    sandbox.revoke(MEMBER_EMAIL)
    status, done, failed, error = _run(fathom_app, _start(fathom_app, member))
    assert (status, done) == ("failed", 0) and "rejected the stored API key" in error
    with fathom_app.app_context():
        connection = connection_of(member)
        assert connection.status == "needs_attention" and "rejected the stored API key" in connection.last_error


def test_test_connection_reports_each_credential(fathom_app, sandbox, member):
    connect_oauth(fathom_app, member, sandbox)
    store_api_key(fathom_app, member, sandbox)
    sandbox.add_meetings(MEMBER_EMAIL, 3, transcript_segments=1)
    with fathom_app.app_context():
        results = credentials.test_connection(_user(member))
    assert [(r.kind, r.ok) for r in results] == [("oauth", True), ("api_key", True)]
    assert results[1].message == "The API key works: Fathom account member@example.com (3 meetings visible)."


# --- retries ------------------------------------------------------------------------------------

def _bare_client(app, base_url, key="k", attempts=3, timeout=5.0):
    settings = ClientSettings(base_url=base_url, timeout_seconds=timeout, max_attempts=attempts,
                              retry_base_seconds=0.01)
    return FathomClient(settings, ApiKeyAuth(key), credentials.limiter_for("bare-test"))


def test_gateway_errors_are_retried_other_4xx_are_not(fathom_app, sandbox):
    key = sandbox.add_api_key(MEMBER_EMAIL)
    sandbox.add_meetings(MEMBER_EMAIL, 2, transcript_segments=1)
    with fathom_app.app_context(), _bare_client(fathom_app, sandbox.base_url, key) as client:
        sandbox.fail_next(2, status=502)
        assert len(client.meetings_page()["items"]) == 2
        assert [e["status"] for e in sandbox.requests_log] == [502, 502, 200]
        with pytest.raises(FathomError, match=r"\(400: invalid cursor\)"):
            client.meetings_page(cursor="not-a-cursor")
        assert sandbox.count(status=400) == 1
        sandbox.fail_next(3, status=503)
        with pytest.raises(FathomUnavailable, match="503 3 times"):
            client.meetings_page()


def test_timeouts_are_retried_then_reported(fathom_app):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)  # accepts connections and never answers
    try:
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/external/v1"
        with fathom_app.app_context(), _bare_client(fathom_app, url, attempts=2, timeout=0.2) as client:
            with pytest.raises(FathomUnavailable, match="timed out 2 times"):
                client.meetings_page()
            assert client.calls == 2
    finally:
        listener.close()


# --- rate limits ---------------------------------------------------------------------------------

def test_a_cut_heavy_limit_costs_at_most_one_429_in_a_row(fathom_app, sandbox, member):
    connect_oauth(fathom_app, member, sandbox)
    sandbox.add_meetings(MEMBER_EMAIL, 5, transcript_segments=1)
    ids = _list_all(fathom_app, member)

    def cut_after_two(job):
        if job.done == 2:
            sandbox.set_heavy_limit(3)  # Fathom under load; nobody tells us

    assert _run(fathom_app, _start(fathom_app, member, recording_ids=ids), cut_after_two)[:3] == ("succeeded", 5, 0)
    assert sandbox.count(status=429) >= 1
    _never_twice_429_in_a_row(sandbox)


def test_two_workers_on_one_account_share_its_budget(fathom_app, sandbox, member):
    sandbox.set_heavy_limit(10)
    fathom_app.config["FATHOM_HEAVY_RATE_LIMIT"] = 10
    connect_oauth(fathom_app, member, sandbox)
    sandbox.add_meetings(MEMBER_EMAIL, 12, transcript_segments=1)
    ids = _list_all(fathom_app, member)
    jobs = [_start(fathom_app, member, recording_ids=ids[:6]), _start(fathom_app, member, recording_ids=ids[6:])]
    results = []
    threads = [threading.Thread(target=lambda j=j: results.append(_run(fathom_app, j))) for j in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r[:3] for r in results) == [("succeeded", 6, 0), ("succeeded", 6, 0)]
    assert sandbox.count(status=429) == 0  # 24 heavy calls at 10 a window, never refused


def test_with_five_percent_faults_every_meeting_arrives_exactly_once(fathom_app, sandbox, member):
    store_api_key(fathom_app, member, sandbox)
    meetings = sandbox.add_meetings(MEMBER_EMAIL, 40, transcript_segments=1)
    sandbox.fail_rate = 0.05
    assert _run(fathom_app, _start(fathom_app, member))[:3] == ("succeeded", 40, 0)

    sandbox.fail_rate = 0
    connect_oauth(fathom_app, member, sandbox)  # now OAuth: per-meeting calls, more chances to fail
    sandbox.fail_rate = 0.05
    ids = [str(m["recording_id"]) for m in meetings[:15]]
    assert _run(fathom_app, _start(fathom_app, member, recording_ids=ids))[:3] == ("succeeded", 15, 0)
    assert sandbox.count(status=503) + sandbox.count(status=502) + sandbox.count(status=504) \
        + sandbox.count(status=500) > 0
    with fathom_app.app_context():
        assert sorted(c.external_id for c in Call.query) == sorted(str(m["recording_id"]) for m in meetings)


def test_calls_per_meeting(fathom_app, sandbox, member):
    """The budget of the issue: ≤ 0.12 calls a meeting with an API key, ≤ 2.05 with OAuth."""
    sandbox.general_limit, sandbox.heavy_limit = 4000, 2000  # count calls, not seconds
    fathom_app.config.update(FATHOM_RATE_LIMIT=4000, FATHOM_HEAVY_RATE_LIMIT=2000)
    store_api_key(fathom_app, member, sandbox)
    sandbox.add_meetings(MEMBER_EMAIL, 40, transcript_segments=1)
    assert _run(fathom_app, _start(fathom_app, member))[:3] == ("succeeded", 40, 0)
    assert sandbox.count() / 40 <= 0.12  # 4 pages, nothing per meeting (bench/fathom_sync.py: 500)

    with fathom_app.app_context():
        db.session.execute(db.delete(Call))
        db.session.commit()
    connect_oauth(fathom_app, member, sandbox)
    ids = _list_all(fathom_app, member)[:15]  # what the user looked at on the fetch page
    before = sandbox.count()
    assert _run(fathom_app, _start(fathom_app, member, recording_ids=ids))[:3] == ("succeeded", 15, 0)
    assert (sandbox.count() - before) / 15 <= 2.05
    with fathom_app.app_context():
        assert SyncJob.query.count() == 2


def test_calls_by_another_app_on_the_account_are_counted_from_the_headers(fathom_app, sandbox, member):
    connect_oauth(fathom_app, member, sandbox)
    sandbox.add_meetings(MEMBER_EMAIL, 4, transcript_segments=1)
    ids = _list_all(fathom_app, member)
    other_app = {"X-Api-Key": sandbox.add_api_key(MEMBER_EMAIL)}
    for _ in range(27):  # another integration spends most of this window's heavy budget
        assert requests.get(f"{sandbox.base_url}/recordings/{ids[0]}/summary", headers=other_app).ok
    assert _run(fathom_app, _start(fathom_app, member, recording_ids=ids))[:3] == ("succeeded", 4, 0)
    assert sandbox.count(status=429) == 0  # their calls showed in RateLimit-Remaining; we waited for them
