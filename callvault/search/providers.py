"""AI providers: an OpenAI-compatible HTTP API, or the offline default.

`OpenAICompatibleProvider` is the one client for `/embeddings` and `/chat/completions`
(AI_API_BASE_URL includes the version prefix, as in the OpenAI SDKs: https://api.openai.com/v1).
Retries live in `_post` and nowhere else: 429 waits for Retry-After, 5xx and network errors back
off exponentially with jitter; other 4xx are final. A wait longer than `max_wait` is not slept
inside a job: the error carries `retry_after` and the caller schedules the next attempt.

`OfflineProvider` needs nothing: titles come from the transcript's key phrases, it writes no
summaries, and embeddings come from the offline model (`embedders`), so semantic search is always on.
A provider without AI_EMBEDDING_MODEL embeds offline too. The API key is only ever sent in the
Authorization header; it is never logged and never part of an error message.
"""
import json
import math
import time
from collections import Counter
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import requests

from ..http_retry import RETRYABLE_STATUSES, backoff_seconds
from ..logs import log_event
from . import embedders
from .fulltext import WORD

EMBEDDING_BATCH = 64
MAX_PROMPT_CHARS = 24_000
INTERACTIVE_TIMEOUT_SECONDS = 5.0
CHAT_INSTRUCTIONS = (
    "You write titles and summaries of meeting transcripts. Reply with one JSON object and nothing else: "
    '{"title": "...", "summary": "..."}. The title has at most 8 words and no quotes. The summary is 2 to 4 '
    "short Markdown bullet points about what was discussed and decided. Write in the transcript's language.")


class ProviderError(Exception):
    """The provider failed. The message is safe to show; `retry_after` (seconds) says when to try again."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


@dataclass
class Generated:
    title: str | None
    summary: str | None


class OfflineProvider:
    name = "offline"
    embedding_model = embedders.MODEL_NAME
    remote_embeddings = False

    def embed(self, texts: list[str], interactive: bool = False) -> list:
        """Unit-length vectors from the offline model, one per text."""
        try:
            return list(embedders.embed(texts))
        except embedders.EmbedderError as exc:
            raise ProviderError(str(exc)) from None

    def title_and_summary(self, transcript: str) -> Generated:
        return Generated(key_phrase_title(transcript), None)

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class OpenAICompatibleProvider(OfflineProvider):
    """Embeddings from the provider when `embedding_model` is given (else the offline model's), titles and
    summaries when `chat_model` is (else offline titles)."""

    def __init__(self, base_url: str, api_key: str | None, embedding_model: str | None, chat_model: str | None,
                 timeout: float = 30.0, max_attempts: int = 5, retry_base: float = 1.0, max_wait: float = 60.0,
                 sleep=time.sleep):
        self.base_url = base_url.rstrip("/")
        self.name = urlsplit(self.base_url).netloc or "the AI provider"
        self.remote_embeddings = bool(embedding_model)
        self.embedding_model = embedding_model or embedders.MODEL_NAME
        self.chat_model = chat_model or None
        self.timeout, self.max_attempts, self.retry_base, self.max_wait = timeout, max_attempts, retry_base, max_wait
        self.sleep = sleep
        self._session = requests.Session()
        self._session.headers["Accept"] = "application/json"
        if api_key:
            self._session.headers["Authorization"] = f"Bearer {api_key}"
        self._api_key = api_key
        self.requests_sent = 0

    def close(self) -> None:
        self._session.close()

    def embed(self, texts: list[str], interactive: bool = False) -> list[list[float]]:
        """Unit-length vectors, one per text. `interactive` (a web request) tries once, briefly."""
        if not self.remote_embeddings:
            return super().embed(texts)
        vectors = []
        for start in range(0, len(texts), EMBEDDING_BATCH):
            batch = texts[start:start + EMBEDDING_BATCH]
            body = self._post("/embeddings", {"model": self.embedding_model, "input": batch}, interactive)
            try:
                rows = sorted(body["data"], key=lambda row: row["index"])
                batch_vectors = [[float(x) for x in row["embedding"]] for row in rows]
            except (KeyError, TypeError, ValueError):
                raise ProviderError(f"{self.name} answered /embeddings with an unexpected body") from None
            if len(batch_vectors) != len(batch):
                raise ProviderError(f"{self.name} returned {len(batch_vectors)} embeddings for {len(batch)} texts")
            vectors += [_unit(v) for v in batch_vectors]
        return vectors

    def title_and_summary(self, transcript: str) -> Generated:
        if not self.chat_model:
            return super().title_and_summary(transcript)
        messages = [{"role": "system", "content": CHAT_INSTRUCTIONS},
                    {"role": "user", "content": "Transcript:\n" + transcript[:MAX_PROMPT_CHARS]}]
        body = self._post("/chat/completions", {"model": self.chat_model, "messages": messages})
        try:
            content = body["choices"][0]["message"]["content"]
            answer = json.loads(content[content.index("{"):content.rindex("}") + 1])
            title, summary = answer.get("title"), answer.get("summary")
        except (KeyError, IndexError, TypeError, ValueError, AttributeError):
            raise ProviderError(f"{self.name}'s chat model did not answer with the JSON asked for") from None
        clean = lambda value: " ".join(value.split()) if isinstance(value, str) else None  # noqa: E731
        summary = summary.strip() if isinstance(summary, str) and summary.strip() else None
        return Generated((clean(title) or "").strip("\"'")[:200] or None, summary)

    def _post(self, path: str, payload: dict, interactive: bool = False) -> dict:
        attempts = 1 if interactive else self.max_attempts
        timeout = min(self.timeout, INTERACTIVE_TIMEOUT_SECONDS) if interactive else self.timeout
        for attempt in range(1, attempts + 1):
            wait = None
            self.requests_sent += 1
            try:
                response = self._session.post(self.base_url + path, json=payload, timeout=timeout)
            except requests.RequestException as exc:
                problem = f"{self.name} could not be reached ({type(exc).__name__})"
            else:
                status = response.status_code
                if status < 400:
                    try:
                        return response.json()
                    except ValueError:
                        raise ProviderError(f"{self.name} answered {path} with a body that is not JSON") from None
                if status in (401, 403):
                    raise ProviderError(f"{self.name} rejected the credentials ({status}): check AI_API_KEY")
                problem = f"{self.name} answered {status} to {path}{self._detail(response)}"
                if status not in RETRYABLE_STATUSES:
                    raise ProviderError(problem)
                if status == 429:
                    wait = retry_after_seconds(response.headers.get("Retry-After"))
            if wait is None:
                wait = backoff_seconds(attempt, self.retry_base, math.inf)
            if attempt == attempts or wait > self.max_wait:
                raise ProviderError(problem, retry_after=wait)
            log_event("ai_provider_retry", path=path, attempt=attempt, wait_seconds=round(wait, 2), problem=problem)
            self.sleep(wait)
        raise AssertionError("unreachable")

    def _detail(self, response) -> str:
        try:
            message = response.json()["error"]["message"]
        except (ValueError, KeyError, TypeError):
            return ""
        if not isinstance(message, str):
            return ""
        if self._api_key:
            message = message.replace(self._api_key, "***")
        return ": " + " ".join(message.split())[:200]


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds: either a number or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def from_config(config) -> OfflineProvider:
    if not config.get("AI_API_BASE_URL"):
        return OfflineProvider()
    return OpenAICompatibleProvider(
        config["AI_API_BASE_URL"], config.get("AI_API_KEY"), config.get("AI_EMBEDDING_MODEL"),
        config.get("AI_CHAT_MODEL"), timeout=config.get("AI_HTTP_TIMEOUT_SECONDS", 30.0),
        max_attempts=config.get("AI_MAX_ATTEMPTS", 5), retry_base=config.get("AI_RETRY_BASE_SECONDS", 1.0),
        max_wait=config.get("AI_RETRY_MAX_WAIT_SECONDS", 60.0))


def _unit(vector: list[float]) -> list[float]:
    norm = math.sqrt(sum(x * x for x in vector))
    return [x / norm for x in vector] if norm else vector


# --- offline titles ------------------------------------------------------------------------------

_STOP_WORDS = frozenset("""
a about above after again against all also am an and any are aren as at be because been before being below
between both but by can cannot could couldn did didn do does doesn doing don down during each few for from
further get gets getting go goes going gonna got gotta had hadn has hasn have haven having he her here hers
herself him himself his how i if in into is isn it its itself just kind know let like ll lot lots make maybe me
mean mm more most much must my myself need no nor not now of off oh ok okay on once one only or other ought
our ours ourselves out over own pretty probably quite re really right said same say says see shall she should
shouldn so some something sort stuff such sure than thank thanks that the their theirs them themselves then
there these they thing things think this those though through to too uh um up us ve very want wanna was wasn
way we well were weren what when where which while who whom why will with won would wouldn yeah yep yes yet
you your yours yourself yourselves
""".split())


def key_phrase_title(transcript: str, phrases: int = 3) -> str | None:
    """A title from the transcript's key phrases: runs of up to three content words, the most repeated first.

    A phrase scores its number of occurrences, a little more for each extra word; only repeated
    phrases count (unless nothing repeats), and a phrase sharing a word with one already chosen is skipped.
    """
    counts: Counter = Counter()
    spellings: dict[str, Counter] = {}
    for line in transcript.splitlines():
        run: list[str] = []
        for word in WORD.findall(line.partition(": ")[2] or line) + [""]:
            lower = word.lower()
            if word and lower not in _STOP_WORDS and len(word) > 2 and not word.isdigit():
                run.append(word)
                continue
            for size in (1, 2, 3):
                for i in range(len(run) - size + 1):
                    original = " ".join(run[i:i + size])
                    counts[original.lower()] += 1
                    spellings.setdefault(original.lower(), Counter())[original] += 1
            run = []
    score = {phrase: count * (1 + 0.5 * (len(phrase.split()) - 1)) for phrase, count in counts.items()}
    repeated = [phrase for phrase in score if counts[phrase] > 1] or sorted(score, key=lambda p: -score[p])[:1]
    chosen: list[str] = []
    for phrase in sorted(repeated, key=lambda p: -score[p]):  # stable: ties keep the order of first mention
        if len(chosen) == phrases:
            break
        if any(set(phrase.split()) & set(c.lower().split()) for c in chosen):
            continue
        chosen.append(spellings[phrase].most_common(1)[0][0])
    if not chosen:
        return None
    title = chosen[0] if len(chosen) == 1 else ", ".join(chosen[:-1]) + " and " + chosen[-1]
    return (title[0].upper() + title[1:])[:120]
