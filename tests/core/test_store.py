import threading

import pytest
from sqlalchemy.exc import StatementError

from callvault.calls.store import SegmentData, upsert_call
from callvault.extensions import db
from callvault.models import Call, TranscriptSegment, User
from tests.support.backends import make_test_app
from tests.support.calls import sample_call


def test_upsert_is_idempotent_and_updates_in_place(app, member):
    with app.app_context():
        owner = db.session.get(User, member)
        first = upsert_call(owner, sample_call(external_id=77, segments=3))
        assert first.created and first.changed
        again = upsert_call(owner, sample_call(external_id="77", segments=3))
        assert not again.created and not again.changed and again.call.id == first.call.id
        updated = upsert_call(owner, sample_call(external_id="77", title="Renamed", segments=5))
        assert updated.changed and not updated.created
        assert db.session.query(Call).count() == 1
        assert db.session.get(Call, first.call.id).title == "Renamed"
        assert db.session.query(TranscriptSegment).count() == 5


def test_a_failed_write_leaves_the_previous_transcript_whole(app, member):
    with app.app_context():
        owner = db.session.get(User, member)
        call_id = upsert_call(owner, sample_call(external_id="5", segments=4)).call.id
        broken = sample_call(external_id="5", segments=6)
        broken.segments.append(SegmentData(speaker="x", text=object(), start_ms=0))  # the driver refuses it
        with pytest.raises(StatementError):
            upsert_call(owner, broken)
        db.session.rollback()
        texts = [s.text for s in db.session.get(Call, call_id).segments]
        assert texts == [f"Line number {i}" for i in range(4)]


def test_concurrent_writers_of_one_meeting_make_one_call(app, database_url, member):
    """Webhook and manual sync can store the same meeting at the same instant."""
    errors, barrier = [], threading.Barrier(6)
    worker_apps = [make_test_app(database_url) for _ in range(6)]  # built here: an app factory is not a race

    def write(n):
        worker_app = worker_apps[n]
        try:
            with worker_app.app_context():
                owner = db.session.get(User, member)
                barrier.wait(timeout=60)
                upsert_call(owner, sample_call(external_id="race", segments=3 + n))
        except Exception as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            with worker_app.app_context():
                db.engine.dispose()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with app.app_context():
        calls = db.session.query(Call).all()
        assert len(calls) == 1
        assert calls[0].segments.count() in range(3, 9)
