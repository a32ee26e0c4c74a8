"""Enrichment after a call lands: passages, embeddings, AI titles and summaries, semantic search.

The AI provider is FakeAIServer: a real OpenAI-compatible HTTP server on loopback, with scripted
429s and 500s. Without AI settings the offline default must still title calls.
"""
import re
from datetime import datetime, timedelta, timezone

import pytest

from callvault.calls.store import CallData, SegmentData, upsert_call
from callvault.extensions import db
from callvault.jobs.search import enrich_call, retry_due_enrichments
from callvault.models import Call, CallEnrichment, TranscriptChunk, User, utcnow
from callvault.search import chunking, embedders, providers
from sandboxes.ai_provider import FakeAIServer, fake_embedding, fake_title_and_summary

BASE = datetime(2026, 11, 2, 15, 0, tzinfo=timezone.utc)
PRICING_LINES = [
    ("Max Member", "Thanks for joining. Today we go through the price list for next year.", 0),
    ("Guest Person", "Our finance team thinks the enterprise plan is too expensive.", 8_000),
    ("Max Member", "We can offer a discount if you commit to the annual cost.", 21_000),
    ("Guest Person", "A discount on the annual price would help with our budget.", 40_000),
]
HIRING_LINES = [
    ("Max Member", "We interviewed three candidates for the backend role.", 0),
    ("Guest Person", "The second candidate was the strongest in the interview.", 12_000),
    ("Max Member", "Let's make an offer to the second candidate this week.", 30_000),
]


@pytest.fixture
def fake_ai():
    with FakeAIServer(api_key="test-ai-key") as server:
        yield server


@pytest.fixture
def ai_config(app, fake_ai):
    """Point the app at the fake provider, with retries that wait almost nothing."""
    app.config.update(AI_API_BASE_URL=fake_ai.base_url, AI_API_KEY="test-ai-key", AI_EMBEDDING_MODEL="fake-embed",
                      AI_CHAT_MODEL="fake-chat", AI_RETRY_BASE_SECONDS=0.01, AI_SEMANTIC_MIN_SIMILARITY=0.2)
    return app.config


@pytest.fixture
def store(app):
    """store(owner_id, external_id, title, lines, summary=None, source=...) -> call id (enrichment queued, not run)."""
    def add(owner_id, external_id, title, lines, summary=None, source="fathom", days=0):
        with app.app_context():
            data = CallData(source=source, external_id=external_id, title=title,
                            started_at=BASE + timedelta(days=days), ended_at=BASE + timedelta(days=days, hours=1),
                            recorded_by_name="Max Member", summary_markdown=summary,
                            segments=[SegmentData(speaker=s, text=t, start_ms=ms, end_ms=ms + 5_000)
                                      for s, t, ms in lines])
            return upsert_call(db.session.get(User, owner_id), data).call.id
    return add


def state_of(app, call_id):
    with app.app_context():
        call = db.session.get(Call, call_id)
        state = call.enrichment
        chunks = db.session.scalars(db.select(TranscriptChunk).filter_by(call_id=call_id)
                                    .order_by(TranscriptChunk.position)).all()
        return {"title": call.title, "summary": call.summary_markdown, "status": state.status,
                "attempts": state.attempts, "last_error": state.last_error, "next_attempt_at": state.next_attempt_at,
                "embedding_model": state.embedding_model, "chunks": len(chunks),
                "embedded": sum(1 for c in chunks if c.embedding is not None),
                "chunk_texts": [c.text for c in chunks], "generated_title": state.generated_title}


def library_body(client, q):
    return client.get("/calls", query_string={"q": q}).get_data(as_text=True)


def hit_titles(body):
    return [re.sub(r"<[^>]+>", "", t).strip() for t in re.findall(r'class="hit-title"[^>]*>(.*?)</a>', body, re.S)]


# --- with an OpenAI-compatible provider ------------------------------------------------------------

def test_enrichment_titles_summarises_and_embeds_through_429_and_500(app, ai_config, fake_ai, store, drain,
                                                                      member):
    bot_call = store(member, "bot-1", "Untitled meeting", PRICING_LINES, source="bot")
    fathom_call = store(member, "f-1", "Hiring sync", HIRING_LINES, summary="We picked a candidate.", days=1)
    fake_ai.fail(429, retry_after="0")  # the first request is rate limited…
    fake_ai.fail(500)  # …and the retry meets a server error; the next attempt works
    drain()

    bot = state_of(app, bot_call)
    assert bot["status"] == "done" and bot["attempts"] == 0 and bot["last_error"] is None
    prompt = next(body for path, body in reversed(fake_ai.requests) if path == "/v1/chat/completions")
    assert "Guest Person: Our finance team thinks the enterprise plan is too expensive." in \
        prompt["messages"][-1]["content"]
    answer = fake_title_and_summary(prompt["messages"][-1]["content"])
    assert bot["title"] == answer["title"] == bot["generated_title"]  # what the chat model wrote
    assert bot["summary"] == answer["summary"]
    assert bot["chunks"] >= 2 and bot["embedded"] == bot["chunks"] and bot["embedding_model"] == "fake-embed"
    assert bot["chunk_texts"][0].startswith(bot["title"])  # passage 0: the title and summary

    hiring = state_of(app, fathom_call)
    assert hiring["title"] == "Hiring sync" and hiring["summary"] == "We picked a candidate."  # theirs are kept
    assert hiring["status"] == "done" and hiring["embedded"] == hiring["chunks"]

    paths = fake_ai.paths()
    assert paths.count("/v1/chat/completions") == 1 + 2  # one call titled; the failures were retried
    assert paths.count("/v1/embeddings") == 2
    assert {body.get("model") for path, body in fake_ai.requests if path == "/v1/embeddings"} == {"fake-embed"}


def test_enrichment_is_idempotent_and_reuses_vectors(app, ai_config, fake_ai, store, drain, member):
    call_id = store(member, "1", "Pricing call", PRICING_LINES, summary="Prices.")
    drain()
    first = state_of(app, call_id)
    sent = len(fake_ai.requests)
    with app.app_context():
        enrich_call.enqueue(call_id)
    drain()
    assert len(fake_ai.requests) == sent  # nothing changed, nothing asked
    assert state_of(app, call_id) == first

    changed = PRICING_LINES[:-1] + [("Guest Person", "Send us the contract next week.", 40_000)]
    store(member, "1", "Pricing call", changed, summary="Prices.")
    drain()
    after = state_of(app, call_id)
    assert after["status"] == "done" and after["embedded"] == after["chunks"]
    new_inputs = [text for path, body in fake_ai.requests[sent:] if path == "/v1/embeddings" for text in body["input"]]
    assert new_inputs and all("contract" in text for text in new_inputs)  # unchanged passages kept their vectors
    assert len(new_inputs) < after["chunks"]


def test_a_provider_outage_never_blocks_storing_and_is_retried_later(app, ai_config, fake_ai, store, drain, member,
                                                                   client, auth):
    fake_ai.fail(500, times=10)  # down for longer than one job's retries
    call_id = store(member, "1", "Untitled meeting", PRICING_LINES, source="bot")
    drain()
    down = state_of(app, call_id)
    assert down["status"] == "failed" and down["attempts"] == 1
    assert "500" in down["last_error"] and "test-ai-key" not in down["last_error"]
    assert down["next_attempt_at"] > utcnow() + timedelta(minutes=4)  # backoff, not a hot loop
    assert down["title"] == "Untitled meeting"
    auth.login("member@example.com")
    assert hit_titles(library_body(client, "discount")) == ["Untitled meeting"]  # stored and searchable anyway

    with app.app_context():  # not due yet: the sweep leaves it alone
        assert retry_due_enrichments() == 0
        db.session.get(CallEnrichment, call_id).next_attempt_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
    fake_ai.fail(429, retry_after="0")  # still a hiccup, then back
    with app.app_context():
        assert retry_due_enrichments() == 1
    drain()
    up = state_of(app, call_id)
    assert up["status"] == "done" and up["attempts"] == 0 and up["last_error"] is None
    assert up["title"] != "Untitled meeting" and up["embedded"] == up["chunks"]


def test_a_long_retry_after_is_scheduled_not_slept(app, ai_config, fake_ai, store, drain, member):
    app.config["AI_RETRY_MAX_WAIT_SECONDS"] = 5
    fake_ai.fail(429, retry_after="7200")
    call_id = store(member, "1", "Pricing call", PRICING_LINES, summary="Prices.")
    drain()
    state = state_of(app, call_id)
    assert state["status"] == "failed" and "429" in state["last_error"]
    assert state["next_attempt_at"] > utcnow() + timedelta(minutes=110)  # honours Retry-After (2 hours)
    assert fake_ai.paths() == ["/v1/embeddings"]  # one request, no retry inside the job


def test_rejected_credentials_do_not_leak_the_key(app, ai_config, fake_ai, store, drain, member):
    app.config["AI_API_KEY"] = "sk-wrong-secret-key"
    call_id = store(member, "1", "Pricing call", PRICING_LINES, summary="Prices.")
    drain()
    state = state_of(app, call_id)
    assert state["status"] == "failed" and "rejected the credentials (401)" in state["last_error"]
    assert "sk-wrong" not in state["last_error"]
    assert fake_ai.paths() == ["/v1/embeddings"]  # a 401 is final: no retries


def test_semantic_search_finds_calls_by_meaning_fused_with_words(app, ai_config, fake_ai, store, drain, member,
                                                                 other_member, client, auth):
    pricing = store(member, "1", "Quarterly review", PRICING_LINES, summary="Numbers.")
    store(member, "2", "Team chat", HIRING_LINES, summary="People.", days=1)
    store(other_member, "3", "Their pricing call", PRICING_LINES, summary="Numbers.", days=2)
    drain()
    auth.login("member@example.com")

    body = library_body(client, "where did we discuss costs?")  # no call has all these words…
    assert hit_titles(body) == ["Quarterly review"]  # …but one is about exactly that; never another user's
    related = re.search(r'<ul class="hit-lines related">.*?</ul>', body, re.S).group(0)
    assert f'href="/calls/{pricing}#t' in related and "matched meaning" in body

    body = library_body(client, "candidate")  # a word match ranks first; a related call may follow
    assert hit_titles(body)[0] == "Team chat"
    assert "Semantic search is off" not in body

    fake_ai.fail(500, times=5)  # the provider is down while someone searches: word matches still work
    body = library_body(client, "candidate")
    assert hit_titles(body) == ["Team chat"]
    assert "Matching by meaning is unavailable right now" in body and "matched words<" in body


def test_reindex_with_embeddings_catches_up(app, ai_config, fake_ai, store, runner, member):
    ids = [store(member, str(i), f"Call {i}", PRICING_LINES, summary="Prices.", days=i) for i in range(3)]
    # Nothing drained: the jobs were lost (Redis flushed, say). The command does the work itself.
    result = runner.invoke(args=["search", "reindex", "--embeddings"])
    assert result.exit_code == 0, result.output
    assert "Enriched 3 of 3 calls" in result.output
    assert all(state_of(app, i)["status"] == "done" and state_of(app, i)["embedding_model"] == "fake-embed"
               for i in ids)
    result = runner.invoke(args=["search", "reindex", "--embeddings"])
    assert "Enriched 0 of 3 calls; 3 were up to date" in result.output

    app.config["AI_EMBEDDING_MODEL"] = "fake-embed-2"  # a new model: every passage is embedded again
    sent = len(fake_ai.requests)
    assert runner.invoke(args=["search", "reindex", "--embeddings"]).exit_code == 0
    assert state_of(app, ids[0])["embedding_model"] == "fake-embed-2"
    assert fake_ai.paths()[sent:].count("/v1/embeddings") == 3


def test_reindex_reports_failures_in_one_line(app, ai_config, fake_ai, store, runner, member):
    store(member, "1", "Pricing call", PRICING_LINES, summary="Prices.")
    fake_ai.fail(500, times=10)
    result = runner.invoke(args=["search", "reindex", "--embeddings"])
    assert result.exit_code == 1
    assert "1 call could not be enriched" in result.output and "the workers will retry them" in result.output


# --- the offline default ---------------------------------------------------------------------------

def test_offline_default_titles_from_key_phrases_and_embeds_with_the_offline_model(app, store, drain, member, client,
                                                                                   auth, runner):
    assert not app.config.get("AI_API_BASE_URL")
    bot_call = store(member, "bot-1", "Untitled meeting", PRICING_LINES + [
        ("Max Member", "So the annual discount and the enterprise plan are settled.", 60_000)], source="bot")
    kept = store(member, "f-1", "Hiring sync", HIRING_LINES, days=1)
    drain()

    bot = state_of(app, bot_call)
    assert bot["status"] == "done"
    words = set(bot["title"].lower().replace(",", "").split())
    assert {"annual", "discount"} <= words, bot["title"]
    assert bot["summary"] is None  # the offline default writes no summaries
    assert bot["chunks"] >= 2 and bot["embedded"] == bot["chunks"]
    assert bot["embedding_model"] == embedders.MODEL_NAME
    assert state_of(app, kept)["title"] == "Hiring sync"

    auth.login("member@example.com")
    body = library_body(client, "annual discount")
    assert hit_titles(body)[0] == bot["title"]  # the new title is indexed too
    assert "Semantic search is off" not in body and "AI_API_BASE_URL" not in body
    body = library_body(client, "how much does it cost")  # no call has these words: found by meaning
    assert hit_titles(body)[0] == bot["title"] and "matched meaning" in body

    result = runner.invoke(args=["search", "reindex", "--embeddings"])
    assert result.exit_code == 0 and "2 were up to date" in result.output, result.output
    result = runner.invoke(args=["search", "status"])
    assert result.exit_code == 0 and f"{embedders.MODEL_NAME}. 2 of 2 calls embedded (100%)" in result.output


def test_key_phrase_titles():
    transcript = "\n".join(f"{s}: {t}" for s, t, _ in PRICING_LINES)
    title = providers.key_phrase_title(transcript)
    assert title and "discount" in title.lower() and "annual" in title.lower()
    assert providers.key_phrase_title("A: ok\nB: yes, so, um") is None


def test_retry_after_values():
    assert providers.retry_after_seconds("3") == 3.0
    assert providers.retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past
    assert providers.retry_after_seconds("soon") is None and providers.retry_after_seconds(None) is None


def test_provider_client_retries_then_succeeds(fake_ai):
    waits = []
    client = providers.OpenAICompatibleProvider(fake_ai.base_url, "test-ai-key", "fake-embed", "fake-chat",
                                                retry_base=0.5, sleep=waits.append)
    fake_ai.fail(429, retry_after="2")
    fake_ai.fail(503)
    with client:
        vectors = client.embed(["pricing talk", "hiring talk"])
    assert waits[0] == 2.0 and 0.25 <= waits[1] <= 1.0  # Retry-After, then exponential backoff with jitter
    assert len(vectors) == 2 and abs(sum(x * x for x in vectors[0]) - 1) < 1e-6
    assert vectors[0] == pytest.approx(fake_embedding("pricing talk"))


# --- chunking ----------------------------------------------------------------------------------------

class Seg:
    def __init__(self, speaker, text, start_ms, end_ms=None):
        self.speaker, self.text, self.start_ms, self.end_ms = speaker, text, start_ms, end_ms


def test_chunks_follow_speaker_turns_with_overlap():
    segments = [Seg("Ann", f"Sentence number {i} from Ann about the plan.", i * 1000, i * 1000 + 900)
                for i in range(10)]
    segments += [Seg("Bob", f"Bob replies with point {i}.", 20_000 + i * 1000) for i in range(30)]
    chunks = chunking.chunk_call("Planning", "- We planned.", segments, max_chars=300, overlap_chars=80)
    assert chunks[0].position == 0 and chunks[0].text == "Planning\n\n- We planned." and chunks[0].start_ms is None
    body = chunks[1:]
    assert [c.position for c in chunks] == list(range(len(chunks)))
    assert all(len(c.text) <= 300 for c in body)
    assert body[0].speaker == "Ann" and body[0].start_ms == 0
    # Every line of the transcript is in some passage, in order.
    everything = "\n".join(c.text for c in body)
    assert all(s.text in everything for s in segments)
    # Neighbours overlap: a passage starts with the end of the previous one (unless its first line fills it).
    overlapping = [(before, after) for before, after in zip(body, body[1:]) if "\n" in after.text]
    assert len(overlapping) >= len(body) - 2
    for before, after in overlapping:
        first_line = after.text.split("\n")[0]
        speaker, _, said = first_line.partition(": ")
        assert before.text.endswith(said) and len(said) > 10, (before.text, after.text)
        assert before.text.split("\n")[-1].startswith(speaker + ": ")
    assert any(c.speaker == "Bob" and c.start_ms >= 20_000 for c in body)


def test_one_enormous_turn_is_split_at_sentences_and_words():
    text = " ".join(f"This is sentence {i} of a very long monologue." for i in range(200)) + " " + "x" * 5000
    chunks = chunking.chunk_call(None, None, [Seg("Ann", text, 0)], max_chars=500, overlap_chars=100)
    assert len(chunks) > 10 and all(len(c.text) <= 500 for c in chunks)
    assert all(c.text.startswith("Ann: ") for c in chunks)
    assert chunking.chunk_call(None, None, []) == []
    assert chunking.chunk_call("", "  ", [Seg("A", "   ", 0)]) == []
