"""Helpers for the browser tests (the `browser` and `page` fixtures are in tests/fixtures/browser.py)."""
from tests.support.web import PASSWORD


def sign_in(page, base_url: str, email: str) -> None:
    """Sign in through the login form, as a person would; every account lands on the library."""
    page.goto(f"{base_url}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base_url}/calls")
