"""Issue 13, item 1: a stored URL is kept and rendered only as http(s). A `javascript:` share link from
Fathom (or any other source) is stored as NULL and never becomes an href; a row stored before the check
still renders no link. Item 2's tracking pixel: a summary's image on another server loses its source."""
import re

import pytest
from sqlalchemy import update

from callvault.calendars import meeting_urls
from callvault.calls.render import markdown_to_safe_html
from callvault.extensions import db
from callvault.models import Call
from callvault.safe_urls import http_url
from callvault.transcripts import links
from tests.support.webhooks import SECRET, encode, meeting, signed

SCRIPT_URLS = [
    "javascript:alert(document.domain)",
    "JaVaScRiPt:alert(document.domain)",
    " \t javascript:alert(1)",
    "java\tscript:alert(1)",
    "java\nscript:alert(1)",
    "\x00javascript:alert(1)",
    "\x01javascript:alert(1)",
    "javascript\x0b:alert(1)",
    "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "DATA:text/html,<script>alert(1)</script>",
    "vbscript:msgbox(1)",
    "VBScript:msgbox(1)",
    "//evil.example/phish",
    "https:evil.example",
    "https:\\\\evil.example",
    "ftp://files.example/x",
    "https://",
    "https://[::1",
    12345,
]


@pytest.mark.parametrize("url", SCRIPT_URLS)
def test_only_http_urls_pass_the_stored_url_check(url):
    assert http_url(url) is None


@pytest.mark.parametrize("url", ["https://fathom.video/share/abc", "http://example.com/a?b=1#c",
                                 "HTTPS://Fathom.video/calls/1"])
def test_http_urls_pass_the_stored_url_check(url):
    assert http_url(url) == url
    assert http_url(f"  {url}\n") == url


@pytest.fixture
def app(app):
    app.config["FATHOM_OAUTH_WEBHOOK_SECRET"] = SECRET
    return app


def _script_links(html: str) -> list[str]:
    """Every href or src whose scheme is not a web page's."""
    return [url for url in re.findall(r'(?:href|src)="([^"]*)"', html)
            if re.match(r"^\W*(javascript|data|vbscript)", url, re.IGNORECASE)]


def test_a_fathom_webhook_with_a_script_share_url_stores_and_shows_no_such_link(app, client, auth, drain, member):
    body = encode(meeting(share_url="javascript:alert(document.domain)", url="JAVASCRIPT:alert(1)"))
    assert client.post("/webhooks/fathom", data=body, headers=signed(body)).status_code == 202
    drain()
    with app.app_context():
        call = db.session.query(Call).one()
        assert (call.share_url, call.recording_url) == (None, None)
        call_id = call.id
    auth.login("member@example.com")
    page = client.get(f"/calls/{call_id}").get_data(as_text=True)
    assert "Team Sync Meeting" in page
    assert "alert(" not in page and not _script_links(page)
    assert ">Recording</a>" not in page


def test_a_script_share_url_falls_back_to_the_http_recording_url(app, client, auth, drain, member):
    body = encode(meeting(share_url="javascript:alert(document.domain)"))
    client.post("/webhooks/fathom", data=body, headers=signed(body))
    drain()
    auth.login("member@example.com")
    with app.app_context():
        call_id = db.session.query(Call.id).scalar()
    page = client.get(f"/calls/{call_id}").get_data(as_text=True)
    assert '<a href="https://fathom.video/calls/104819048" rel="noopener noreferrer">Recording</a>' in page


def test_a_script_url_stored_before_the_check_renders_no_link(app, client, auth, member, make_call):
    """Rows written before the store refused such URLs: the `safe_url` filter refuses them again."""
    call_id = make_call(member)
    with app.app_context():
        db.session.execute(update(Call).where(Call.id == call_id).values(
            share_url="javascript:alert(document.domain)", recording_url=" data:text/html,<script>alert(1)</script>"))
        db.session.commit()
        token = links.create_token(app.config["TRANSCRIPT_TOKEN_SECRET"], call_id, "guest@outside.example")
    auth.login("member@example.com")
    for url in (f"/calls/{call_id}", f"/dashboard/transcripts/{call_id}/?token={token}"):
        response = client.get(url)
        assert response.status_code == 200, url
        page = response.get_data(as_text=True)
        assert "Line number 1" in page
        assert "alert(" not in page and not _script_links(page), url
        assert ">Recording</a>" not in page


def test_calendar_meeting_links_are_kept_only_as_https():
    assert meeting_urls.normalize("javascript://meet.google.com/abc-defg-hij") is None
    assert meeting_urls.find_in_text("join: javascript:alert(1)//https://zoom.us/j/123456789") is not None \
        and meeting_urls.find_in_text("join: javascript:alert(1)//https://zoom.us/j/123456789").url.startswith("https://")
    assert meeting_urls.normalize("https://meet.google.com/abc-defg-hij").url == "https://meet.google.com/abc-defg-hij"


def test_a_summary_image_on_another_server_is_not_fetched():
    html = str(markdown_to_safe_html(
        'Hi ![pixel](https://tracker.example/p.gif?who=me) <img src="//tracker.example/x.gif">'
        ' <img src="HTTPS://tracker.example/y.gif" srcset="https://tracker.example/z.gif 2x">'
        ' [notes](javascript:alert(1))'))
    assert "tracker.example" not in html
    assert "javascript" not in html
    assert 'alt="pixel"' in html  # the words stay, the fetch goes
