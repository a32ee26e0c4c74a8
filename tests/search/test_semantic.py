"""Semantic search with the offline default: found by meaning, ranked with words, in the library, the API
and MCP, within each person's calls; the in-memory index stays current; bad input never fails.

Every test here uses the real offline model (WordLlama's weights from its wheel): no AI settings.
"""
import re
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from callvault.calls.store import CallData, SegmentData, upsert_call
from callvault.extensions import db
from callvault.jobs.search import reembed_stale_calls
from callvault.mcp import tools
from callvault.models import Call, CallEnrichment, TranscriptChunk, User
from callvault.search import embedders, providers, vectors
from sandboxes.ai_provider import FakeAIServer

BASE = datetime(2026, 11, 2, 15, 0, tzinfo=timezone.utc)
DISCOUNT = [("Max Member", "Good morning, thanks for joining.", 0),
            ("Guest Person", "Northwind asked for better terms before they renew.", 20_000),
            ("Max Member", "We agreed to cut their subscription fee by ten percent.", 41_000),
            ("Guest Person", "Finance signed off on lowering the yearly invoice.", 65_000)]
OUTAGE = [("Max Member", "The database went down at two in the morning.", 0),
          ("Guest Person", "Pages took forty minutes to load again after the disk filled up.", 15_000)]
HIRING = [("Max Member", "We interviewed three engineers for the backend opening.", 0),
          ("Guest Person", "Let's send her an offer letter by Friday.", 12_000)]
QUESTION = "did a client get a price reduction"  # no word in common with DISCOUNT


@pytest.fixture
def store(app):
    def add(owner_id, external_id, title, lines, days=0):
        with app.app_context():
            data = CallData(source="fathom", external_id=external_id, title=title,
                            started_at=BASE + timedelta(days=days), ended_at=BASE + timedelta(days=days, hours=1),
                            recorded_by_name="Max Member",
                            segments=[SegmentData(speaker=s, text=t, start_ms=ms, end_ms=ms + 5_000)
                                      for s, t, ms in lines])
            return upsert_call(db.session.get(User, owner_id), data).call.id
    return add



def api(client, token, **query):
    return client.get("/api/v1/calls", query_string=query, headers={"Authorization": f"Bearer {token}"})


def hit_titles(body):
    return [re.sub(r"<[^>]+>", "", t).strip() for t in re.findall(r'class="hit-title"[^>]*>(.*?)</a>', body, re.S)]


def test_the_offline_embedder_opens_no_network_connection():
    """In a fresh interpreter with every socket connection and DNS lookup refused, the model loads and embeds."""
    script = textwrap.dedent("""
        import sys
        def refuse(event, args):
            if event in ("socket.connect", "socket.getaddrinfo", "socket.gethostbyname"):
                raise RuntimeError(f"network used: {event} {args!r}")
        sys.addaudithook(refuse)
        from callvault.search import embedders, providers
        with providers.OfflineProvider() as provider:
            vectors = provider.embed(["we agreed to cut their subscription fee", "a price reduction"])
        assert len(vectors) == 2 and len(vectors[0]) == 256, vectors
        print("embedded offline with", provider.embedding_model)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "HOME": "/nonexistent"})
    assert done.returncode == 0, done.stderr
    assert f"embedded offline with {embedders.MODEL_NAME}" in done.stdout


def test_a_call_gets_its_vectors_when_it_lands_and_is_found_by_meaning_everywhere(
        app, store, drain, member, other_member, client, auth, token_for):
    mine = store(member, "1", "Renewal call", DISCOUNT)
    store(member, "2", "Postmortem", OUTAGE, days=1)
    theirs = store(other_member, "3", "Their renewal", DISCOUNT, days=2)
    drain()  # the enrichment jobs queued when the calls landed
    with app.app_context():
        chunks = db.session.scalars(db.select(TranscriptChunk).filter_by(call_id=mine)).all()
        assert chunks and all(c.embedding_model == embedders.MODEL_NAME and len(c.embedding) == 256 * 4
                              and c.embedding_code == vectors.code_of(np.frombuffer(c.embedding, "<f4"))
                              for c in chunks)

    auth.login("member@example.com")
    body = client.get("/calls", query_string={"q": QUESTION}).get_data(as_text=True)
    assert hit_titles(body)[0] == "Renewal call" and "Their renewal" not in body  # never another person's
    assert "matched meaning" in body and f'href="/calls/{mine}#t' in body

    response = api(client, token_for(member), q=QUESTION)
    assert response.status_code == 200
    items = response.json["items"]
    assert items[0]["id"] == mine and theirs not in [i["id"] for i in items]
    assert items[0]["match"]["by"] == "meaning"
    passage = items[0]["match"]["passage"]
    assert passage["start_ms"] is not None and "subscription fee" in passage["text"]

    with app.app_context():
        found = tools.search_meetings(db.session.get(User, member), QUESTION)
        assert found["hits"][0]["meeting_id"] == mine and found["hits"][0]["matched_by"] == "meaning"
        assert theirs not in [h["meeting_id"] for h in found["hits"]]
        assert found["hits"][0]["best_passage"]["time"] and "Matched by meaning" in tools.search_text(found)
        everyone = tools.search_meetings(db.session.get(User, other_member), QUESTION)
        assert [h["meeting_id"] for h in everyone["hits"]][:1] == [theirs]


def test_words_and_meaning_fuse_and_sort_newest_keeps_date_order(app, store, drain, member, client, token_for):
    renewal = store(member, "1", "Renewal call", DISCOUNT)
    hiring = store(member, "2", "Hiring", HIRING + [("Max Member", "Their invoice is separate.", 30_000)], days=1)
    drain()
    token = token_for(member)

    ranked = api(client, token, q="invoice").json["items"]  # both contain the word, and are about it
    assert {i["id"] for i in ranked} == {renewal, hiring}
    assert {i["match"]["by"] for i in ranked} == {"both"}
    by_meaning = api(client, token, q="yearly bill reduced for a customer").json["items"]
    assert by_meaning[0]["id"] == renewal and by_meaning[0]["match"]["by"] == "meaning"
    assert api(client, token, q="invoice", sort="relevance").json["items"] == ranked

    newest = api(client, token, q="invoice", sort="newest").json["items"]
    assert [i["id"] for i in newest] == [hiring, renewal] and "match" not in newest[0]
    assert api(client, token, sort="newest").json["items"][0]["id"] == hiring
    bad = api(client, token, q="invoice", sort="best")
    assert bad.status_code == 400 and "sort must be one of" in bad.json["error"]["message"]

    assert "/api/v1/calls" in client.get("/api/v1/openapi.json").json["paths"]
    sort = [p for p in client.get("/api/v1/openapi.json").json["paths"]["/api/v1/calls"]["get"]["parameters"]
            if p["name"] == "sort"]
    assert sort and sort[0]["schema"]["enum"] == ["relevance", "newest"]


def test_library_sort_control(app, store, drain, member, client, auth):
    store(member, "1", "Renewal call", DISCOUNT)
    store(member, "2", "Hiring", HIRING + [("Max Member", "Their invoice is separate.", 30_000)], days=1)
    drain()
    auth.login("member@example.com")
    page = client.get("/calls").get_data(as_text=True)
    assert '<select name="sort"' in page and ">Most relevant<" in page and ">Newest<" in page
    relevant = client.get("/calls", query_string={"q": "invoice yearly"}).get_data(as_text=True)
    assert hit_titles(relevant)[0] == "Renewal call"  # the one with both words first
    newest = client.get("/calls", query_string={"q": "invoice", "sort": "newest"}).get_data(as_text=True)
    assert hit_titles(newest) == ["Hiring", "Renewal call"]
    assert '<option value="newest" selected>' in newest


@pytest.mark.parametrize("query", ["", "x" * 10_000, "🙂🎉🔥", "скидка для клиента", "顧客への割引", "💰 discount?"])
def test_odd_queries_answer_clearly(app, store, drain, member, client, auth, token_for, query):
    store(member, "1", "Renewal call", DISCOUNT)
    drain()
    auth.login("member@example.com")
    page = client.get("/calls", query_string={"q": query})
    assert page.status_code == 200
    assert "AI_API_BASE_URL" not in page.get_data(as_text=True)
    if query == "🙂🎉🔥":
        assert "has no words to look for" in page.get_data(as_text=True)
    response = api(client, token_for(member), q=query)
    assert response.status_code == 200 and isinstance(response.json["items"], list)
    if query == "🙂🎉🔥":
        assert "has no words to look for" in response.json["note"]
    with app.app_context():
        user = db.session.get(User, member)
        try:
            answer = tools.search_meetings(user, query)
        except tools.ToolInputError as exc:  # no words at all: said plainly
            assert "no words to search for" in str(exc)
        else:
            assert isinstance(answer["hits"], list)


def test_the_index_follows_new_changed_and_deleted_calls(app, store, drain, member, token_for, client):
    token = token_for(member)
    renewal = store(member, "1", "Renewal call", DISCOUNT)
    drain()
    assert [i["id"] for i in api(client, token, q=QUESTION).json["items"]][:1] == [renewal]

    outage = store(member, "2", "Postmortem", OUTAGE, days=1)  # lands after the index was loaded
    drain()
    assert api(client, token, q="why did the site break overnight").json["items"][0]["id"] == outage

    store(member, "1", "Renewal call", HIRING)  # the same call, new content: new passages, old ones gone
    drain()
    items = api(client, token, q=QUESTION).json["items"]
    assert all("subscription" not in (i["match"]["passage"] or {}).get("text", "") for i in items)

    with app.app_context():
        db.session.delete(db.session.get(Call, outage))
        db.session.commit()
    assert outage not in [i["id"] for i in api(client, token, q="why did the site break overnight").json["items"]]


def test_a_member_query_scans_only_their_calls_passages(app, store, drain, member, other_member):
    mine = store(member, "1", "Renewal call", DISCOUNT)
    theirs = [store(other_member, str(n), f"Other {n}", DISCOUNT, days=n) for n in range(2, 6)]
    drain()
    with app.app_context():
        index = vectors.index_for(db.session, embedders.MODEL_NAME)
        index.refresh(db.session)
        mine_rows = index.rows_of(np.array([mine]))
        assert set(index.call_ids[mine_rows].tolist()) == {mine}
        assert len(mine_rows) == db.session.scalar(
            db.select(db.func.count()).select_from(TranscriptChunk).filter_by(call_id=mine))
        query = providers.OfflineProvider().embed([QUESTION])[0]
        shortlist = index.shortlist(np.asarray(query), np.array([mine]))
        owners = set(db.session.scalars(db.select(TranscriptChunk.call_id).where(
            TranscriptChunk.id.in_(shortlist.tolist()))))
        assert owners == {mine}
        found = vectors.best_passages(db.session, [mine], query, embedders.MODEL_NAME, embedders.MIN_SIMILARITY)
        assert set(found) == {mine} and not set(found) & set(theirs)


def test_a_new_model_reembeds_in_the_background_while_search_keeps_working(app, store, drain, member, client,
                                                                          token_for, runner):
    ids = [store(member, str(n), f"Renewal {n}", DISCOUNT, days=n) for n in range(3)]
    drain()
    token = token_for(member)
    with FakeAIServer(api_key="k") as fake:
        app.config.update(AI_API_BASE_URL=fake.base_url, AI_API_KEY="k", AI_EMBEDDING_MODEL="fake-embed",
                          AI_RETRY_BASE_SECONDS=0.01, AI_SEMANTIC_MIN_SIMILARITY=0.2)
        assert "0 of 3 calls embedded (0%)" in runner.invoke(args=["search", "status"]).output
        response = api(client, token, q="subscription")  # before re-embedding: words still find them
        assert response.status_code == 200 and {i["id"] for i in response.json["items"]} == set(ids)
        with app.app_context():
            assert reembed_stale_calls() == 3
        drain()
        assert "fake-embed. 3 of 3 calls embedded (100%)" in runner.invoke(args=["search", "status"]).output
        with app.app_context():
            assert {s.embedding_model for s in db.session.scalars(db.select(CallEnrichment))} == {"fake-embed"}
            assert reembed_stale_calls() == 0
        assert {i["id"] for i in api(client, token, q="subscription").json["items"]} == set(ids)
