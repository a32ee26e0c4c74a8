"""A local OpenAI-compatible API for tests and the benchmark: POST /v1/embeddings and /v1/chat/completions.

A real HTTP server on loopback (the plumbing of `loopback.LoopbackSandbox`), so the provider
client is exercised over real sockets. Embeddings are deterministic: a hashed bag of words in which
a few synonym groups share one word ("cost" and "pricing" both count as "price"), so similarity
ranking can be tested. Failures are scripted: `fail(429, retry_after="1")` or `fail(500)` answers
the next request with that error. Like the other sandboxes it needs only the standard library (and
loopback.py); it never creates the Flask app.
"""
import hashlib
import json
import math
import re
from collections import Counter

from .loopback import LoopbackSandbox

_WORD = re.compile(r"[^\W_]+")
_SYNONYMS = {word: group[0] for group in (
    ("price", "prices", "pricing", "priced", "cost", "costs", "costly", "expensive", "cheap", "discount", "budget"),
    ("hire", "hiring", "hired", "recruit", "recruiting", "candidate", "candidates", "interview", "interviews"),
    ("bug", "bugs", "defect", "crash", "crashes", "outage", "incident"),
) for word in group}
_IGNORED = frozenset("a an and are at be did do for how i in is it of on our so that the this to was we what "
                     "where which who why with you".split())


def fake_embedding(text: str, dims: int = 64) -> list[float]:
    vector = [0.0] * dims
    for word in _WORD.findall(text.lower()):
        if word in _IGNORED:
            continue
        digest = hashlib.sha256(_SYNONYMS.get(word, word).encode()).digest()
        vector[int.from_bytes(digest[:4], "big") % dims] += 1.0 if digest[4] % 2 else -1.0
    norm = math.sqrt(sum(x * x for x in vector)) or 1.0
    return [x / norm for x in vector]


def fake_title_and_summary(transcript: str) -> dict:
    words = [w for w in _WORD.findall(transcript.lower()) if len(w) > 3 and w not in _IGNORED]
    top = [w for w, _ in Counter(words).most_common(3)] or ["meeting"]
    return {"title": f"{top[0].capitalize()} discussion" + (f" with {top[1]}" if len(top) > 1 else ""),
            "summary": "\n".join(f"- Talked about {w}." for w in top)}


class FakeAIServer(LoopbackSandbox):
    thread_name = "fake-ai"

    def __init__(self, api_key: str | None = "test-ai-key", dims: int = 64):
        super().__init__()
        self.api_key, self.dims = api_key, dims

    @property
    def base_url(self) -> str:
        return self._server_url() + "/v1"

    @property
    def requests(self) -> list[tuple[str, dict]]:
        """(path, JSON body) of every request, failed ones included."""
        return [(entry["path"], _json(entry["body"])) for entry in self._logged()]

    def fail(self, status: int, retry_after: str | None = None, times: int = 1) -> None:
        self.fail_next(times, status, headers={"Retry-After": retry_after} if retry_after is not None else None)

    def paths(self) -> list[str]:
        return [entry["path"] for entry in self._logged()]

    def _fault_body(self, status: int):
        return {"error": {"message": f"scripted {status}", "type": "server_error"}}

    def _route(self, handler, entry, query, body):
        if self.api_key and handler.headers.get("Authorization") != f"Bearer {self.api_key}":
            return 401, {"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}}, {}
        return (*self._answer(entry["method"], entry["path"], _json(body)), {})

    def _answer(self, method: str, path: str, body: dict) -> tuple[int, dict]:
        if method == "POST" and path == "/v1/embeddings":
            inputs = body.get("input")
            inputs = [inputs] if isinstance(inputs, str) else inputs
            if not body.get("model") or not isinstance(inputs, list):
                return 400, {"error": {"message": "model and input are required", "type": "invalid_request_error"}}
            return 200, {"object": "list", "model": body["model"], "data": [
                {"object": "embedding", "index": i, "embedding": fake_embedding(str(text), self.dims)}
                for i, text in enumerate(inputs)]}
        if method == "POST" and path == "/v1/chat/completions":
            messages = body.get("messages") or []
            transcript = messages[-1].get("content", "") if messages else ""
            content = "```json\n" + json.dumps(fake_title_and_summary(transcript)) + "\n```"
            return 200, {"object": "chat.completion", "model": body.get("model"), "choices": [
                {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}]}
        return 404, {"error": {"message": f"no route {method} {path}", "type": "invalid_request_error"}}


def _json(raw: bytes) -> dict:
    try:
        return json.loads(raw or b"{}")
    except ValueError:
        return {}
