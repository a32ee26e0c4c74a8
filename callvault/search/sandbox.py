"""A local OpenAI-compatible API for tests and the benchmark: POST /v1/embeddings and /v1/chat/completions.

A real HTTP server on loopback, so the provider client is exercised over real sockets.
Embeddings are deterministic: a hashed bag of words in which a few synonym groups share one
word ("cost" and "pricing" both count as "price"), so similarity ranking can be tested. Failures
are scripted: `fail(429, retry_after="1")` or `fail(500)` answers the next request with that error.
Only the standard library is used; this module never imports the Flask app.
"""
import hashlib
import json
import math
import re
import threading
from collections import Counter, deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

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


class FakeAIServer:
    def __init__(self, api_key: str | None = "test-ai-key", dims: int = 64):
        self.api_key, self.dims = api_key, dims
        self.requests: list[tuple[str, dict]] = []  # (path, body) of every request, failed ones included
        self._failures: deque = deque()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}/v1"

    def fail(self, status: int, retry_after: str | None = None, times: int = 1) -> None:
        with self._lock:
            self._failures.extend([(status, retry_after)] * times)

    def paths(self) -> list[str]:
        return [path for path, _ in self.requests]

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._server.server_close()

    def _next_failure(self):
        with self._lock:
            return self._failures.popleft() if self._failures else None

    def _answer(self, path: str, body: dict) -> tuple[int, dict]:
        if path == "/v1/embeddings":
            inputs = body.get("input")
            inputs = [inputs] if isinstance(inputs, str) else inputs
            if not body.get("model") or not isinstance(inputs, list):
                return 400, {"error": {"message": "model and input are required", "type": "invalid_request_error"}}
            return 200, {"object": "list", "model": body["model"], "data": [
                {"object": "embedding", "index": i, "embedding": fake_embedding(str(text), self.dims)}
                for i, text in enumerate(inputs)]}
        if path == "/v1/chat/completions":
            messages = body.get("messages") or []
            transcript = messages[-1].get("content", "") if messages else ""
            content = "```json\n" + json.dumps(fake_title_and_summary(transcript)) + "\n```"
            return 200, {"object": "chat.completion", "model": body.get("model"), "choices": [
                {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}]}
        return 404, {"error": {"message": f"no route {path}", "type": "invalid_request_error"}}

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = {}
                fake.requests.append((self.path, body))
                if fake.api_key and self.headers.get("Authorization") != f"Bearer {fake.api_key}":
                    return self._send(401, {"error": {"message": "Incorrect API key provided",
                                                      "type": "invalid_request_error"}})
                failure = fake._next_failure()
                if failure:
                    status, retry_after = failure
                    headers = {"Retry-After": retry_after} if retry_after is not None else {}
                    return self._send(status, {"error": {"message": f"scripted {status}", "type": "server_error"}},
                                      headers)
                self._send(*fake._answer(self.path, body))

            def _send(self, status: int, payload: dict, headers: dict | None = None):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        return Handler
