from callvault.extensions import db
from callvault.models import Call, User
from tests.support.web import login


def test_users_create_with_generated_password(app, runner):
    result = runner.invoke(args=["users", "create", "New@Example.com", "--admin", "--name", "New Person"])
    assert result.exit_code == 0, result.output
    assert "Created admin new@example.com" in result.output and "Password (shown once):" in result.output
    with app.app_context():
        user = db.session.query(User).filter_by(email="new@example.com").one()
        assert user.is_admin and [h.email for h in user.host_emails] == ["new@example.com"]


def test_users_create_password_from_stdin(app, runner, client):
    result = runner.invoke(args=["users", "create", "pw@example.com", "--password-stdin"],
                           input="a long enough password\n")
    assert result.exit_code == 0 and "Password" not in result.output
    assert login(client, "pw@example.com", "a long enough password").status_code == 302


def test_users_create_errors_are_one_clear_line(runner, member):
    result = runner.invoke(args=["users", "create", "member@example.com"])
    assert result.exit_code == 1
    assert result.output.strip() == "Error: a user with email member@example.com already exists"
    result = runner.invoke(args=["users", "create", "not-an-email"])
    assert result.exit_code == 1 and "is not an email address" in result.output
    result = runner.invoke(args=["users", "create", "short@example.com", "--password-stdin"], input="short\n")
    assert result.exit_code == 1 and "at least 10 characters" in result.output


def test_users_token_prints_a_working_token(runner, client, member):
    result = runner.invoke(args=["users", "token", "member@example.com"])
    assert result.exit_code == 0
    token = result.output.strip()
    assert token.startswith("cv_")
    assert client.get("/api/v1/calls", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert runner.invoke(args=["users", "token", "ghost@example.com"]).exit_code == 1


def test_host_email_add_and_remove(runner, member, other_member):
    result = runner.invoke(args=["users", "host-email", "member@example.com", "--add", "Max@Alias.Example"])
    assert result.exit_code == 0 and "max@alias.example" in result.output
    result = runner.invoke(args=["users", "host-email", "other@example.com", "--add", "max@alias.example"])
    assert result.exit_code == 1 and "already a host email of another user" in result.output
    result = runner.invoke(args=["users", "host-email", "member@example.com", "--remove", "max@alias.example"])
    assert result.exit_code == 0 and "max@alias.example" not in result.output


def test_demo_loads_once(app, runner):
    result = runner.invoke(args=["demo", "--if-empty"])
    assert result.exit_code == 0 and "Demo loaded: 40 meetings." in result.output
    assert "password: " in result.output
    result = runner.invoke(args=["demo", "--if-empty"])
    assert "already has users" in result.output
    with app.app_context():
        assert db.session.query(Call).filter_by(source="fathom").count() == 40
        call = db.session.query(Call).first()
        assert call.segments.count() > 10 and call.participants and call.summary_markdown
