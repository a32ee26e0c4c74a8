"""Issue 13, items 6, 7 and 8: signing in.

6. An unknown (or deactivated) email costs the same password-hash work as a wrong password for a real
   account: the very same scrypt computation, counted, so the time taken tells nothing.
7. Signing out ends the session on the server: a cookie copied before no longer signs anyone in; "Sign
   out everywhere" and a password change end the other sessions.
8. Failures are throttled per (account, client address) with growing delays: a stranger can slow down
   only their own attempts, and behind TRUSTED_PROXY_HOPS proxies the address is read exactly that deep.
"""
import hashlib

import pytest
from werkzeug.security import generate_password_hash

from callvault import accounts
from callvault.extensions import db
from callvault.models import User
from callvault.models.users import DUMMY_PASSWORD_HASH
from tests.support.web import PASSWORD, csrf_from

MEMBER = "member@example.com"


# --- 6: the same hash work whether or not the account exists ------------------------------------

@pytest.fixture
def scrypt_calls(monkeypatch):
    """The cost parameters of every scrypt computation (the real one still runs)."""
    calls, real = [], hashlib.scrypt

    def counted(password, *, salt, n, r, p, maxmem=0, dklen=64):
        calls.append((n, r, p, dklen))
        return real(password, salt=salt, n=n, r=r, p=p, maxmem=maxmem, dklen=dklen)
    monkeypatch.setattr(hashlib, "scrypt", counted)
    return calls


def test_unknown_email_costs_the_same_hash_work_as_a_wrong_password(app, client, member, scrypt_calls):
    page = client.get("/login").get_data(as_text=True)
    attempts = {}
    for label, email in (("existing", MEMBER), ("unknown", "nobody@example.com")):
        scrypt_calls.clear()
        response = client.post("/login", data={"email": email, "password": "not the password",
                                               "csrf_token": csrf_from(page)})
        assert response.status_code == 401
        attempts[label] = list(scrypt_calls)
    assert len(attempts["existing"]) == 1
    assert attempts["unknown"] == attempts["existing"]


def test_a_deactivated_account_costs_the_same_hash_work(app, member, other_member, scrypt_calls):
    with app.app_context(), app.test_request_context():
        db.session.get(User, other_member).is_active = False
        db.session.commit()
        assert accounts.authenticate(MEMBER, "wrong password!", "192.0.2.1") is None
        wrong = list(scrypt_calls)
        scrypt_calls.clear()
        assert accounts.authenticate("other@example.com", PASSWORD, "192.0.2.1") is None
        assert scrypt_calls == wrong and len(wrong) == 1


def test_the_dummy_hash_uses_the_method_and_cost_new_passwords_get():
    method = generate_password_hash("anything").split("$")[0]
    assert DUMMY_PASSWORD_HASH.split("$")[0] == method


# --- 7: sessions end on the server -----------------------------------------------------------------

def _cookie(client):
    return client.get_cookie("session").value


def _signed_in_with(app, cookie_value) -> bool:
    """Whether a fresh browser holding only this copied cookie is signed in."""
    other = app.test_client()
    other.set_cookie("session", cookie_value)
    return other.get("/calls").status_code == 200


def _post(client, path, **data):
    page = client.get("/settings/").get_data(as_text=True)
    return client.post(path, data={"csrf_token": csrf_from(page), **data})


def test_a_cookie_copied_before_sign_out_no_longer_works(app, client, auth, member):
    auth.login(MEMBER)
    copied = _cookie(client)
    assert _signed_in_with(app, copied)
    assert _post(client, "/logout").status_code == 302
    assert not _signed_in_with(app, copied)
    assert client.get("/calls").status_code == 302


def test_signing_out_ends_only_that_session(app, client, auth, member):
    auth.login(MEMBER)
    laptop = _cookie(client)
    phone = app.test_client()
    phone.get("/login")
    phone.post("/login", data={"email": MEMBER, "password": PASSWORD,
                               "csrf_token": csrf_from(phone.get("/login").get_data(as_text=True))})
    _post(client, "/logout")
    assert not _signed_in_with(app, laptop)
    assert phone.get("/calls").status_code == 200


def test_sign_out_everywhere_ends_every_session(app, client, auth, member):
    phone = app.test_client()
    phone.post("/login", data={"email": MEMBER, "password": PASSWORD,
                               "csrf_token": csrf_from(phone.get("/login").get_data(as_text=True))})
    auth.login(MEMBER)
    laptop = _cookie(client)
    page = client.get("/settings/").get_data(as_text=True)
    assert "Sign out everywhere" in page
    response = _post(client, "/settings/sign-out-everywhere")
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert phone.get("/calls").status_code == 302
    assert not _signed_in_with(app, laptop)
    assert "Signed out everywhere." in client.get("/login").get_data(as_text=True)


def test_a_password_change_ends_the_other_sessions(app, client, auth, member):
    phone = app.test_client()
    phone.post("/login", data={"email": MEMBER, "password": PASSWORD,
                               "csrf_token": csrf_from(phone.get("/login").get_data(as_text=True))})
    auth.login(MEMBER)
    new_password = "a brand new passphrase"
    response = _post(client, "/settings/password", current_password=PASSWORD, new_password=new_password)
    assert response.status_code == 302
    assert "Password changed." in client.get("/settings/").get_data(as_text=True)
    assert client.get("/calls").status_code == 200  # this session stays
    assert phone.get("/calls").status_code == 302   # the other one ended
    fresh = app.test_client()
    page = fresh.get("/login").get_data(as_text=True)
    assert fresh.post("/login", data={"email": MEMBER, "password": PASSWORD,
                                      "csrf_token": csrf_from(page)}).status_code == 401
    assert fresh.post("/login", data={"email": MEMBER, "password": new_password,
                                      "csrf_token": csrf_from(page)}).status_code == 302


@pytest.mark.parametrize("current, new, message", [
    ("not my password", "a brand new passphrase", "The current password is not right."),
    (PASSWORD, "short", "The new password must be at least 10 characters."),
])
def test_a_refused_password_change_says_why_and_changes_nothing(app, client, auth, member, current, new, message):
    auth.login(MEMBER)
    _post(client, "/settings/password", current_password=current, new_password=new)
    assert message in client.get("/settings/").get_data(as_text=True)
    with app.app_context():
        assert db.session.get(User, member).check_password(PASSWORD)


def test_a_deactivated_account_is_signed_out_at_once(app, client, auth, member):
    auth.login(MEMBER)
    with app.app_context():
        db.session.get(User, member).is_active = False
        db.session.commit()
    assert client.get("/calls").status_code == 302


# --- 8: throttled per (account, client address), never a lockout of the owner -------------------------

def _attempt(client, password, address=None, forwarded=None):
    environ = {"REMOTE_ADDR": address} if address else {}
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    page = client.get("/login", environ_base=environ, headers=headers).get_data(as_text=True)
    return client.post("/login", data={"email": MEMBER, "password": password, "csrf_token": csrf_from(page)},
                       environ_base=environ, headers=headers)


def test_a_stranger_cannot_lock_the_owner_out(app, member):
    stranger, owner = app.test_client(), app.test_client()
    for _ in range(8):
        assert _attempt(stranger, "guessing wrong!", address="203.0.113.66").status_code in (401, 429)
    assert _attempt(stranger, PASSWORD, address="203.0.113.66").status_code == 429  # the stranger waits
    assert _attempt(owner, PASSWORD, address="198.51.100.7").status_code == 302     # the owner does not


def test_delays_grow_with_each_failure_and_say_how_long(app, member):
    config = {"LOGIN_MAX_FAILURES": 3, "LOGIN_DELAY_SECONDS": 30.0, "LOGIN_MAX_DELAY_SECONDS": 900.0}
    assert [accounts.login_delay(n, config) for n in range(8)] == [0, 0, 0, 30, 60, 120, 240, 480]
    assert accounts.login_delay(50, config) == 900
    app.config.update(config)
    ip, t = "192.0.2.9", 1_000_000.0
    with app.app_context():
        for _ in range(3):
            assert accounts.authenticate(MEMBER, "wrong password!", ip, now=t) is None
        with pytest.raises(accounts.LoginThrottled) as throttled:
            accounts.authenticate(MEMBER, PASSWORD, ip, now=t + 29)
        assert throttled.value.retry_after == 1 and "try again in 1 second" in str(throttled.value)
        assert accounts.authenticate(MEMBER, "wrong again!!", ip, now=t + 30) is None  # 4th failure: 60 s
        with pytest.raises(accounts.LoginThrottled) as throttled:
            accounts.authenticate(MEMBER, PASSWORD, ip, now=t + 30 + 59)
        assert throttled.value.retry_after == 1
        assert accounts.authenticate(MEMBER, PASSWORD, ip, now=t + 30 + 60).email == MEMBER
        # Success forgets the pair's failures.
        assert accounts.authenticate(MEMBER, "wrong password!", ip, now=t + 100) is None
        assert accounts.authenticate(MEMBER, PASSWORD, ip, now=t + 100).email == MEMBER


def test_the_throttled_answer_says_when_to_retry(app, client, member):
    for _ in range(5):
        _attempt(client, "guessing wrong!")
    response = _attempt(client, PASSWORD)
    assert response.status_code == 429 and int(response.headers["Retry-After"]) == 30
    assert "Too many failed sign-in attempts; try again in 30 seconds." in response.get_data(as_text=True)


def test_behind_one_proxy_the_address_is_the_one_the_proxy_saw(app_factory, member):
    """Heroku's router appends the address it saw: with TRUSTED_PROXY_HOPS=1 only that last entry counts.
    A stranger who writes the owner's address into X-Forwarded-For is still counted as themselves."""
    behind_router = app_factory(TRUSTED_PROXY_HOPS=1)
    stranger, owner = behind_router.test_client(), behind_router.test_client()
    router = "10.1.2.3"
    for _ in range(6):  # claims to be the owner; the router appends the stranger's real address
        _attempt(stranger, "guessing wrong!", address=router, forwarded="198.51.100.7, 203.0.113.66")
    # Rotating the made-up first entry does not escape the stranger's own throttle.
    assert _attempt(stranger, PASSWORD, address=router, forwarded="192.0.2.200, 203.0.113.66").status_code == 429
    assert _attempt(owner, PASSWORD, address=router, forwarded="198.51.100.7").status_code == 302


def test_without_trusted_proxies_the_header_is_ignored(app, member):
    stranger, owner = app.test_client(), app.test_client()
    for _ in range(6):
        _attempt(stranger, "guessing wrong!", address="203.0.113.66", forwarded="198.51.100.7")
    # Changing X-Forwarded-For changes nothing when no proxy is trusted: still the stranger's address.
    assert _attempt(stranger, PASSWORD, address="203.0.113.66", forwarded="192.0.2.1").status_code == 429
    assert _attempt(owner, PASSWORD, address="198.51.100.7").status_code == 302


def test_trusted_proxy_hops_is_read_from_the_environment():
    from callvault.config import ConfigError, load_config
    assert load_config({"CALLVAULT_ENV": "testing"})["TRUSTED_PROXY_HOPS"] == 0
    assert load_config({"CALLVAULT_ENV": "testing", "TRUSTED_PROXY_HOPS": "1"})["TRUSTED_PROXY_HOPS"] == 1
    with pytest.raises(ConfigError, match="TRUSTED_PROXY_HOPS"):
        load_config({"CALLVAULT_ENV": "testing", "TRUSTED_PROXY_HOPS": "-1"})
