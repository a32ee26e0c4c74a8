"""`flask fathom connect | test-connection | sync`."""

from callvault.extensions import db
from callvault.models import Call, FathomConnection
from tests.support.fathom import MEMBER_EMAIL, store_api_key


def test_connect_reads_the_key_from_stdin_and_checks_it(fathom_app, sandbox, runner, member):
    sandbox.add_meetings(MEMBER_EMAIL, 2, transcript_segments=1)
    bad = runner.invoke(args=["fathom", "connect", MEMBER_EMAIL, "--api-key-stdin"], input="wrong\n")
    assert bad.exit_code == 1 and "Fathom rejected this API key (401)" in bad.output
    key = sandbox.add_api_key(MEMBER_EMAIL)
    good = runner.invoke(args=["fathom", "connect", MEMBER_EMAIL, "--api-key-stdin"], input=key + "\n")
    assert good.exit_code == 0, good.output
    assert "The API key works: Fathom account member@example.com (2 meetings visible)." in good.output
    assert key not in good.output
    with fathom_app.app_context():
        assert FathomConnection.query.one().api_key == key
    unknown = runner.invoke(args=["fathom", "connect", "nobody@example.com", "--api-key-stdin"], input=key + "\n")
    assert unknown.exit_code == 1 and "no user with email nobody@example.com" in unknown.output


def test_test_connection_exit_codes(fathom_app, sandbox, runner, member):
    none = runner.invoke(args=["fathom", "test-connection", MEMBER_EMAIL])
    assert none.exit_code == 1 and "has no Fathom credentials" in none.output
    store_api_key(fathom_app, member, sandbox)
    ok = runner.invoke(args=["fathom", "test-connection", MEMBER_EMAIL])
    assert ok.exit_code == 0 and "The API key works" in ok.output
    sandbox.revoke(MEMBER_EMAIL)
    broken = runner.invoke(args=["fathom", "test-connection", MEMBER_EMAIL])
    assert broken.exit_code == 1 and "Error: no Fathom credential works" in broken.output


def test_sync_with_dates_and_a_progress_bar(fathom_app, sandbox, runner, member):
    store_api_key(fathom_app, member, sandbox)
    sandbox.add_meetings(MEMBER_EMAIL, 13, transcript_segments=1)
    result = runner.invoke(args=["fathom", "sync", MEMBER_EMAIL])
    assert result.exit_code == 0, result.output
    assert "Sync #1" in result.output and "13 synced, 0 failed of 13 meetings (succeeded)." in result.output
    with fathom_app.app_context():
        assert db.session.query(Call).count() == 13
    bad = runner.invoke(args=["fathom", "sync", MEMBER_EMAIL, "--since", "yesterday"])
    assert bad.exit_code == 1 and "Error: --since must be a date like 2025-03-31" in bad.output
    empty = runner.invoke(args=["fathom", "sync", MEMBER_EMAIL, "--since", "2030-01-01"])
    assert empty.exit_code == 0 and "0 synced, 0 failed of 0 meetings (succeeded)." in empty.output
