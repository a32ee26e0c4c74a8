"""Full-text search: the library's search box and the API's `q=`, on SQLite FTS5 and PostgreSQL.

The same tests run on both backends (TEST_DATABASE_URL picks PostgreSQL), so both index the same
words the same way: titles, summaries and transcript lines, per user, with the query syntax.
"""
import html
import re
from datetime import datetime, timedelta, timezone

import pytest

from callvault import accounts
from callvault.calls.store import CallData, SegmentData, upsert_call
from callvault.extensions import db
from callvault.models import Call, User
from callvault.search import fulltext
from callvault.search.highlight import fragments
from callvault.transcripts import links

BASE = datetime(2026, 11, 2, 15, 0, tzinfo=timezone.utc)


@pytest.fixture
def add_call(app):
    """add_call(owner_id, external_id, title, lines=[(speaker, text, start_ms)], summary=None) -> call id."""
    def add(owner_id, external_id, title, lines=(), summary=None, source="fathom", days=0, recorded_by="Max Member"):
        with app.app_context():
            data = CallData(
                source=source, external_id=external_id, title=title, started_at=BASE + timedelta(days=days),
                ended_at=BASE + timedelta(days=days, minutes=30), recorded_by_name=recorded_by,
                summary_markdown=summary,
                segments=[SegmentData(speaker=speaker, text=text, start_ms=start_ms)
                          for speaker, text, start_ms in lines])
            return upsert_call(db.session.get(User, owner_id), data).call.id
    return add


@pytest.fixture
def library(client, auth):
    """library(q, email=member) -> the set of call titles the library lists for `q`."""
    signed_in = {}

    def titles(q, email="member@example.com", **params):
        if signed_in.get("email") != email:
            with client.session_transaction() as session:
                session.clear()
            auth.login(email)
            signed_in["email"] = email
        response = client.get("/calls", query_string={"q": q, **params},
                              headers={"HX-Request": "true", "HX-Target": "calls-table"})
        assert response.status_code == 200
        body = response.get_data(as_text=True)
        return {html.unescape(re.sub(r"<[^>]+>", "", t)).strip()
                for t in re.findall(r'class="hit-title"[^>]*>(.*?)</a>', body, re.S)}
    return titles


@pytest.fixture
def api(client, app):
    tokens = {}

    def titles(q, user_id, **params):
        if user_id not in tokens:
            with app.app_context():
                tokens[user_id] = accounts.issue_api_token(db.session.get(User, user_id))
        response = client.get("/api/v1/calls", query_string={"q": q, **params},
                              headers={"Authorization": f"Bearer {tokens[user_id]}"})
        assert response.status_code == 200, response.get_data(as_text=True)
        return {item["title"] for item in response.json["items"]}
    return titles


@pytest.fixture
def corpus(add_call, member, other_member):
    add_call(member, "1", "Pricing review", summary="## Summary\nWe agreed on a **discount** for annual plans.",
             lines=[("Max Member", "Let's talk about the enterprise tier.", 0),
                    ("Guest Person", "The renewal date is in March.", 61_000),
                    ("Max Member", "Our roadmap has the export feature first.", 125_500)])
    add_call(member, "2", "Hiring sync", days=1, summary="Two candidates for the backend role.",
             lines=[("Max Member", "The draft offer goes out Friday.", 0),
                    ("Guest Person", "Her roadmap ideas were strong; the renewal of the contract can wait.", 9_000)])
    add_call(member, "3", "Weekly standup", source="bot", days=2,
             lines=[("Zoë", "Ångström sagt: die Straße ist gesperrt, also arbeite ich heute von zu Hause.", 3_000),
                    ("Kenji", "東京 の オフィス は 来週 開きます", 7_000),
                    ("Max Member", "Mail bob@example.com about version 3.5 before the launch.", 12_000)])
    add_call(other_member, "4", "Secret merger talk", days=3, summary="Acquisition of Initech.",
             lines=[("Olga Other", "The roadmap for the merger is confidential; the renewal too.", 0)])


# --- what is searched ----------------------------------------------------------------------------

def test_finds_words_in_titles_summaries_and_transcripts(corpus, library, api, member):
    assert library("pricing") == {"Pricing review"}  # title
    assert library("discount") == {"Pricing review"}  # summary (Markdown)
    assert library("candidates") == {"Hiring sync"}  # summary
    assert library("enterprise") == {"Pricing review"}  # a transcript line
    assert library("roadmap") == {"Pricing review", "Hiring sync"}  # lines of two calls
    assert library("ROADMAP Renewal") == {"Pricing review", "Hiring sync"}  # every word, any case, anywhere
    assert library("tier march") == {"Pricing review"}  # words from two different lines of one call
    assert library("nothing-like-this") == set()
    assert api("roadmap", member) == {"Pricing review", "Hiring sync"}
    assert api("discount", member) == {"Pricing review"}


def test_a_word_being_typed_matches_as_a_prefix_and_quotes_match_exactly(corpus, library, api, member):
    assert library("pric") == {"Pricing review"}
    assert library("road") == {"Pricing review", "Hiring sync"}
    assert library('"road"') == set()
    assert api("enterp", member) == {"Pricing review"}


def test_members_find_only_their_own_calls_and_admins_find_everyones(corpus, library, api, admin, member,
                                                                   other_member):
    assert library("merger") == set()
    assert library("roadmap") == {"Pricing review", "Hiring sync"}
    assert api("merger", member) == set()
    assert api("confidential", other_member) == {"Secret merger talk"}
    assert api("roadmap", other_member) == {"Secret merger talk"}
    assert library("roadmap", email="admin@example.com") == {"Pricing review", "Hiring sync", "Secret merger talk"}
    assert api("acquisition", admin) == {"Secret merger talk"}


def test_quoted_phrases(corpus, library, api, member):
    assert library('"renewal date"') == {"Pricing review"}
    assert library('"date renewal"') == set()  # a phrase keeps its order
    assert library('"roadmap ideas"') == {"Hiring sync"}
    assert library('"the renewal"') == {"Pricing review", "Hiring sync"}
    assert library('"renewal of the contract"') == {"Hiring sync"}
    assert api('"export feature"', member) == {"Pricing review"}
    assert library('"unterminated phrase') == set()
    assert library('"enterprise tier') == {"Pricing review"}


def test_excluded_words_and_or(corpus, library, api, member):
    assert library("roadmap -draft") == {"Pricing review"}
    assert library("roadmap -discount") == {"Hiring sync"}  # excluded from the summary too
    assert library('renewal -"renewal date"') == {"Hiring sync"}
    assert library("discount OR candidates") == {"Pricing review", "Hiring sync"}
    assert api("roadmap -draft", member) == {"Pricing review"}
    # Only excluded words: every call without them, newest first.
    assert library("-roadmap") == {"Weekly standup"}
    assert api("-roadmap", member) == {"Weekly standup"}


def test_unicode_words(corpus, library, api, member):
    assert library("straße") == {"Weekly standup"}
    assert library("STRASSE") == set()  # no transliteration: words are compared as written, in any case
    assert library("ÅNGSTRÖM") == {"Weekly standup"}  # case-insensitive beyond ASCII
    assert library("angstrom") == set()  # and accents count
    assert library("zoë") == set()  # speakers' names are not searched, what they said is
    assert library("東京") == {"Weekly standup"}
    assert library("gesperrt hause") == {"Weekly standup"}
    assert api("straße", member) == {"Weekly standup"}


def test_both_backends_split_words_alike(corpus, library, api, member):
    """Addresses, version numbers and hyphenated words are several words on both backends."""
    assert library("bob@example.com") == {"Weekly standup"}
    assert library("example") == {"Weekly standup"}
    assert library('"3.5"') == {"Weekly standup"}
    assert library('"version 3"') == {"Weekly standup"}
    assert api("bob@example.com", member) == {"Weekly standup"}


def test_empty_and_punctuation_only_queries_list_everything(corpus, client, auth, api, member):
    auth.login("member@example.com")
    for q in ("", "   "):
        body = client.get("/calls", query_string={"q": q}).get_data(as_text=True)
        assert all(t in body for t in ("Pricing review", "Hiring sync", "Weekly standup"))
        assert api(q, member) == {"Pricing review", "Hiring sync", "Weekly standup"}
    # Nothing searchable in it: no call can match.
    for q in ('"', "-", "!!! ??? ***", "''", "OR", "* : ^ ( ) NEAR AND NOT"):
        assert api(q, member) == set(), q


def test_a_10000_character_query_is_answered(corpus, library, api, member):
    long_query = "roadmap " + "x" * 10_000
    assert library(long_query) == set()
    assert api(long_query, member) == set()
    many_words = " ".join(["roadmap"] * 2_000)  # 16,000 characters of one word
    assert library(many_words) == {"Pricing review", "Hiring sync"}
    assert api(many_words, member) == {"Pricing review", "Hiring sync"}


def test_query_syntax_never_reaches_the_database(corpus, library, api, member):
    for q in ("roadmap'); DROP TABLE calls; --", 'NEAR(roadmap renewal)', "roadmap:*", "title:roadmap", "r*",
              "roadmap & !renewal", "roadmap <-> renewal", "(roadmap", "\\", "%", "_"):
        assert library(q) <= {"Pricing review", "Hiring sync"}, q
        assert api(q, member) <= {"Pricing review", "Hiring sync"}, q
    assert library("roadmap") == {"Pricing review", "Hiring sync"}


def test_nul_in_a_query_is_refused_before_the_database(client, auth, corpus, member):
    """PostgreSQL cannot compare text holding NUL: every query string with one is a 400 that says so."""
    auth.login("member@example.com")
    response = client.get("/calls", query_string={"q": "\x00roadmap"})
    assert response.status_code == 400 and "NUL character" in response.get_data(as_text=True)


def test_index_follows_changes_and_deletions(app, corpus, add_call, library, member):
    add_call(member, "2", "Hiring sync", days=1, summary="Two candidates for the backend role.",
             lines=[("Max Member", "We chose the second candidate.", 0)])
    assert library("roadmap") == {"Pricing review"}
    assert library("chose") == {"Hiring sync"}
    with app.app_context():
        call = db.session.scalars(db.select(Call).filter_by(external_id="1")).one()
        call.title = "Price negotiation"
        db.session.commit()
        assert library("negotiation") == {"Price negotiation"}
        assert library("pricing") == set()
        db.session.delete(db.session.get(Call, call.id))
        db.session.commit()
    assert library("enterprise") == set()
    assert library("discount") == set()


def test_filters_and_search_combine(corpus, library, api, member):
    assert library("roadmap", source="bot") == set()
    assert library("launch", source="bot") == {"Weekly standup"}
    assert library("roadmap", since="2026-11-03") == {"Hiring sync"}
    assert api("roadmap", member, until="2026-11-03") == {"Pricing review"}


def test_api_search_paginates_newest_first(client, add_call, api, member, app):
    for i in range(5):
        add_call(member, str(i), f"Call {i}", days=i, lines=[("A", f"budget item {i}", 0)])
    add_call(member, "x", "Unrelated", lines=[("A", "nothing here", 0)])
    with app.app_context():
        token = accounts.issue_api_token(db.session.get(User, member))
    seen, cursor = [], None
    while True:
        response = client.get("/api/v1/calls", query_string={"q": "budget", "limit": 2, **({"cursor": cursor} if cursor else {})},
                              headers={"Authorization": f"Bearer {token}"}).json
        seen += [item["title"] for item in response["items"]]
        cursor = response["next_cursor"]
        if not cursor:
            break
    assert seen == [f"Call {i}" for i in reversed(range(5))]


# --- what a hit shows ----------------------------------------------------------------------------

def test_hits_show_matching_lines_with_speaker_time_and_a_link_to_that_moment(corpus, client, auth):
    auth.login("member@example.com")
    body = client.get("/calls", query_string={"q": "roadmap"}).get_data(as_text=True)
    hits = re.findall(r'<li class="hit">(.*?)</li>\s*(?=<li class="hit">|</ol>)', body, re.S)
    assert len(hits) == 2
    pricing = next(h for h in hits if "Pricing review" in h)
    line = re.search(r'<a href="(/calls/(\d+)#t125500)">(.*?)</a>', pricing, re.S)
    assert line, pricing
    text = re.sub(r"\s+", " ", line.group(3))
    assert '<span class="ts">02:05</span>' in text
    assert "Max Member" in text
    assert "Our <mark>roadmap</mark> has the export feature first." in text
    # The link lands on that line of the call page.
    page = client.get(line.group(1).split("#")[0]).get_data(as_text=True)
    assert 'id="t125500"' in page
    assert re.search(r'id="t125500".*?Our roadmap has the export feature first', page, re.S)
    # The signed-link viewer has the same anchors.
    token = links.create_token("test-transcript-secret", int(line.group(2)), "member@example.com")
    viewer = client.get(f"/dashboard/transcripts/{line.group(2)}/", query_string={"token": token})
    assert viewer.status_code == 200
    assert re.search(r'id="t125500".*?Our roadmap has the export feature first', viewer.get_data(as_text=True), re.S)


def test_summary_matches_are_highlighted_and_text_is_escaped(client, auth, add_call, member):
    add_call(member, "1", "<script>alert(1)</script> roadmap", summary="**Roadmap** <img src=x onerror=alert(1)>",
             lines=[("<b>Eve</b>", "roadmap <i>now</i>", 1_000)])
    auth.login("member@example.com")
    body = client.get("/calls", query_string={"q": "roadmap"}).get_data(as_text=True)
    assert "<script>alert(1)" not in body and "<img src=x" not in body and "<b>Eve</b>" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt; <mark>roadmap</mark>" in body
    assert '<p class="hit-summary"><mark>Roadmap</mark>' in body
    assert "<mark>roadmap</mark> &lt;i&gt;now&lt;/i&gt;" in body


def test_many_matching_lines_are_summarised(client, auth, add_call, member):
    add_call(member, "1", "Long call", lines=[("A", f"budget line {i}", i * 1000) for i in range(10)])
    auth.login("member@example.com")
    body = client.get("/calls", query_string={"q": "budget"}).get_data(as_text=True)
    assert body.count("#t") == 3
    assert "and 7 more matching lines" in body


def test_results_are_ranked_and_paged(client, auth, add_call, member):
    add_call(member, "1", "Weekly sync", days=5, lines=[("A", "a word about pricing", 0)])
    add_call(member, "2", "Pricing strategy", days=1, summary="Pricing, pricing, pricing.",
             lines=[("A", "pricing pricing", 0), ("B", "more pricing", 1000)])
    for i in range(30):
        add_call(member, f"n{i}", f"Other {i}", days=2, lines=[("A", f"pricing mention {i}", 0)])
    auth.login("member@example.com")
    body = client.get("/calls", query_string={"q": "pricing"}).get_data(as_text=True)
    titles = [re.sub(r"<[^>]+>", "", t) for t in re.findall(r'class="hit-title"[^>]*>(.*?)</a>', body, re.S)]
    assert titles[0] == "Pricing strategy"  # title and summary matches weigh most
    assert len(titles) == 25 and "32 calls match" in body
    more = re.search(r'href="(/calls\?[^"]*cursor=[^"]+)"', body).group(1).replace("&amp;", "&")
    rest = client.get(more).get_data(as_text=True)
    rest_titles = [re.sub(r"<[^>]+>", "", t) for t in re.findall(r'class="hit-title"[^>]*>(.*?)</a>', rest, re.S)]
    assert len(rest_titles) == 7 and not set(titles) & set(rest_titles)
    assert client.get("/calls", query_string={"q": "pricing", "cursor": "garbage"}).status_code == 200
    assert "cursor is not one this server gave out" in client.get(
        "/calls", query_string={"q": "pricing", "cursor": "garbage"}).get_data(as_text=True)


def test_library_search_box_updates_as_you_type(client, auth, member):
    auth.login("member@example.com")
    body = client.get("/calls").get_data(as_text=True)
    form = re.search(r'<form class="filters".*?>', body, re.S).group(0)
    assert 'hx-get="/calls"' in form and 'hx-target="#calls-table"' in form and 'hx-push-url="true"' in form
    assert re.search(r'hx-trigger="[^"]*input changed delay:\d+ms', form)
    assert '<input type="search" name="q"' in body


# --- the query parser and highlighter --------------------------------------------------------------

def test_parse():
    query = fulltext.parse('Pricing "Annual Plan" -draft -"old deal" OR budget')
    first, second = query.groups
    assert [t.words for t in first.include] == [("pricing",), ("annual", "plan")]
    assert [t.prefix for t in first.include] == [True, False]
    assert [t.words for t in first.exclude] == [("draft",), ("old", "deal")]
    assert [t.words for t in second.include] == [("budget",)]
    assert [t.prefix for t in fulltext.parse("feedback on the new design").groups[0].include] == \
        [True, False, True, True, True]  # a word shorter than three letters is no prefix
    assert fulltext.parse("").groups == ()
    assert fulltext.parse('" - "" *** -').groups == ()
    assert fulltext.parse("OR").groups == ()
    assert len(fulltext.parse(" ".join(f"w{i}" for i in range(100))).terms) == fulltext.MAX_TERMS


def test_highlight_fragments():
    terms = fulltext.parse("road").terms
    assert fragments("Our Roadmap, roads and a railroad", terms) == [
        ("Our ", False), ("Roadmap", True), (", ", False), ("roads", True), (" and a railroad", False)]
    phrase = fulltext.parse('"renewal date"').terms
    assert fragments("the renewal date is the renewal", phrase) == [
        ("the ", False), ("renewal date", True), (" is the renewal", False)]
    long_text = "word " * 100 + "target " + "word " * 100
    pieces = fragments(long_text, fulltext.parse("target").terms, width=60)
    shown = "".join(text for text, _ in pieces)
    assert shown.startswith("… ") and shown.endswith(" …") and ("target", True) in pieces and len(shown) < 80


def test_words_in_too_many_lines_list_newest_first_instead_of_ranking(app, client, auth, add_call, member,
                                                                       other_member):
    app.config["SEARCH_MAX_RANKED_LINES"] = 3
    for i in range(3):
        add_call(member, str(i), f"Budget call {i}", days=i, lines=[("A", "budget talk", 0), ("B", "more budget", 1)])
    add_call(other_member, "x", "Their budget", days=9, lines=[("A", "budget", 0)])
    auth.login("member@example.com")
    body = client.get("/calls", query_string={"q": "budget"}).get_data(as_text=True)
    titles = [re.sub(r"<[^>]+>", "", t) for t in re.findall(r'class="hit-title"[^>]*>(.*?)</a>', body, re.S)]
    assert titles == ["Budget call 2", "Budget call 1", "Budget call 0"]  # newest first, never theirs
    assert "too many lines to rank by relevance" in body
    assert "<mark>budget</mark> talk" in body  # still with the matching lines
    # A selective word finds the calls; the common one is then checked within them only.
    body = client.get("/calls", query_string={"q": "talk budget"}).get_data(as_text=True)
    assert "too many lines" not in body and "3 calls match" in body
    body = client.get("/calls", query_string={"q": "talk budget -more"}).get_data(as_text=True)
    assert "No calls match." in body
    add_call(member, "3", "Budget call 3", days=3, lines=[("A", "budget talk", 0)])
    body = client.get("/calls", query_string={"q": "budget -more"}).get_data(as_text=True)
    assert "too many lines" in body
    assert [re.sub(r"<[^>]+>", "", t) for t in re.findall(r'class="hit-title"[^>]*>(.*?)</a>', body, re.S)] == [
        "Budget call 3"]
    app.config["SEARCH_MAX_RANKED_LINES"] = 8  # exactly at the limit (lines are counted vault-wide): ranked
    body = client.get("/calls", query_string={"q": "budget"}).get_data(as_text=True)
    assert "too many lines" not in body and "4 calls match" in body


def test_newest_first_listings_page_up_to_the_cursor_limit(client, auth, add_call, member):
    for i in range(30):
        add_call(member, str(i), f"Call {i}", days=i, lines=[("A", "hello", 0)])
    auth.login("member@example.com")
    seen, url = [], "/calls?q=-nothing"
    while url:
        body = client.get(url).get_data(as_text=True)
        assert "cursor is not one" not in body
        seen += [re.sub(r"<[^>]+>", "", t) for t in re.findall(r'class="hit-title"[^>]*>(.*?)</a>', body, re.S)]
        found = re.search(r'href="(/calls\?[^"]*cursor=[^"]+)"', body)
        url = found.group(1).replace("&amp;", "&") if found else None
    assert seen == [f"Call {i}" for i in reversed(range(30))]
