"""The accounts page (/admin/users/): create, roles, deactivation, host emails; admins only, CSRF everywhere."""
import re


from callvault import accounts
from callvault.extensions import db
from callvault.models import HostEmail, User
from tests.support.web import csrf_from, login

ONE_TIME_PASSWORD = re.compile(r'<code class="token">([^<]+)</code>')


def admin_page(client):
    return client.get("/admin/users/").get_data(as_text=True)


def test_members_and_strangers_cannot_see_the_page(app, client, auth, member):
    assert client.get("/admin/users/").status_code == 302  # to the sign-in page
    auth.login("member@example.com")
    assert client.get("/admin/users/").status_code == 404
    page = client.get("/settings/").get_data(as_text=True)
    assert client.post("/admin/users/", data={"email": "x@example.com", "csrf_token": csrf_from(page)}).status_code == 404
    assert 'href="/admin/users/"' not in page


def test_an_admin_creates_an_account_whose_one_time_password_is_shown_once(app, client, auth, admin):
    auth.login("admin@example.com")
    page = admin_page(client)
    assert 'href="/admin/users/"' in page  # in the nav
    answer = client.post("/admin/users/", data={"email": "New.Person@Example.com", "name": "New Person",
                                                "csrf_token": csrf_from(page)})
    assert answer.status_code == 201
    password = ONE_TIME_PASSWORD.search(answer.get_data(as_text=True)).group(1)
    assert password not in admin_page(client)  # shown once
    with app.app_context():
        user = User.query.filter_by(email="new.person@example.com").one()
        assert user.role == "member" and user.check_password(password)
        assert [(h.email, h.status) for h in user.host_emails] == [("new.person@example.com", "approved")]
    fresh = app.test_client()
    assert login(fresh, "new.person@example.com", password).status_code == 302
    assert fresh.get("/settings/").status_code == 200

    again = client.post("/admin/users/", data={"email": "new.person@example.com", "csrf_token": csrf_from(page)})
    assert again.status_code == 400 and "already exists" in again.get_data(as_text=True)
    bad = client.post("/admin/users/", data={"email": "not an address", "csrf_token": csrf_from(page)})
    assert bad.status_code == 400 and "is not an email address" in bad.get_data(as_text=True)


def test_every_form_needs_its_csrf_token(app, client, auth, admin, member):
    auth.login("admin@example.com")
    with app.app_context():
        host_email_id = HostEmail.query.filter_by(user_id=member).one().id
    for path in ("/admin/users/", f"/admin/users/{member}/role", f"/admin/users/{member}/active",
                 f"/admin/users/{member}/host-emails", f"/admin/users/host-emails/{host_email_id}/approve",
                 f"/admin/users/host-emails/{host_email_id}/reject"):
        assert client.post(path, data={"email": "a@example.com", "role": "admin", "active": "0"}).status_code == 400, path
    with app.app_context():
        assert db.session.get(User, member).role == "member" and db.session.get(User, member).is_active


def test_make_admin_and_back(app, client, auth, admin, member):
    auth.login("admin@example.com")
    page = admin_page(client)
    answer = client.post(f"/admin/users/{member}/role", data={"role": "admin", "csrf_token": csrf_from(page)},
                         follow_redirects=True).get_data(as_text=True)
    assert "member@example.com is now an admin." in answer
    with app.app_context():
        assert db.session.get(User, member).is_admin
    answer = client.post(f"/admin/users/{member}/role", data={"role": "member", "csrf_token": csrf_from(page)},
                         follow_redirects=True).get_data(as_text=True)
    assert "member@example.com is now a member." in answer
    own = client.post(f"/admin/users/{admin}/role", data={"role": "member", "csrf_token": csrf_from(page)},
                      follow_redirects=True).get_data(as_text=True)
    assert "You cannot remove your own admin rights" in own
    huge = client.post("/admin/users/2147483648/role", data={"csrf_token": csrf_from(page)}, follow_redirects=True)
    assert huge.status_code == 404  # ids past the database range are not routes at all


def test_a_deactivated_user_cannot_sign_in_or_use_a_session_or_token(app, client, auth, admin, member):
    with app.app_context():
        token = accounts.issue_api_token(db.session.get(User, member))
    members_browser = app.test_client()
    login(members_browser, "member@example.com")
    assert members_browser.get("/settings/").status_code == 200
    bearer = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/calls", headers=bearer).status_code == 200

    auth.login("admin@example.com")
    page = admin_page(client)
    assert 'data-confirm="Deactivate member@example.com?' in page  # asks first (static/js/app.js)
    answer = client.post(f"/admin/users/{member}/active", data={"active": "0", "csrf_token": csrf_from(page)},
                         follow_redirects=True).get_data(as_text=True)
    assert "member@example.com is deactivated" in answer

    assert members_browser.get("/settings/").status_code == 302  # the open session ends
    assert client.get("/api/v1/calls", headers=bearer).status_code == 401
    stranger = app.test_client()
    login(stranger, "member@example.com")
    assert stranger.get("/settings/").status_code == 302

    client.post(f"/admin/users/{member}/active", data={"active": "1", "csrf_token": csrf_from(page)})
    assert client.get("/api/v1/calls", headers=bearer).status_code == 200
    own = client.post(f"/admin/users/{admin}/active", data={"active": "0", "csrf_token": csrf_from(page)},
                      follow_redirects=True).get_data(as_text=True)
    assert "You cannot deactivate your own account" in own


def test_admin_adds_approves_and_rejects_host_emails(app, client, auth, admin, member):
    with app.app_context():
        accounts.add_host_email(db.session.get(User, member), "claimed@example.com")
        accounts.add_host_email(db.session.get(User, member), "dubious@example.com")
        claimed, dubious = (HostEmail.query.filter_by(email=e).one().id
                            for e in ("claimed@example.com", "dubious@example.com"))
    auth.login("admin@example.com")
    page = admin_page(client)
    assert page.count("claimed by member@example.com") == 2
    answer = client.post(f"/admin/users/host-emails/{claimed}/approve", data={"csrf_token": csrf_from(page)},
                         follow_redirects=True).get_data(as_text=True)
    assert "claimed@example.com now routes recordings to member@example.com." in answer
    answer = client.post(f"/admin/users/host-emails/{dubious}/reject", data={"csrf_token": csrf_from(page)},
                         follow_redirects=True).get_data(as_text=True)
    assert "dubious@example.com was rejected and removed." in answer
    answer = client.post(f"/admin/users/{member}/host-emails", data={"email": "Alias@Example.com",
                                                                     "csrf_token": csrf_from(page)},
                         follow_redirects=True).get_data(as_text=True)
    assert "alias@example.com now routes recordings to member@example.com." in answer
    with app.app_context():
        assert {(h.email, h.status) for h in HostEmail.query.filter_by(user_id=member)} == {
            ("member@example.com", "approved"), ("claimed@example.com", "approved"), ("alias@example.com", "approved")}
    missing = client.post("/admin/users/host-emails/2147483647/approve", data={"csrf_token": csrf_from(page)},
                          follow_redirects=True).get_data(as_text=True)
    assert "No such host email" in missing
