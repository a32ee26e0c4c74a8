import time

from tests.support.web import PASSWORD, csrf_from


def test_sign_in_and_out(client, auth, member):
    response = auth.login("member@example.com")
    assert response.status_code == 302 and response.headers["Location"] == "/calls"
    assert client.get("/calls").status_code == 200
    page = client.get("/settings/").get_data(as_text=True)
    response = client.post("/logout", data={"csrf_token": csrf_from(page)})
    assert response.status_code == 302
    assert client.get("/calls").status_code == 302


def test_session_cookie_is_httponly_and_samesite(client, auth, member):
    response = auth.login("member@example.com")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_wrong_password_is_refused_clearly(client, auth, member):
    response = auth.login("member@example.com", "wrong password!")
    assert response.status_code == 401
    assert "Wrong email or password." in response.get_data(as_text=True)
    assert client.get("/calls").status_code == 302


def test_unknown_email_gets_the_same_answer(client, auth):
    response = auth.login("nobody@example.com", "whatever12345")
    assert response.status_code == 401
    assert "Wrong email or password." in response.get_data(as_text=True)


def test_sign_in_is_throttled_after_repeated_failures(client, auth, member):
    for _ in range(5):
        assert auth.login("member@example.com", "bad password!!").status_code == 401
    response = auth.login("member@example.com")  # even the right password waits
    assert response.status_code == 429
    assert "too many failed sign-in attempts" in response.get_data(as_text=True).lower()


def test_post_without_csrf_token_is_400(client, auth, member):
    auth.login("member@example.com")
    response = client.post("/settings/tokens", data={"name": "sneaky"})
    assert response.status_code == 400
    assert "security token" in response.get_data(as_text=True)


def test_login_form_itself_needs_csrf(client, member):
    response = client.post("/login", data={"email": "member@example.com", "password": PASSWORD})
    assert response.status_code == 400


def test_expired_session_asks_to_sign_in_again(app, client, auth, member):
    auth.login("member@example.com")
    with client.session_transaction() as session:
        session["signed_in_at"] = time.time() - app.config["SESSION_LIFETIME_SECONDS"] - 1
    response = client.get("/calls")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Your session expired" in page


def test_next_parameter_never_redirects_off_site(client, auth, member):
    page = client.get("/login").get_data(as_text=True)
    for target in ("https://evil.example/", "//evil.example/x", "javascript:alert(1)"):
        response = client.post("/login", data={"email": "member@example.com", "password": PASSWORD,
                                               "next": target, "csrf_token": csrf_from(page)})
        assert response.headers["Location"] == "/calls"
        client.post("/logout", data={"csrf_token": csrf_from(client.get("/settings/").get_data(as_text=True))})
        page = client.get("/login").get_data(as_text=True)


def test_next_parameter_returns_to_the_page_asked_for(client, member, make_call):
    call_id = make_call(member)
    response = client.get(f"/calls/{call_id}")
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    response = client.post("/login", data={"email": "member@example.com", "password": PASSWORD,
                                           "next": f"/calls/{call_id}", "csrf_token": csrf_from(page)})
    assert response.headers["Location"] == f"/calls/{call_id}"


def test_passwords_are_stored_hashed(app, member):
    from callvault.extensions import db
    from callvault.models import User
    with app.app_context():
        user = db.session.get(User, member)
        assert PASSWORD not in user.password_hash and user.password_hash.startswith(("scrypt:", "pbkdf2:"))
