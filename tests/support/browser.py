"""Helpers for the browser tests (the `browser` and `page` fixtures are in tests/fixtures/browser.py)."""
import time

from tests.support.web import PASSWORD


def sign_in(page, base_url: str, email: str) -> None:
    """Sign in through the login form, as a person would; every account lands on the library."""
    page.goto(f"{base_url}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base_url}/calls")


def wait_until(page, expression: str, timeout: float = 30_000) -> None:
    """Wait until the JavaScript `expression` is true in the page. Playwright's `wait_for_function` compiles
    its predicate with eval, which the app's Content-Security-Policy refuses; `evaluate` is not affected."""
    deadline = time.monotonic() + timeout / 1000
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout:.0f} ms: {expression}")
        page.wait_for_timeout(50)
