"""A local, faithful sandbox of Fathom's External API (v1).

It is a real HTTP server so tests and the offline demo exercise our client the
way production will: real sockets, OAuth redirects, rate-limit headers, 5xx
faults and Standard-Webhooks-signed deliveries. Facts and assumptions behind
each behaviour are listed in docs/fathom-api.md.

Only the standard library, ``requests`` and ``standardwebhooks`` are used, so
this module never imports the Flask app.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hmac
import json
import math
import random
import secrets
import string
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from http import HTTPStatus
from urllib.parse import parse_qs, urlencode, urlsplit

import requests
from standardwebhooks import Webhook

from .loopback import ApiError as _ApiError
from .loopback import Fault, Handler, LoopbackSandbox

API_PREFIX = "/external/v1"
PAGE_SIZE = 10
OAUTH_SCOPE = "public_api"
CODE_LIFETIME_SECONDS = 600
FAULT_STATUSES = (500, 502, 503, 504)
TRIGGERS = (
    "my_recordings",
    "shared_external_recordings",
    "my_shared_with_team_recordings",
    "shared_team_recordings",
)
# include flag -> meeting field it fills
INCLUDE_FIELDS = {
    "include_transcript": "transcript",
    "include_summary": "default_summary",
    "include_action_items": "action_items",
    "include_crm_matches": "crm_matches",
}
OAUTH_FORBIDDEN_INCLUDES = ("include_transcript", "include_summary", "include_action_items")
MEETING_FIELDS = (
    "title", "meeting_title", "recording_id", "url", "share_url", "created_at",
    "scheduled_start_time", "scheduled_end_time", "recording_start_time",
    "recording_end_time", "calendar_invitees_domains_type", "transcript_language",
    "calendar_invitees", "recorded_by", "transcript", "default_summary",
    "action_items", "crm_matches",
)
DOMAIN_TYPES = ("all", "only_internal", "one_or_more_external")
# Synthetic timeline start: meetings are scheduled forward from here, so a
# meeting added later is always the newest one.
TIMELINE_START = datetime(2025, 3, 3, 14, 0, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Account:
    email: str
    name: str
    team: str | None
    created_at: str

    @property
    def email_domain(self) -> str:
        return self.email.rsplit("@", 1)[1]


@dataclass(frozen=True)
class _OAuthClient:
    secret: str
    redirect_uri: str


@dataclass(frozen=True)
class _Grant:
    """An authorization code, access token or refresh token and who it speaks for."""

    email: str
    client_id: str
    expires_at: float = math.inf
    redirect_uri: str | None = None


@dataclass
class _StoredMeeting:
    owner: str
    data: dict


def _error(status: int, error: str, message: str) -> _ApiError:
    return _ApiError(status, {"error": error, "message": message})


class _Handler(Handler):
    server_version = "FathomSandbox/1.0"


class FathomSandbox(LoopbackSandbox):
    """In-process fake of api.fathom.ai (+ the fathom.video OAuth endpoints)."""

    thread_name = "fathom-sandbox"
    handler_class = _Handler
    keep_blank_values = True
    bug_body = {"error": "internal_error", "message": "sandbox bug"}

    def __init__(self, *, window_seconds=60.0, general_limit=60, heavy_limit=30, seed=0,
                 token_lifetime_seconds=3600, fail_rate=0.0, host="127.0.0.1", port=0):
        super().__init__(host, port)
        self.window_seconds = float(window_seconds)
        self.general_limit = general_limit
        self.heavy_limit = heavy_limit
        self.seed = seed
        self.token_lifetime_seconds = token_lifetime_seconds
        self.fail_rate = fail_rate
        self.default_oauth_email: str | None = None
        self.webhooks: dict[str, dict] = {}
        self._rng = random.Random(seed)
        self._accounts: dict[str, Account] = {}
        self._api_keys: dict[str, str] = {}
        self._oauth_clients: dict[str, _OAuthClient] = {}
        self._codes: dict[str, _Grant] = {}
        self._access_tokens: dict[str, _Grant] = {}
        self._refresh_tokens: dict[str, _Grant] = {}
        self._buckets: dict[str, tuple[deque, deque]] = {}
        self._meetings: dict[int, _StoredMeeting] = {}
        self._meeting_count = 0
        self._next_recording_id = 118_000_000 + random.Random(f"{seed}:ids").randrange(1_000_000)
        self._timeline = TIMELINE_START

    # -- lifecycle (start, stop, with: see LoopbackSandbox) ----------------------------

    @property
    def root_url(self) -> str:
        return self._server_url()

    @property
    def base_url(self) -> str:
        return self.root_url + API_PREFIX

    @property
    def authorize_url(self) -> str:
        return self.base_url + "/oauth2/authorize"

    @property
    def token_url(self) -> str:
        return self.base_url + "/oauth2/token"

    # -- accounts and credentials ------------------------------------------------

    def add_account(self, email, name=None, team="Sandbox Team") -> Account:
        """Create (or update the name/team of) the Fathom user behind ``email``."""
        with self._lock:
            previous = self._accounts.get(email)
            created_at = previous.created_at if previous else _iso(
                TIMELINE_START - timedelta(days=90 - len(self._accounts)))
            account = Account(email=email, name=name or _name_from_email(email), team=team,
                              created_at=created_at)
            self._accounts[email] = account
            return account

    def add_api_key(self, email) -> str:
        key = secrets.token_urlsafe(24)
        with self._lock:
            self._ensure_account(email)
            self._api_keys[key] = email
        return key

    def add_oauth_client(self, client_id, client_secret, redirect_uri) -> None:
        with self._lock:
            self._oauth_clients[client_id] = _OAuthClient(client_secret, redirect_uri)

    def issue_oauth_code(self, email, client_id, redirect_uri) -> str:
        """What the user's approval on the authorize page yields: a single-use code."""
        with self._lock:
            client = self._oauth_clients.get(client_id)
            if client is None or client.redirect_uri != redirect_uri:
                raise ValueError("unknown client_id or unregistered redirect_uri")
            self._ensure_account(email)
            code = secrets.token_urlsafe(24)
            self._codes[code] = _Grant(email, client_id, time.monotonic() + CODE_LIFETIME_SECONDS,
                                       redirect_uri)
            return code

    def revoke(self, email) -> None:
        """Kill every API key, code and token of the account (user revoked access)."""
        with self._lock:
            self._api_keys = {k: e for k, e in self._api_keys.items() if e != email}
            for store in (self._codes, self._access_tokens, self._refresh_tokens):
                for token in [t for t, grant in store.items() if grant.email == email]:
                    del store[token]

    # -- data ------------------------------------------------------------------

    def add_meeting(self, email, *, transcript_segments=40, external=None, **overrides) -> dict:
        """Add a realistic meeting recorded by ``email``; fields can be overridden.

        The content depends only on ``seed`` and how many meetings were added
        before, so a given test always sees the same data.
        """
        _check_fields(overrides)
        with self._lock:
            account = self._ensure_account(email)
            rng = random.Random(f"{self.seed}:{self._meeting_count}")
            self._meeting_count += 1
            self._next_recording_id += rng.randint(1_000, 90_000)
            self._timeline += timedelta(hours=rng.randint(3, 30))
            start = self._timeline.replace(minute=rng.choice((0, 30)), second=0)
            meeting = _synth_meeting(rng, account, self._next_recording_id, start,
                                     transcript_segments, external)
            meeting.update(_normalize(overrides))
            if meeting["recording_id"] in self._meetings:
                raise ValueError(f"recording_id {meeting['recording_id']} already exists")
            self._meetings[meeting["recording_id"]] = _StoredMeeting(email, meeting)
            return copy.deepcopy(meeting)

    def add_meetings(self, email, n, **kw) -> list[dict]:
        return [self.add_meeting(email, **kw) for _ in range(n)]

    def update_meeting(self, recording_id, **changes) -> dict:
        _check_fields(changes)
        if "recording_id" in changes:
            raise ValueError("recording_id cannot change")
        with self._lock:
            data = self._meetings[recording_id].data
            data.update(_normalize(changes))
            return copy.deepcopy(data)

    def remove_meeting(self, recording_id) -> None:
        with self._lock:
            del self._meetings[recording_id]

    # -- fault injection (also fail_next, slow_next, drop_next: LoopbackSandbox) and observation --

    def set_heavy_limit(self, n) -> None:
        with self._lock:
            self.heavy_limit = n

    def count(self, status=None, path_prefix=None) -> int:
        return len(self._logged(path_prefix=path_prefix, status=status))

    # -- webhooks --------------------------------------------------------------

    def deliver_webhook(self, recording_id, *, destination_url=None, secret=None, msg_id=None,
                        timestamp=None) -> requests.Response:
        """POST the meeting to a registered webhook, signed per Standard Webhooks.

        Without arguments the owner's newest webhook triggered for
        ``my_recordings`` is used. With ``destination_url`` (and ``secret``
        when that URL is not registered) any receiver can be targeted; an
        unregistered receiver gets every optional field.
        """
        with self._lock:
            stored = self._meetings[recording_id]
            hook = self._pick_webhook(stored.owner, destination_url)
            if hook is not None:
                includes = {flag: hook[flag] for flag in INCLUDE_FIELDS}
                destination_url = destination_url or hook["destination_url"]
                secret = secret or hook["secret"]
            elif destination_url and secret:
                includes = dict.fromkeys(INCLUDE_FIELDS, True)
            else:
                raise LookupError(f"no webhook for {stored.owner} triggered for my_recordings; "
                                  "pass destination_url and secret")
            body = json.dumps(_public_meeting(stored.data, includes)).encode()
        msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
        sent_at = _as_utc(timestamp if timestamp is not None else time.time())
        headers = {
            "Content-Type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(math.floor(sent_at.timestamp())),
            # sign() formats its data into a str, so it must get the decoded body
            "webhook-signature": Webhook(secret).sign(msg_id, sent_at, body.decode()),
        }
        return requests.post(destination_url, data=body, headers=headers, timeout=10)

    def _pick_webhook(self, owner, destination_url):
        hooks = [h for h in self.webhooks.values()
                 if h["account"] == owner and "my_recordings" in h["triggered_for"]
                 and destination_url in (None, h["destination_url"])]
        return hooks[-1] if hooks else None

    # -- request handling --------------------------------------------------------

    def _new_entry(self, handler, parts, body) -> dict:
        return dict(super()._new_entry(handler, parts, body), account_email=None, heavy=False)

    def _fault_response(self, handler, entry, fault):
        entry["account_email"] = self._resolve_credentials(handler)[0]
        return fault.status, _fault_body(fault.status), dict(fault.headers or {})

    def _route(self, handler, entry, query, body):
        path, method = entry["path"], handler.command
        if path == API_PREFIX + "/oauth2/authorize":
            _require_method(method, "GET")
            return self._authorize(query, entry)
        if path == API_PREFIX + "/oauth2/token":
            _require_method(method, "POST")
            return self._token(handler, body)

        endpoint, args = _match(method, path)
        email, kind = self._authenticate(handler)
        entry["account_email"] = email
        entry["heavy"] = heavy = endpoint.heavy or (
            endpoint.name == "meetings" and any(_truthy(query.get(f)) for f in INCLUDE_FIELDS))
        rate_headers = self._consume_quota(email, heavy)
        try:
            status, payload = getattr(self, "_ep_" + endpoint.name)(
                email=email, kind=kind, query=query, multi=entry["query"], body=body, args=args)
        except _ApiError as exc:
            exc.headers.update(rate_headers)
            raise
        return status, payload, rate_headers

    def _take_fault(self, method, path):
        """A fault queued by fail_next (…), else one drawn at `fail_rate`."""
        with self._lock:
            fault = super()._take_fault(method, path)
            if fault is None and self.fail_rate and self._rng.random() < self.fail_rate:
                fault = Fault("status", status=self._rng.choice(FAULT_STATUSES))
            return fault

    def _resolve_credentials(self, handler):
        """(email, kind, problem) for the request's credentials; email is None if unusable."""
        key = handler.headers.get("X-Api-Key")
        authorization = handler.headers.get("Authorization", "")
        with self._lock:
            if key:
                email = self._api_keys.get(key)
                return email, "api_key", None if email else "invalid or revoked API key"
            if authorization[:7].lower() == "bearer ":
                grant = self._access_tokens.get(authorization[7:].strip())
                if grant is None:
                    return None, "oauth", "invalid or revoked access token"
                if grant.expires_at <= time.monotonic():
                    return None, "oauth", "access token expired"
                return grant.email, "oauth", None
        return None, None, "missing X-Api-Key header or Bearer token"

    def _authenticate(self, handler):
        email, kind, problem = self._resolve_credentials(handler)
        if problem:
            raise _error(401, "unauthorized", problem)
        return email, kind

    def _consume_quota(self, email, heavy) -> dict:
        """Sliding-window accounting per account; a heavy call also counts as a general one."""
        now = time.monotonic()
        with self._lock:
            general, heavy_calls = self._buckets.setdefault(email, (deque(), deque()))
            checks = [(general, self.general_limit)]
            if heavy:
                checks.append((heavy_calls, self.heavy_limit))
            for calls, _ in checks:
                while calls and calls[0] <= now - self.window_seconds:
                    calls.popleft()
            for calls, limit in checks:
                if len(calls) >= limit:
                    # the call that must leave the window before one more fits
                    wait = (calls[len(calls) - limit] + self.window_seconds - now
                            if limit > 0 else self.window_seconds)
                    raise _ApiError(429, {"error": "rate_limited",
                                          "message": f"limit of {limit} calls per "
                                                     f"{self.window_seconds:g}s exceeded"},
                                    {"RateLimit-Limit": str(limit), "RateLimit-Remaining": "0",
                                     "RateLimit-Reset": str(max(1, math.ceil(wait))),
                                     "Retry-After": self._retry_after(wait)})
            for calls, _ in checks:
                calls.append(now)
            calls, limit = min(checks, key=lambda c: c[1] - len(c[0]))
            reset = calls[0] + self.window_seconds - now
            return {"RateLimit-Limit": str(limit), "RateLimit-Remaining": str(limit - len(calls)),
                    "RateLimit-Reset": str(max(1, math.ceil(reset)))}

    def _retry_after(self, wait: float) -> str:
        """Whole seconds normally; tenths when the window is tiny (fast tests)."""
        if self.window_seconds < 5:
            return f"{max(math.ceil(wait * 10) / 10, 0.1):.1f}"
        return str(max(1, math.ceil(wait)))

    # -- OAuth endpoints -------------------------------------------------------

    def _authorize(self, query, entry):
        """Auto-approving consent page: ``email`` query param or ``default_oauth_email``."""
        client_id, redirect_uri = query.get("client_id"), query.get("redirect_uri")
        with self._lock:
            client = self._oauth_clients.get(client_id)
        if client is None or client.redirect_uri != redirect_uri:
            # never redirect to an unverified URI (RFC 6749 4.1.2.1)
            raise _ApiError(400, {"error": "invalid_request",
                                  "error_description": "unknown client_id or redirect_uri"})

        def redirect(**params):
            if query.get("state") is not None:
                params["state"] = query["state"]
            separator = "&" if "?" in redirect_uri else "?"
            return 302, None, {"Location": redirect_uri + separator + urlencode(params)}

        if query.get("response_type") != "code":
            return redirect(error="unsupported_response_type")
        if OAUTH_SCOPE not in (query.get("scope") or "").split():
            return redirect(error="invalid_scope")
        email = query.get("email") or self.default_oauth_email
        if not email:
            return redirect(error="access_denied",
                            error_description="no sandbox user: pass email= or set default_oauth_email")
        entry["account_email"] = email
        return redirect(code=self.issue_oauth_code(email, client_id, redirect_uri))

    def _token(self, handler, body):
        form = {k: v[-1] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        client_id, client_secret, basic = form.get("client_id"), form.get("client_secret"), False
        authorization = handler.headers.get("Authorization", "")
        if authorization[:6].lower() == "basic ":
            basic = True
            try:
                client_id, _, client_secret = base64.b64decode(authorization[6:]).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                client_id = None
        with self._lock:
            client = self._oauth_clients.get(client_id)
        if client is None or not hmac.compare_digest(client.secret, client_secret or ""):
            headers = {"WWW-Authenticate": 'Basic realm="fathom"'} if basic else {}
            raise _ApiError(401, {"error": "invalid_client"}, headers)

        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            grant = self._consume(self._codes, form.get("code"), client_id)
            if grant.expires_at <= time.monotonic() or grant.redirect_uri != form.get("redirect_uri"):
                raise _oauth_error("invalid_grant")
        elif grant_type == "refresh_token":
            grant = self._consume(self._refresh_tokens, form.get("refresh_token"), client_id)
        elif grant_type:
            raise _oauth_error("unsupported_grant_type")
        else:
            raise _oauth_error("invalid_request", "grant_type is required")
        return 200, self._issue_tokens(grant.email, client_id), {"Cache-Control": "no-store",
                                                                 "Pragma": "no-cache"}

    def _consume(self, store, token, client_id) -> _Grant:
        """Single use: a code or refresh token is gone once presented by its client."""
        if not token:
            raise _oauth_error("invalid_request", "missing code or refresh_token")
        with self._lock:
            grant = store.get(token)
            if grant is None or grant.client_id != client_id:
                raise _oauth_error("invalid_grant")
            del store[token]
        return grant

    def _issue_tokens(self, email, client_id) -> dict:
        access, refresh = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        with self._lock:
            self._access_tokens[access] = _Grant(
                email, client_id, time.monotonic() + self.token_lifetime_seconds)
            self._refresh_tokens[refresh] = _Grant(email, client_id)
        return {"access_token": access, "token_type": "Bearer",
                "expires_in": self.token_lifetime_seconds, "refresh_token": refresh,
                "scope": OAUTH_SCOPE}

    # -- API endpoints (_ep_<name>, see _ENDPOINTS) ---------------------------------

    def _ep_meetings(self, email, kind, query, multi, **_):
        includes = {flag: _bool_param(query, flag) for flag in INCLUDE_FIELDS}
        refused = [flag for flag in OAUTH_FORBIDDEN_INCLUDES if kind == "oauth" and includes[flag]]
        if refused:
            raise _error(400, "invalid_request",
                         f"{', '.join(refused)} cannot be used by OAuth applications; use "
                         "GET /recordings/{recording_id}/transcript and /summary instead")
        after, before = _time_param(query, "created_after"), _time_param(query, "created_before")
        domains_type = query.get("calendar_invitees_domains_type") or "all"
        if domains_type not in DOMAIN_TYPES:
            raise _error(400, "invalid_request",
                         f"calendar_invitees_domains_type must be one of {', '.join(DOMAIN_TYPES)}")
        recorded_by = set(multi.get("recorded_by[]", []))
        teams = set(multi.get("teams[]", []))
        domains = set(multi.get("calendar_invitees_domains[]", []))

        def wanted(m):
            created = _parse_time(m["created_at"])
            return ((after is None or created > after) and (before is None or created < before)
                    and (not recorded_by or m["recorded_by"]["email"] in recorded_by)
                    and (not teams or m["recorded_by"]["team"] in teams)
                    and (not domains or any(i["email_domain"] in domains
                                            for i in m["calendar_invitees"]))
                    and domains_type in ("all", m["calendar_invitees_domains_type"]))

        with self._lock:
            rows = [copy.deepcopy(s.data) for s in self._meetings.values()
                    if s.owner == email and wanted(s.data)]
        page = _paginate(rows, lambda m: (_sort_time(m["created_at"]), m["recording_id"]),
                         query.get("cursor"))
        page["items"] = [_public_meeting(m, includes) for m in page["items"]]
        return 200, page

    def _ep_transcript(self, email, query, args, **_):
        data = self._visible_meeting(email, args[0])
        return self._maybe_callback(query, {"transcript": data["transcript"]})

    def _ep_summary(self, email, query, args, **_):
        data = self._visible_meeting(email, args[0])
        return self._maybe_callback(query, {"summary": data["default_summary"]})

    def _visible_meeting(self, email, raw_id) -> dict:
        with self._lock:
            stored = self._meetings.get(int(raw_id)) if raw_id.isdigit() else None
            if stored is None or stored.owner != email:
                raise _error(404, "not_found", f"recording {raw_id} not found")
            return copy.deepcopy(stored.data)

    def _maybe_callback(self, query, payload):
        """With destination_url the data is POSTed there later and only the URL is echoed."""
        destination = query.get("destination_url")
        if destination is None:
            return 200, payload
        if not _is_http_url(destination):
            raise _error(400, "invalid_request", "destination_url must be an http(s) URL")
        threading.Thread(target=_post_quietly, args=(destination, payload), daemon=True).start()
        return 200, {"destination_url": destination}

    def _ep_create_webhook(self, email, body, **_):
        try:
            params = json.loads(body or b"null")
        except ValueError:
            raise _error(400, "invalid_request", "body must be JSON") from None
        if not isinstance(params, dict):
            raise _error(400, "invalid_request", "body must be a JSON object")
        destination = params.get("destination_url")
        if not isinstance(destination, str) or not _is_http_url(destination):
            raise _error(400, "invalid_request", "destination_url must be an http(s) URL")
        triggered_for = params.get("triggered_for")
        if (not isinstance(triggered_for, list) or not triggered_for
                or any(t not in TRIGGERS for t in triggered_for)):
            raise _error(400, "invalid_request",
                         f"triggered_for must be a non-empty list of {', '.join(TRIGGERS)}")
        flags = {flag: params.get(flag, False) for flag in INCLUDE_FIELDS}
        if any(not isinstance(v, bool) for v in flags.values()):
            raise _error(400, "invalid_request", "include_* flags must be booleans")
        if not any(flags.values()):
            raise _error(400, "invalid_request", "at least one include_* flag must be true")
        webhook_id = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(16))
        secret = "whsec_" + base64.b64encode(secrets.token_bytes(18)).decode()
        created_at = _iso(datetime.now(timezone.utc))
        with self._lock:
            self.webhooks[webhook_id] = {"destination_url": destination, "secret": secret,
                                         "triggered_for": list(triggered_for), **flags,
                                         "account": email, "created_at": created_at}
        return 201, {"id": webhook_id, "url": destination, "secret": secret,
                     "created_at": created_at, **flags, "triggered_for": list(triggered_for)}

    def _ep_delete_webhook(self, email, args, **_):
        with self._lock:
            hook = self.webhooks.get(args[0])
            if hook is None or hook["account"] != email:
                raise _error(404, "not_found", f"webhook {args[0]} not found")
            del self.webhooks[args[0]]
        return 204, None

    def _ep_teams(self, email, query, **_):
        with self._lock:
            account = self._accounts[email]
        rows = [{"name": account.team, "created_at": _iso(TIMELINE_START - timedelta(days=120))}]
        return 200, _paginate(rows if account.team else [], lambda t: (t["name"],),
                              query.get("cursor"))

    def _ep_team_members(self, email, query, **_):
        with self._lock:
            team = self._accounts[email].team
            members = [a for a in self._accounts.values() if team and a.team == team]
        if query.get("team") not in (None, team):
            members = []
        rows = [{"name": a.name, "email": a.email, "created_at": a.created_at} for a in members]
        return 200, _paginate(rows, lambda m: (m["created_at"], m["email"]), query.get("cursor"))

    def _ensure_account(self, email) -> Account:
        with self._lock:
            return self._accounts.get(email) or self.add_account(email)


# -- routing -------------------------------------------------------------------


@dataclass(frozen=True)
class _Endpoint:
    method: str
    segments: tuple  # path segments after API_PREFIX; "*" matches one segment
    name: str
    heavy: bool = False


_ENDPOINTS = (
    _Endpoint("GET", ("meetings",), "meetings"),
    _Endpoint("GET", ("recordings", "*", "transcript"), "transcript", heavy=True),
    _Endpoint("GET", ("recordings", "*", "summary"), "summary", heavy=True),
    _Endpoint("POST", ("webhooks",), "create_webhook"),
    _Endpoint("DELETE", ("webhooks", "*"), "delete_webhook"),
    _Endpoint("GET", ("teams",), "teams"),
    _Endpoint("GET", ("team_members",), "team_members"),
)


def _match(method, path):
    """The endpoint serving ``method path`` and its wildcard values (404/405 otherwise)."""
    segments = tuple(path[len(API_PREFIX) + 1:].rstrip("/").split("/"))
    same_path = [e for e in _ENDPOINTS if path.startswith(API_PREFIX + "/")
                 and len(e.segments) == len(segments)
                 and all(p in ("*", s) for p, s in zip(e.segments, segments))]
    if not same_path:
        raise _error(404, "not_found", f"no route for {path}")
    endpoint = next((e for e in same_path if e.method == method), None)
    if endpoint is None:
        raise _ApiError(405, {"error": "method_not_allowed"},
                        {"Allow": ", ".join(e.method for e in same_path)})
    return endpoint, tuple(s for p, s in zip(endpoint.segments, segments) if p == "*")


def _require_method(method, allowed):
    if method != allowed:
        raise _ApiError(405, {"error": "method_not_allowed"}, {"Allow": allowed})


def _fault_body(status):
    """500s come from the app (JSON); 502-504 from a gateway (HTML), as in production."""
    phrase = HTTPStatus(status).phrase
    if status == 500:
        return {"error": "internal_server_error", "message": phrase}
    return f"<html><body><h1>{status} {phrase}</h1></body></html>"


def _oauth_error(error, description=None) -> _ApiError:
    body = {"error": error}
    if description:
        body["error_description"] = description
    return _ApiError(400, body)


def _post_quietly(url, payload) -> None:
    try:
        requests.post(url, json=payload, timeout=10)
    except requests.RequestException:
        pass  # the real API does not report callback failures either


# -- parameters, pagination, time ----------------------------------------------


def _truthy(value) -> bool:
    return value is not None and value.lower() in ("true", "1")


def _bool_param(query, name) -> bool:
    value = query.get(name)
    if value is None or value.lower() in ("false", "0", ""):
        return False
    if value.lower() in ("true", "1"):
        return True
    raise _error(400, "invalid_request", f"{name} must be true or false")


def _time_param(query, name):
    value = query.get(name)
    if value is None:
        return None
    try:
        return _parse_time(value)
    except ValueError:
        raise _error(400, "invalid_request", f"{name} must be an ISO 8601 timestamp") from None


def _parse_time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _sort_time(value: str) -> str:
    return _parse_time(value).astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _as_utc(moment) -> datetime:
    """Standard Webhooks' sign() assumes UTC; accept epoch seconds or any datetime."""
    if isinstance(moment, (int, float)):
        return datetime.fromtimestamp(moment, timezone.utc)
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def _paginate(rows, key, cursor) -> dict:
    """Keyset pagination, newest (largest key) first, fixed page size.

    The cursor is the key of the last row served, so meetings arriving while
    a client pages through do not shift pages.
    """
    rows = sorted(rows, key=key, reverse=True)
    if cursor is not None:
        try:
            after = tuple(json.loads(base64.urlsafe_b64decode(cursor.encode())))
            rows = [r for r in rows if key(r) < after]
        except (ValueError, TypeError, binascii.Error):
            raise _error(400, "invalid_request", "invalid cursor") from None
    page = rows[:PAGE_SIZE]
    next_cursor = None
    if len(rows) > PAGE_SIZE:
        next_cursor = base64.urlsafe_b64encode(json.dumps(key(page[-1])).encode()).decode()
    return {"limit": PAGE_SIZE, "next_cursor": next_cursor, "items": page}


def _is_http_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _public_meeting(data: dict, includes: dict) -> dict:
    """The meeting as the API shows it: optional parts are null unless included."""
    hidden = {field for flag, field in INCLUDE_FIELDS.items() if not includes.get(flag)}
    return {name: None if name in hidden else value for name, value in data.items()}


def _check_fields(fields: dict) -> None:
    unknown = set(fields) - set(MEETING_FIELDS)
    if unknown:
        raise TypeError(f"unknown meeting fields: {', '.join(sorted(unknown))}")


def _normalize(fields: dict) -> dict:
    normalized = {k: _iso(_as_utc(v)) if isinstance(v, datetime) else v for k, v in fields.items()}
    for name in ("created_at", "scheduled_start_time", "scheduled_end_time",
                 "recording_start_time", "recording_end_time"):
        if name in normalized:
            _parse_time(normalized[name])  # fail fast on unparseable timestamps
    if "recording_id" in normalized and not isinstance(normalized["recording_id"], int):
        raise TypeError("recording_id must be an int")
    return normalized


# -- synthetic meetings -----------------------------------------------------------

_FIRST_NAMES = ("Alex", "Priya", "Jordan", "Mei", "Carlos", "Fatima", "Liam", "Sofia", "Noah",
                "Aisha", "Ethan", "Yuki", "Omar", "Grace", "Lucas", "Hannah")
_LAST_NAMES = ("Morgan", "Shah", "Lee", "Chen", "Rivera", "Khan", "Walsh", "Rossi", "Kim",
               "Okafor", "Brooks", "Tanaka", "Haddad", "Nguyen", "Silva", "Becker")
_COMPANIES = (("Northwind Traders", "northwindtraders.com"), ("Globex", "globex.io"),
              ("Initech", "initech.com"), ("Umbrella Health", "umbrellahealth.co"),
              ("Stark Logistics", "starklogistics.com"), ("Wayne Financial", "waynefinancial.com"),
              ("Hooli", "hooli.xyz"), ("Tyrell Biotech", "tyrellbio.com"))
_EXTERNAL_TITLES = ("{company} <> {us}: Discovery Call", "{company} Quarterly Business Review",
                    "Product demo for {company}", "{company} renewal discussion",
                    "Implementation kickoff – {company}", "Pricing follow-up with {company}",
                    "Security review with {company}")
_INTERNAL_TITLES = ("Weekly Product Sync", "Sprint Planning", "1:1 {a} / {b}", "Pipeline Review",
                    "Design Critique: Onboarding Flow", "Incident Retro: Delayed Notifications",
                    "Hiring Sync – Senior Backend Engineer", "Roadmap Planning Q3")
_SENTENCES = (
    "Thanks everyone for joining, let's get started.",
    "Can you share your screen so we can walk through it together?",
    "The main goal for this quarter is reducing onboarding time.",
    "We saw a twelve percent drop in churn after the last release.",
    "I think the bigger risk is the data migration, not the UI.",
    "Our security team will need the SOC 2 report before we sign.",
    "Let's make sure legal reviews the data processing agreement.",
    "What does the timeline look like for the pilot?",
    "We could start with the sales team and expand in Q3.",
    "The integration with Salesforce is the must-have for us.",
    "I'll loop in our platform engineer for the technical questions.",
    "Budget is approved, but procurement usually takes three weeks.",
    "That makes sense, let me capture it as an action item.",
    "Right now the handoff between teams happens in spreadsheets.",
    "How are you handling single sign-on today?",
    "We tried a similar tool last year and adoption was the problem.",
    "Could we get a sandbox environment to test with real data?",
    "The dashboard needs to show trends per team, not just totals.",
    "I'm worried about the rate limits if we sync everything at once.",
    "Let's revisit the pricing once we know the seat count.",
    "Support response times have been great so far.",
    "We should document the decision so the wider team is aligned.",
    "Is there an API we can use to export the transcripts?",
    "I'll send a recap with the next steps after this call.",
    "Let's pencil in a follow-up for two weeks from now.",
    "Quick update: the bug with duplicate notifications is fixed.",
    "We need to prioritise the mobile experience next sprint.",
    "Who owns the rollout communication to customers?",
    "Honestly the reporting piece is what sold our leadership.",
    "Great, I think we covered everything on the agenda.",
)
_ACTIONS = ("Send the updated pricing proposal", "Share the security questionnaire answers",
            "Schedule a technical deep-dive with the platform team",
            "Draft the rollout plan for the pilot group", "Follow up on the SSO requirements",
            "Update the CRM opportunity with next steps",
            "Write up the decision log and circulate it",
            "Book the next check-in for two weeks from now")
_TAKEAWAYS = ("Budget is approved; procurement needs about three weeks.",
              "Salesforce integration is a hard requirement.",
              "Pilot will start with the sales team before expanding in Q3.",
              "Security review depends on receiving the SOC 2 report.",
              "Onboarding time is the main success metric this quarter.",
              "Duplicate notification bug is fixed and verified.",
              "Reporting per team is the most valued capability.")


def _name_from_email(email: str) -> str:
    local = email.split("@", 1)[0]
    return " ".join(part.capitalize() for part in local.replace("_", ".").replace("-", ".").split(".")
                    if part) or email


def _hms(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def _people(rng, domain, count, taken) -> list[tuple[str, str]]:
    people = []
    while len(people) < count:
        first, last = rng.choice(_FIRST_NAMES), rng.choice(_LAST_NAMES)
        name = f"{first} {last}"
        if name not in taken:
            taken.add(name)
            people.append((name, f"{first.lower()}.{last.lower()}@{domain}"))
    return people


def _synth_meeting(rng, account, recording_id, start, segments, external) -> dict:
    """One meeting as Fathom returns it with every include flag on."""
    external = rng.random() < 0.6 if external is None else external
    us = account.email_domain.split(".")[0].capitalize()
    taken = {account.name}
    colleagues = _people(rng, account.email_domain, rng.randint(0 if external else 1, 2), taken)
    internal = [(account.name, account.email)] + colleagues
    guests, company = [], None
    if external:
        company, company_domain = rng.choice(_COMPANIES)
        guests = _people(rng, company_domain, rng.randint(1, 3), taken)
        title = rng.choice(_EXTERNAL_TITLES).format(company=company, us=us)
    else:
        title = rng.choice(_INTERNAL_TITLES).format(a=account.name.split()[0],
                                                    b=colleagues[0][0].split()[0])
    ad_hoc = not external and rng.random() < 0.15  # recorded without a calendar event
    invitees = [] if ad_hoc else [
        {"name": name, "matched_speaker_display_name": name, "email": email,
         "email_domain": email.rsplit("@", 1)[1], "is_external": (name, email) in guests}
        for name, email in internal + guests]

    speakers = [(name, None if ad_hoc else email) for name, email in internal + guests]
    transcript, offset = [], rng.randint(2, 15)
    for _ in range(segments):
        name, email = rng.choice(speakers)
        transcript.append({"speaker": {"display_name": name, "matched_calendar_invitee_email": email},
                           "text": " ".join(rng.sample(_SENTENCES, rng.randint(1, 3))),
                           "timestamp": _hms(offset)})
        offset += rng.randint(8, 60)
    duration = max(offset, 300) + rng.randint(10, 90)

    url = f"https://fathom.video/calls/{recording_id}"
    share_url = "https://fathom.video/share/" + "".join(
        rng.choice(string.ascii_letters + string.digits) for _ in range(32))
    recording_start = start + timedelta(seconds=rng.randint(0, 180))
    recording_end = recording_start + timedelta(seconds=duration)

    assignees = [(name, email, account.team) for name, email in internal]
    action_items = []
    for description in rng.sample(_ACTIONS, rng.randint(1, 4)):
        at = rng.randint(0, duration)
        name, email, team = rng.choice(assignees)
        action_items.append({"description": description, "user_generated": rng.random() < 0.15,
                             "completed": rng.random() < 0.2, "recording_timestamp": _hms(at),
                             "recording_playback_url": f"{url}?timestamp={at}",
                             "assignee": {"name": name, "email": email, "team": team}})

    takeaways = "\n".join(
        f"- {text} ([{_hms(at)}]({share_url}?timestamp={at}))"
        for text, at in zip(rng.sample(_TAKEAWAYS, 3), sorted(rng.sample(range(duration), 3))))
    next_steps = "\n".join(f"- **{item['assignee']['name']}**: {item['description']}"
                           for item in action_items)
    purpose = (f"Align with {company} on goals, timeline and next steps." if external
               else "Review progress and agree on priorities for the coming week.")
    summary = (f"## Meeting Purpose\n\n{purpose}\n\n## Key Takeaways\n\n{takeaways}\n\n"
               f"## Topics\n\n### Goals and timeline\n\n- {rng.choice(_SENTENCES)}\n"
               f"- {rng.choice(_SENTENCES)}\n\n## Next Steps\n\n{next_steps}\n")

    crm = {"contacts": [], "companies": [], "deals": [], "error": None}
    if external:
        crm["contacts"] = [{"name": n, "email": e,
                            "record_url": f"https://crm.example.com/contacts/{rng.randint(10**5, 10**6)}"}
                           for n, e in guests]
        crm["companies"] = [{"name": company,
                             "record_url": f"https://crm.example.com/companies/{rng.randint(10**5, 10**6)}"}]
        crm["deals"] = [{"name": f"{company} – {rng.choice(('New business', 'Expansion', 'Renewal'))}",
                         "amount": rng.randrange(5_000, 250_000, 500),
                         "record_url": f"https://crm.example.com/deals/{rng.randint(10**5, 10**6)}"}]

    return {
        "title": title,
        "meeting_title": None if ad_hoc else title,
        "recording_id": recording_id,
        "url": url,
        "share_url": share_url,
        "created_at": _iso(recording_end + timedelta(seconds=rng.randint(20, 240))),
        "scheduled_start_time": _iso(start),
        "scheduled_end_time": _iso(start + timedelta(minutes=rng.choice((30, 45, 60)))),
        "recording_start_time": _iso(recording_start),
        "recording_end_time": _iso(recording_end),
        "calendar_invitees_domains_type": "one_or_more_external" if external else "only_internal",
        "transcript_language": "en",
        "calendar_invitees": invitees,
        "recorded_by": {"name": account.name, "email": account.email,
                        "email_domain": account.email_domain, "team": account.team},
        "transcript": transcript,
        "default_summary": {"template_name": "general", "markdown_formatted": summary},
        "action_items": action_items,
        "crm_matches": crm,
    }
