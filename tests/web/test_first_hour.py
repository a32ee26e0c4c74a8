"""The first hour (issue 15): the library updates itself, keeps its filters on Back, says when From is
after To, greets an empty vault with a checklist; members see no operator configuration; admins get a
setup page."""
import re
from datetime import datetime, timezone

from callvault.extensions import db
from callvault.models import Calendar, FathomConnection


def test_the_library_polls_for_new_meetings_and_shows_them(client, auth, member, other_member, make_call):
    make_call(member, external_id="1", title="First meeting")
    auth.login("member@example.com")
    page = client.get("/calls").get_data(as_text=True)
    poll = re.search(r'hx-get="(/calls/updates\?[^"]+)" hx-trigger="every 15s"', page)
    assert poll, "the open library polls for updates"
    updates = poll.group(1).replace("&amp;", "&")
    assert client.get(updates).status_code == 204  # nothing new: no swap
    make_call(other_member, external_id="2", title="Someone else's")
    assert client.get(updates).status_code == 204  # another member's call is not news to this one
    make_call(member, external_id="3", title="Arrived by webhook")
    answer = client.get(updates)
    body = answer.get_data(as_text=True)
    assert answer.status_code == 200 and "Arrived by webhook" in body and "New meetings arrived" in body
    assert body.lstrip().startswith('<div id="calls-table">')
    next_poll = re.search(r'hx-get="(/calls/updates\?[^"]+)"', body).group(1).replace("&amp;", "&")
    assert client.get(next_poll).status_code == 204


def test_polling_keeps_the_filters_and_stops_for_searches_and_older_pages(client, auth, member, make_call):
    make_call(member, external_id="1", title="A bot call", source="bot")
    auth.login("member@example.com")
    page = client.get("/calls?source=bot").get_data(as_text=True)
    updates = re.search(r'hx-get="(/calls/updates\?[^"]+)"', page).group(1).replace("&amp;", "&")
    assert "source=bot" in updates
    make_call(member, external_id="2", title="A Fathom call", source="fathom")
    assert client.get(updates).status_code == 204  # filtered out: not news for this view
    assert "/calls/updates" not in client.get("/calls?q=call").get_data(as_text=True)
    assert client.get("/calls/updates?after=x").status_code == 400
    assert client.get("/calls/updates?since=2026-12-05&until=2026-12-01").status_code == 400


def test_poll_interval_is_configurable_and_zero_turns_it_off(app_factory, member, make_call):
    app = app_factory(LIBRARY_POLL_SECONDS=0)
    client = app.test_client()
    from tests.support.web import login
    login(client, "member@example.com")
    assert "/calls/updates" not in client.get("/calls").get_data(as_text=True)


def test_from_after_to_says_so(client, auth, member):
    auth.login("member@example.com")
    response = client.get("/calls?since=2026-12-05&until=2026-12-01")
    assert response.status_code == 200
    assert "From date (since) is after the To date (until)" in response.get_data(as_text=True)


def test_the_search_box_comes_back_from_the_address_and_history_is_not_snapshotted(client, auth, member):
    auth.login("member@example.com")
    page = client.get("/calls?q=pricing&source=bot").get_data(as_text=True)
    assert 'value="pricing"' in page and 'value="bot" selected' in page
    assert 'hx-history="false"' in page and '"refreshOnHistoryMiss":true' in page


def test_times_say_their_zone(client, auth, member, make_call):
    make_call(member, external_id="1", title="Zoned")
    auth.login("member@example.com")
    assert "Date (UTC)" in client.get("/calls").get_data(as_text=True)


def test_an_empty_vault_shows_a_checklist_that_ticks_itself(app, client, auth, member):
    auth.login("member@example.com")
    page = client.get("/calls").get_data(as_text=True)
    assert "Bring your meetings in" in page
    assert page.count('class="todo"') == 3 and 'class="done"' not in page
    with app.app_context():
        db.session.add(FathomConnection(user_id=member, api_key_encrypted="x", webhook_id="wh1", webhook_key="k1"))
        db.session.add(Calendar(user_id=member, provider="google", auth_method="oauth", account_email="m@example.com",
                                deduplication_key="google:m@example.com"))
        db.session.commit()
    page = client.get("/calls").get_data(as_text=True)
    assert page.count('class="done"') == 3 and 'class="todo"' not in page
    assert "Sync your Fathom meetings now" in page


def test_no_checklist_once_there_are_calls_or_filters(client, auth, member, make_call):
    auth.login("member@example.com")
    assert "Bring your meetings in" not in client.get("/calls?source=bot").get_data(as_text=True)
    make_call(member, external_id="1", title="Here")
    assert "Bring your meetings in" not in client.get("/calls").get_data(as_text=True)


def test_admins_get_a_setup_page_that_names_settings_but_never_shows_values(app, client, auth, admin, member):
    app.config.update(EXPORT_DATABASE_URL="postgresql://hub:hunter2-secret@db.example/hub",
                      AI_API_BASE_URL=None, AI_EMBEDDING_MODEL=None)
    auth.login("member@example.com")
    assert client.get("/admin/setup/").status_code in (302, 403, 404)
    assert "/admin/setup/" not in client.get("/calls").get_data(as_text=True)  # no link for members
    from tests.support.web import login
    admin_client = app.test_client()
    login(admin_client, "admin@example.com")
    page = admin_client.get("/admin/setup/")
    body = page.get_data(as_text=True)
    assert page.status_code == 200
    hub = re.search(r'<tr id="setup-export-hub">.*?</tr>', body, re.S).group(0)
    assert ">on<" in hub and "hunter2" not in body and "db.example" not in body
    semantic = re.search(r'<tr id="setup-semantic-search">.*?</tr>', body, re.S).group(0)
    assert ">off<" in semantic and "AI_API_BASE_URL" in semantic and "AI_EMBEDDING_MODEL" in semantic
    assert "/webhooks/fathom" in body  # the OAuth app's webhook address to register


def test_members_read_plain_words_where_a_feature_is_off(app, client, auth, member, make_call):
    app.config.update(EXPORT_DATABASE_URL=None, EXPORT_WEBHOOK_URL=None, FATHOM_OAUTH_CLIENT_ID=None,
                      GOOGLE_CLIENT_ID=None, MICROSOFT_CLIENT_ID=None)
    call_id = make_call(member, external_id="1", title="Plain words")
    auth.login("member@example.com")
    pages = [client.get(path).get_data(as_text=True) for path in (f"/calls/{call_id}", "/settings/", "/calls?q=plain")]
    for body in pages:
        assert not re.search(r"\b(EXPORT|AI|FATHOM|GOOGLE|MICROSOFT)_[A-Z_]+", body), body
    assert "Exports are not set up on this server." in pages[0]
    assert "Not available on this server yet." in pages[1]
    response = client.get("/auth/fathom/", follow_redirects=True)
    assert "FATHOM_OAUTH" not in response.get_data(as_text=True)
    assert "not available on this server" in response.get_data(as_text=True)


def test_actions_that_cannot_work_yet_are_disabled_with_the_reason(client, auth, member, make_call):
    auth.login("member@example.com")
    sync_page = client.get("/fathom/sync").get_data(as_text=True)
    assert re.search(r'<button type="submit" class="primary" disabled[^>]*>Fetch meetings', sync_page)
    assert "Connect Fathom first" in sync_page
    exports = client.get("/exports/").get_data(as_text=True)
    assert re.search(r'<button type="submit" class="primary" disabled[^>]*>Build a zip', exports)
    assert "You own no calls yet" in exports
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', exports).group(1)
    refused = client.post("/exports/bundles", data={"csrf_token": csrf, "formats": "txt"}, follow_redirects=True)
    assert "you own no calls yet" in refused.get_data(as_text=True).lower()
    make_call(member, external_id="1", title="One")
    assert "Build a zip of 1 call<" in client.get("/exports/").get_data(as_text=True)


def test_a_message_naming_a_setting_reads_as_plain_words_to_members(app, client, auth, member, admin, make_call):
    app.config["TRANSCRIPT_TOKEN_SECRET"] = None
    call_id = make_call(member, external_id="1", title="Unshareable")
    auth.login("member@example.com")
    body = client.get(f"/calls/{call_id}").get_data(as_text=True)
    assert "TRANSCRIPT_TOKEN_SECRET" not in body and "not set up on this server yet" in body
    from tests.support.web import login
    admin_client = app.test_client()
    login(admin_client, "admin@example.com")
    assert "TRANSCRIPT_TOKEN_SECRET" in admin_client.get(f"/calls/{call_id}").get_data(as_text=True)
