"""The one after-commit mechanism and the job declarations: what every feature relies on."""
from werkzeug.utils import import_string

from callvault import signals
from callvault.extensions import db
from callvault.jobs.periodic import PERIODIC_JOBS
from callvault.models import User

fact = signals.facts.signal("test-fact")


def test_a_fact_sent_after_commit_arrives_once_after_the_commit_and_never_after_a_rollback(app, member):
    heard = []

    def receiver(_sender, **data):
        heard.append(data)

    fact.connect(receiver)
    try:
        with app.app_context():
            user = db.session.get(User, member)
            user.name = "Renamed"
            signals.send_after_commit(fact, ids=[1, 2])
            signals.send_after_commit(fact, ids=[1, 2])  # asked twice in one transaction: sent once
            assert heard == []  # not before the commit
            db.session.commit()
            assert heard == [{"ids": [1, 2]}]

            db.session.get(User, member).name = "Rolled back"
            signals.send_after_commit(fact, ids=[3])
            db.session.rollback()
            db.session.commit()  # a later, empty commit does not resurrect it
            assert heard == [{"ids": [1, 2]}]
    finally:
        fact.disconnect(receiver)


def test_notify_isolates_a_failing_receiver(app):
    heard = []

    def broken(_sender, **data):
        raise RuntimeError("a receiver's bug")

    def working(_sender, **data):
        heard.append(data)

    fact.connect(broken)
    fact.connect(working)
    try:
        with app.app_context():
            signals.notify(fact, calendar_id=7)
    finally:
        fact.disconnect(broken)
        fact.disconnect(working)
    assert heard == [{"calendar_id": 7}]


def test_every_periodic_job_is_a_declared_job_rq_can_import(app):
    ids = [periodic.id for periodic in PERIODIC_JOBS]
    assert len(ids) == len(set(ids))
    for periodic in PERIODIC_JOBS:
        assert import_string(periodic.job.target) is periodic.job  # what the worker imports is the declaration
        assert periodic.job.queue in ("webhooks", "sync", "calendar", "bots", "exports", "default")
    assert app.extensions["periodic_jobs"] is PERIODIC_JOBS


def test_a_savepoint_neither_sends_nor_drops_what_its_transaction_asked_for(app, member):
    """SQLAlchemy reports a savepoint's release as a commit and its rollback as a rollback: neither ends
    the transaction (a drained batch of webhooks stores its calls in one, with a savepoint each)."""
    heard = []

    def receiver(_sender, **data):
        heard.append(data)

    fact.connect(receiver)
    try:
        with app.app_context():
            db.session.get(User, member).name = "In the batch"
            signals.send_after_commit(fact, ids=[1])
            with db.session.begin_nested():
                signals.send_after_commit(fact, ids=[2])
            try:
                with db.session.begin_nested():
                    raise ValueError("a savepoint rolled back")
            except ValueError:
                pass
            assert heard == []  # released and rolled-back savepoints: nothing sent, nothing dropped
            db.session.commit()
            assert sorted(d["ids"] for d in heard) == [[1], [2]]
    finally:
        fact.disconnect(receiver)
