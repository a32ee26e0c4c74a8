"""The consent page and Settings → "Connect an AI assistant" in a real browser, on a phone and a laptop."""
import pytest

from tests.support.browser import sign_in
from tests.support.oauth import REDIRECT_URI, authorize_url, pkce_pair, redirected_params, register


@pytest.mark.parametrize("width, height", [(390, 844), (1366, 900)])
def test_approve_an_assistant_then_see_and_disconnect_it_in_settings(browser, mcp_server, member, width, height,
                                                                     tmp_path):
    url = mcp_server.url
    client_id = register(url, client_name="Pocket Assistant").json()["client_id"]
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.route(REDIRECT_URI + "*", lambda route: route.fulfill(body="back in the assistant", content_type="text/plain"))
    try:
        sign_in(page, url, "member@example.com")
        page.goto(authorize_url(url, client_id, pkce_pair()[1]))
        assert page.locator("h1").inner_text() == "Connect Pocket Assistant?"
        assert "member@example.com" in page.inner_text(".consent")
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        page.screenshot(path=str(tmp_path / f"consent-{width}.png"), full_page=True)
        page.click("button[value=allow]")
        page.wait_for_url(REDIRECT_URI + "*")
        params = redirected_params(page.url)
        assert params["code"] and params["state"] == "st-123"

        page.goto(f"{url}/settings/#ai-assistant")
        card = page.locator("#ai-assistant")
        assert card.locator("code.copyable").inner_text() == f"{url}/mcp"
        assert card.locator("button[data-copy]").first.get_attribute("data-copy") == f"{url}/mcp"
        card.locator("details.config summary").last.click()
        assert '"serve"' in card.locator("pre.config-text").last.inner_text()
        assert "Pocket Assistant" in card.locator("ul.rows").inner_text()
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        card.screenshot(path=str(tmp_path / f"settings-assistant-{width}.png"))
        card.locator("button", has_text="Disconnect").click()
        page.wait_for_url(f"{url}/settings/#ai-assistant")
        assert "Pocket Assistant is disconnected" in page.inner_text("main")
        assert "No assistant is connected" in page.locator("#ai-assistant ul.rows").inner_text()
    finally:
        context.close()
