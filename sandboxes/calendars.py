"""Local fakes of Google Calendar and Microsoft Graph (with their OAuth endpoints), for tests.

Real HTTP servers on loopback that speak the documented APIs (docs/calendar-apis.md), so tests
exercise our clients over real sockets:

- GoogleSandbox: consent page and token endpoint (authorization code, refresh, and the JWT-bearer
  grant of a service account, whose signature it verifies), calendars.get, events.list with
  pages, sync tokens and 410, events.watch, channels.stop, and push deliveries.
- MicrosoftSandbox: authorize and v2.0 token endpoints (refresh tokens rotate on every use),
  /me/calendar, calendarView/delta rounds with skip and delta tokens (and 410), subscriptions with
  the validationToken handshake, change and lifecycle notifications.

Both inject faults on demand: an HTTP status, a slow answer (client timeouts), or a dropped
connection. Only the standard library, requests and joserfc are used; no Flask app is imported.
"""
from __future__ import annotations

import base64
import binascii
import hmac
import json
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import requests
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey

from callvault.timeutil import parse_instant

from .loopback import ApiError, LoopbackSandbox

GOOGLE_SCOPE = "https://www.googleapis.com/auth/calendar.readonly"
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
GRAPH_MAX_SUBSCRIPTION = timedelta(minutes=4230)


@dataclass(frozen=True)
class _Client:
    secret: str
    redirect_uri: str


class _Sandbox(LoopbackSandbox):
    """What both fakes share beyond the HTTP plumbing (loopback.py): OAuth clients and tokens."""

    json_content_type = "application/json; charset=UTF-8"

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        super().__init__(host, port)
        self._clients: dict[str, _Client] = {}
        self._codes: dict[str, dict] = {}
        self._access_tokens: dict[str, dict] = {}
        self._refresh_tokens: dict[str, dict] = {}
        self.token_lifetime_seconds = 3600
        self.default_login_hint: str | None = None  # who the consent page approves for without a login_hint
        self._seq = 0  # a change counter: sync tokens and delta links remember how far they saw

    @property
    def root_url(self) -> str:
        return self._server_url()

    # -- observation (faults: fail_next, slow_next, drop_next in LoopbackSandbox) ---------------

    def count(self, path_prefix: str | None = None, method: str | None = None, status: int | None = None) -> int:
        return len(self._logged(method, path_prefix, status))

    def requests_to(self, path_prefix: str) -> list[dict]:
        return self._logged(path_prefix=path_prefix)

    # -- OAuth clients and tokens ----------------------------------------------------------------

    def add_oauth_client(self, client_id: str, client_secret: str, redirect_uri: str) -> None:
        with self._lock:
            self._clients[client_id] = _Client(client_secret, redirect_uri)

    def issue_access_token(self, email: str, scope: str) -> str:
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._access_tokens[token] = {"email": email, "scope": scope,
                                          "expires": time.monotonic() + self.token_lifetime_seconds}
        return token

    def issue_refresh_token(self, email: str, client_id: str, scope: str) -> str:
        """A refresh token as an earlier consent would have granted it (the offline demo stores one)."""
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._refresh_tokens[token] = {"email": email, "client_id": client_id, "scope": scope}
        return token

    def expire_access_tokens(self) -> None:
        with self._lock:
            for grant in self._access_tokens.values():
                grant["expires"] = 0

    def revoke(self, email: str) -> None:
        """The user revoked the app: every token of theirs dies."""
        with self._lock:
            for store in (self._codes, self._access_tokens, self._refresh_tokens):
                for token in [t for t, grant in store.items() if grant["email"] == email]:
                    del store[token]

    def _authenticate_client(self, handler, form) -> str:
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        authorization = handler.headers.get("Authorization", "")
        if authorization[:6].lower() == "basic ":
            try:
                client_id, _, client_secret = base64.b64decode(authorization[6:]).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                client_id = None
        with self._lock:
            client = self._clients.get(client_id or "")
        if client is None or not hmac.compare_digest(client.secret, client_secret or ""):
            raise ApiError(401, self._oauth_error_body("invalid_client", "client authentication failed"))
        return client_id

    def _consent(self, query: dict, scope_needed: str):
        """An auto-approving consent page: approves for `login_hint`, or refuses with `deny=1`."""
        client_id, redirect_uri = query.get("client_id"), query.get("redirect_uri")
        with self._lock:
            client = self._clients.get(client_id or "")
        if client is None or client.redirect_uri != redirect_uri:
            raise ApiError(400, {"error": "invalid_request", "error_description": "unknown client or redirect_uri"})

        def back(**params):
            if query.get("state") is not None:
                params["state"] = query["state"]
            return 302, None, {"Location": redirect_uri + ("&" if "?" in redirect_uri else "?") + urlencode(params)}

        if query.get("response_type") != "code":
            return back(error="unsupported_response_type")
        if query.get("deny"):
            return back(error="access_denied", error_description="The user did not consent.")
        if scope_needed not in (query.get("scope") or "").split():
            return back(error="invalid_scope")
        email = query.get("login_hint") or self.default_login_hint
        if not email:
            return back(error="access_denied", error_description="no sandbox user: pass login_hint")
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._codes[code] = {"email": email, "client_id": client_id, "redirect_uri": redirect_uri,
                                 "scope": query.get("scope") or "", "query": dict(query)}
        return back(code=code)

    def _take_code(self, form: dict, client_id: str) -> dict:
        with self._lock:
            grant = self._codes.pop(form.get("code") or "", None)
        if grant is None or grant["client_id"] != client_id or grant["redirect_uri"] != form.get("redirect_uri"):
            raise ApiError(400, self._oauth_error_body("invalid_grant", "Bad Request"))
        return grant

    def _oauth_error_body(self, error: str, description: str) -> dict:
        return {"error": error, "error_description": description}

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _bearer(self, handler) -> dict:
        authorization = handler.headers.get("Authorization", "")
        with self._lock:
            grant = self._access_tokens.get(authorization[7:].strip()) if authorization[:7].lower() == "bearer " else None
        if grant is None or grant["expires"] <= time.monotonic():
            raise self._unauthenticated()
        return grant

    def _unauthenticated(self) -> ApiError:
        raise NotImplementedError

    def _fault_body(self, status: int):
        if status == 429:
            return {"error": {"code": 429, "message": "Rate Limit Exceeded", "status": "RESOURCE_EXHAUSTED"}}
        return f"<html><body><h1>{status} Server Error</h1></body></html>"


# =============================================================================================
# Google
# =============================================================================================

class GoogleSandbox(_Sandbox):
    """accounts.google.com + oauth2.googleapis.com + the Calendar API v3, in one server."""

    thread_name = "google-sandbox"
    API = "/calendar/v3"

    def __init__(self, page_size: int = 250, max_channel_ttl_seconds: int = 7 * 24 * 3600, **kwargs):
        super().__init__(**kwargs)
        self.page_size = page_size
        self.max_channel_ttl_seconds = max_channel_ttl_seconds
        self._calendars: dict[str, dict] = {}     # email -> {"events": {id: event}, "min_seq": int}
        self._consented: set[tuple[str, str]] = set()
        self._service_accounts: dict[str, dict] = {}
        self._page_sessions: dict[str, dict] = {}
        self.channels: dict[str, dict] = {}
        self._message_numbers: dict[str, int] = {}

    @property
    def oauth_base_url(self) -> str:
        return self.root_url

    @property
    def api_base_url(self) -> str:
        return self.root_url + self.API

    @property
    def token_url(self) -> str:
        return self.root_url + "/token"

    # -- users, service accounts, events ------------------------------------------------------------

    def add_user(self, email: str) -> None:
        with self._lock:
            self._calendars.setdefault(email, {"events": {}, "min_seq": 0})

    def add_service_account(self, client_email: str, public_key_pem: str, delegated: bool = True) -> None:
        """A service account whose key signs JWT assertions; `delegated`: domain-wide delegation granted."""
        with self._lock:
            self._service_accounts[client_email] = {"key": RSAKey.import_key(public_key_pem), "delegated": delegated}

    def set_delegation(self, client_email: str, delegated: bool) -> None:
        with self._lock:
            self._service_accounts[client_email]["delegated"] = delegated

    def add_event(self, email: str, summary: str, start: datetime, end: datetime, **fields) -> dict:
        """An event as events.list shows it; `fields` adds or overrides any property."""
        with self._lock:
            self.add_user(email)
            event_id = fields.pop("id", None) or uuid.uuid4().hex[:26]
            now = _rfc3339(datetime.now(timezone.utc))
            event = {"kind": "calendar#event", "etag": f'"{secrets.randbelow(10**15)}"', "id": event_id,
                     "status": "confirmed", "htmlLink": f"https://www.google.com/calendar/event?eid={event_id}",
                     "created": now, "updated": now, "summary": summary,
                     "creator": {"email": email, "self": True}, "organizer": {"email": email, "self": True},
                     "start": {"dateTime": _rfc3339(start), "timeZone": "UTC"},
                     "end": {"dateTime": _rfc3339(end), "timeZone": "UTC"},
                     "iCalUID": f"{event_id}@google.com", "sequence": 0, "eventType": "default",
                     "reminders": {"useDefault": True}}
            event.update(fields)
            event["_seq"] = self._next_seq()
            self._calendars[email]["events"][event_id] = event
            return _public(event)

    def add_recurring_series(self, email: str, summary: str, first_start: datetime, duration: timedelta,
                             count: int, every: timedelta = timedelta(days=7), **fields) -> list[dict]:
        """A weekly series as singleEvents=true returns it: one instance per occurrence."""
        base = uuid.uuid4().hex[:26]
        instances = []
        for n in range(count):
            start = first_start + n * every
            instances.append(self.add_event(
                email, summary, start, start + duration, id=f"{base}_{start:%Y%m%dT%H%M%SZ}", recurringEventId=base,
                originalStartTime={"dateTime": _rfc3339(start), "timeZone": "UTC"}, iCalUID=f"{base}@google.com",
                **fields))
        return instances

    def update_event(self, email: str, event_id: str, **changes) -> dict:
        """Change an event (e.g. start/end given as datetimes: the event moves)."""
        with self._lock:
            event = self._calendars[email]["events"][event_id]
            for name in ("start", "end"):
                if isinstance(changes.get(name), datetime):
                    changes[name] = {"dateTime": _rfc3339(changes[name]), "timeZone": "UTC"}
            event.update(changes)
            event["updated"] = _rfc3339(datetime.now(timezone.utc))
            event["sequence"] = event.get("sequence", 0) + 1
            event["_seq"] = self._next_seq()
            return _public(event)

    def cancel_event(self, email: str, event_id: str) -> None:
        """The organizer cancelled it: it stays, with status "cancelled"."""
        self.update_event(email, event_id, status="cancelled")

    def delete_event(self, email: str, event_id: str) -> None:
        """Deleted: listed (with showDeleted or a sync token) as a bare cancelled stub."""
        with self._lock:
            event = self._calendars[email]["events"][event_id]
            stub = {"kind": "calendar#event", "etag": event["etag"], "id": event_id, "status": "cancelled",
                    "_seq": self._next_seq()}
            self._calendars[email]["events"][event_id] = stub

    def forget_event(self, email: str, event_id: str) -> None:
        """Gone without a trace (Google keeps deleted events only for a while)."""
        with self._lock:
            del self._calendars[email]["events"][event_id]

    def expire_sync_tokens(self, email: str) -> None:
        """Every sync token issued so far for this calendar now answers 410 Gone."""
        with self._lock:
            self._calendars[email]["min_seq"] = self._seq + 1

    # -- push ------------------------------------------------------------------------------------

    def push(self, channel_id: str, state: str = "exists", token: str | None = None, address: str | None = None,
             **header_overrides) -> requests.Response:
        """POST a notification for a channel the way Google does: headers only, empty body."""
        with self._lock:
            channel = dict(self.channels[channel_id])
            number = self._message_numbers.get(channel_id, 0) + 1
            self._message_numbers[channel_id] = number
        headers = {"X-Goog-Channel-ID": channel_id, "X-Goog-Message-Number": str(number),
                   "X-Goog-Resource-ID": channel["resourceId"], "X-Goog-Resource-State": state,
                   "X-Goog-Resource-URI": channel["resourceUri"],
                   "X-Goog-Channel-Expiration": time.strftime(
                       "%a, %d %b %Y %H:%M:%S GMT", time.gmtime(int(channel["expiration"]) / 1000)),
                   "X-Goog-Channel-Token": channel.get("token") if token is None else token,
                   "Content-Type": "application/json; charset=UTF-8"}
        headers.update(header_overrides)
        return requests.post(address or channel["address"], headers={k: v for k, v in headers.items() if v is not None},
                             data=b"", timeout=10)

    # -- routing ---------------------------------------------------------------------------------

    def _unauthenticated(self) -> ApiError:
        return ApiError(401, _google_error(401, "Request had invalid authentication credentials.", "authError",
                                           status="UNAUTHENTICATED"),
                        {"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'})

    def _route(self, handler, entry, query, body):
        path, method = entry["path"], handler.command
        if path == "/o/oauth2/v2/auth" and method == "GET":
            result = self._consent(query, GOOGLE_SCOPE)
            code = parse_qs(urlsplit(result[2]["Location"]).query).get("code", [None])[0]
            if code:  # Google sends a refresh token only with offline access and a consent screen
                with self._lock:
                    grant = self._codes[code]
                    first_time = (grant["client_id"], grant["email"]) not in self._consented
                    grant["offline"] = query.get("access_type") == "offline" and (
                        "consent" in (query.get("prompt") or "").split() or first_time)
                    self._consented.add((grant["client_id"], grant["email"]))
            return result
        if path == "/token" and method == "POST":
            return self._token(handler, {k: v[-1] for k, v in parse_qs(body.decode("utf-8", "replace")).items()})
        if not path.startswith(self.API + "/"):
            raise ApiError(404, _google_error(404, "Not Found", "notFound"))
        grant = self._bearer(handler)
        if GOOGLE_SCOPE not in grant["scope"].split():
            raise ApiError(403, _google_error(403, "Request had insufficient authentication scopes.",
                                              "insufficientPermissions"))
        segments = path[len(self.API) + 1:].split("/")
        if segments[0] == "channels" and segments[1:] == ["stop"] and method == "POST":
            return self._stop_channel(grant, body)
        if segments[0] != "calendars" or len(segments) < 2:
            raise ApiError(404, _google_error(404, "Not Found", "notFound"))
        calendar = self._calendar_for(grant, segments[1])
        if len(segments) == 2 and method == "GET":
            return 200, {"kind": "calendar#calendar", "id": grant["email"], "summary": grant["email"],
                         "timeZone": "UTC", "etag": '"1"'}, {}
        if segments[2:] == ["events"] and method == "GET":
            return self._list_events(grant["email"], calendar, query, entry["query"])
        if segments[2:] == ["events", "watch"] and method == "POST":
            return self._watch(grant["email"], segments[1], body)
        raise ApiError(404, _google_error(404, "Not Found", "notFound"))

    def _calendar_for(self, grant, calendar_id: str) -> dict:
        with self._lock:
            calendar = self._calendars.get(grant["email"])
        if calendar is None or calendar_id not in ("primary", grant["email"]):
            raise ApiError(404, _google_error(404, "Not Found", "notFound"))
        return calendar

    def _token(self, handler, form):
        grant_type = form.get("grant_type")
        if grant_type == JWT_BEARER_GRANT:
            return self._jwt_bearer(form.get("assertion") or "")
        client_id = self._authenticate_client(handler, form)
        if grant_type == "authorization_code":
            grant = self._take_code(form, client_id)
            token = {"access_token": self.issue_access_token(grant["email"], grant["scope"]),
                     "expires_in": self.token_lifetime_seconds, "scope": grant["scope"], "token_type": "Bearer"}
            if grant.get("offline"):
                refresh = secrets.token_urlsafe(32)
                with self._lock:
                    self._refresh_tokens[refresh] = {"email": grant["email"], "client_id": client_id,
                                                     "scope": grant["scope"]}
                token["refresh_token"] = refresh
            return 200, token, {"Cache-Control": "no-store"}
        if grant_type == "refresh_token":
            with self._lock:
                grant = self._refresh_tokens.get(form.get("refresh_token") or "")
            if grant is None or grant["client_id"] != client_id:
                raise ApiError(400, self._oauth_error_body("invalid_grant", "Token has been expired or revoked."))
            return 200, {"access_token": self.issue_access_token(grant["email"], grant["scope"]),
                         "expires_in": self.token_lifetime_seconds, "scope": grant["scope"],
                         "token_type": "Bearer"}, {"Cache-Control": "no-store"}
        raise ApiError(400, self._oauth_error_body("unsupported_grant_type", "Invalid grant_type"))

    def _jwt_bearer(self, assertion: str):
        """Google's service-account grant: verify the RS256 signature and the claims."""
        try:
            unverified = json.loads(jws.extract_compact(assertion.encode()).payload)
        except (JoseError, ValueError, TypeError):
            raise ApiError(400, self._oauth_error_body("invalid_grant", "Invalid JWT: malformed")) from None
        with self._lock:
            account = self._service_accounts.get(unverified.get("iss") or "")
        if account is None:
            raise ApiError(400, self._oauth_error_body("invalid_grant", "Invalid JWT Signature."))
        try:
            token = jwt.decode(assertion, account["key"], algorithms=["RS256"])
        except JoseError:
            raise ApiError(400, self._oauth_error_body("invalid_grant", "Invalid JWT Signature.")) from None
        claims, now = token.claims, time.time()
        if claims.get("aud") != self.token_url:
            raise ApiError(400, self._oauth_error_body("invalid_grant", "Invalid JWT: Failed audience check."))
        iat, exp = claims.get("iat"), claims.get("exp")
        if not isinstance(iat, int) or not isinstance(exp, int) or exp - iat > 3600 or exp < now or iat > now + 60:
            raise ApiError(400, self._oauth_error_body(
                "invalid_grant", "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable "
                                 "timeframe. Check your iat and exp values in the JWT claim."))
        if GOOGLE_SCOPE not in (claims.get("scope") or "").split() or not account["delegated"]:
            raise ApiError(400, self._oauth_error_body(
                "unauthorized_client", "Client is unauthorized to retrieve access tokens using this method, or "
                                       "client not authorized for any of the scopes requested."))
        with self._lock:
            known = claims.get("sub") in self._calendars
        if not known:
            raise ApiError(400, self._oauth_error_body("invalid_grant", "Invalid email or User ID"))
        return 200, {"access_token": self.issue_access_token(claims["sub"], claims["scope"]),
                     "expires_in": self.token_lifetime_seconds, "token_type": "Bearer"}, {}

    def _list_events(self, email, calendar, query, multi):
        if query.get("pageToken"):
            with self._lock:
                session = self._page_sessions.pop(query["pageToken"], None)
            if session is None:
                raise ApiError(400, _google_error(400, "Invalid page token value.", "invalid"))
            return self._page(email, session)
        if query.get("singleEvents") != "true":
            raise ApiError(400, _google_error(400, "This sandbox only serves singleEvents=true", "invalid"))
        with self._lock:
            events = [dict(e) for e in calendar["events"].values()]
            snapshot, min_seq = self._seq, calendar["min_seq"]
        if query.get("syncToken"):
            restricted = [p for p in ("timeMin", "timeMax", "q", "orderBy", "updatedMin", "iCalUID") if p in query]
            if restricted or query.get("showDeleted") == "false":
                raise ApiError(400, _google_error(400, "Sync token cannot be used with other request restrictions.",
                                                  "invalid"))
            since = _decode_token(query["syncToken"], "seq")
            if since is None or since < min_seq:
                raise ApiError(410, _google_error(410, "Sync token is no longer valid, a full sync is required.",
                                                  "fullSyncRequired"))
            items = [e for e in events if e["_seq"] > since]
        else:
            start, end = parse_instant(query.get("timeMin")), parse_instant(query.get("timeMax"))
            items = [e for e in events if (e["status"] != "cancelled" or query.get("showDeleted") == "true")
                     and _overlaps(e, start, end)]
        items.sort(key=lambda e: ((e.get("start") or {}).get("dateTime") or "", e["id"]))
        size = min(int(query.get("maxResults") or 250), self.page_size)
        return self._page(email, {"items": items, "size": size, "sync_token": _encode_token(seq=snapshot)})

    def _page(self, email, session):
        page, rest = session["items"][:session["size"]], session["items"][session["size"]:]
        body = {"kind": "calendar#events", "etag": '"p1"', "summary": email, "updated": _rfc3339(datetime.now(timezone.utc)),
                "timeZone": "UTC", "accessRole": "owner", "defaultReminders": [],
                "items": [_public(e) for e in page]}
        if rest:
            token = secrets.token_urlsafe(16)
            with self._lock:
                self._page_sessions[token] = dict(session, items=rest)
            body["nextPageToken"] = token
        else:
            body["nextSyncToken"] = session["sync_token"]
        return 200, body, {}

    def _watch(self, email, calendar_id, body):
        request = json.loads(body or b"{}")
        channel_id = request.get("id")
        if not channel_id or request.get("type") not in ("web_hook", "webhook") or not request.get("address"):
            raise ApiError(400, _google_error(400, "id, type web_hook and address are required", "required"))
        with self._lock:
            if channel_id in self.channels:
                raise ApiError(400, _google_error(400, f"Channel id {channel_id} not unique", "channelIdNotUnique"))
            ttl = min(int((request.get("params") or {}).get("ttl") or 604800), self.max_channel_ttl_seconds)
            channel = {"kind": "api#channel", "id": channel_id, "resourceId": uuid.uuid4().hex,
                       "resourceUri": f"{self.api_base_url}/calendars/{quote(calendar_id)}/events?alt=json",
                       "token": request.get("token"), "expiration": str(int((time.time() + ttl) * 1000)),
                       "address": request["address"], "email": email}
            self.channels[channel_id] = channel
        return 200, {k: v for k, v in channel.items() if k not in ("address", "email")}, {}

    def _stop_channel(self, grant, body):
        request = json.loads(body or b"{}")
        with self._lock:
            channel = self.channels.get(request.get("id") or "")
            if channel is None or channel["resourceId"] != request.get("resourceId") or channel["email"] != grant["email"]:
                raise ApiError(404, _google_error(404, f"Channel '{request.get('id')}' not found for project", "notFound"))
            del self.channels[channel["id"]]
        return 204, None, {}


def _google_error(code: int, message: str, reason: str, status: str | None = None) -> dict:
    error = {"errors": [{"domain": "global" if code != 410 else "calendar", "reason": reason, "message": message}],
             "code": code, "message": message}
    if status:
        error["status"] = status
    return {"error": error}


# =============================================================================================
# Microsoft
# =============================================================================================

class MicrosoftSandbox(_Sandbox):
    """login.microsoftonline.com (v2.0 endpoints) + Microsoft Graph v1.0, in one server.

    Refresh tokens rotate on every refresh and, stricter than Microsoft, the used one dies at
    once (`single_use_refresh_tokens`), so a client that forgets to store the new one fails.
    With `partial_updates`, an incremental delta round describes an updated event by its id and
    the properties that changed only, which Graph's delta documentation allows.
    """

    thread_name = "microsoft-sandbox"
    GRAPH = "/v1.0"

    def __init__(self, page_size: int = 50, tenants=("common",), validate_subscriptions: bool = True,
                 single_use_refresh_tokens: bool = True, partial_updates: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.partial_updates = partial_updates
        self.page_size = page_size
        self.tenants = set(tenants)
        self.validate_subscriptions = validate_subscriptions
        self.single_use_refresh_tokens = single_use_refresh_tokens
        self._mailboxes: dict[str, dict] = {}  # email -> {"events": {id: event}, "min_seq": int}
        self._rounds: dict[str, dict] = {}     # skip tokens -> the rest of a round
        self.subscriptions: dict[str, dict] = {}

    @property
    def login_base_url(self) -> str:
        return self.root_url

    @property
    def graph_base_url(self) -> str:
        return self.root_url + self.GRAPH

    # -- mailboxes and events ------------------------------------------------------------------------

    def add_user(self, email: str, name: str | None = None) -> None:
        with self._lock:
            self._mailboxes.setdefault(email, {"events": {}, "min_seq": 0, "name": name or email.split("@")[0]})

    def add_event(self, email: str, subject: str, start: datetime, end: datetime, **fields) -> dict:
        with self._lock:
            self.add_user(email)
            event_id = fields.pop("id", None) or "AAMkAG" + base64.urlsafe_b64encode(secrets.token_bytes(30)).decode()
            now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f0Z")
            mailbox = self._mailboxes[email]
            event = {"@odata.type": "#microsoft.graph.event", "@odata.etag": f'W/"{secrets.token_hex(8)}"',
                     "id": event_id, "createdDateTime": now, "lastModifiedDateTime": now, "changeKey": secrets.token_hex(8),
                     "categories": [], "originalStartTimeZone": "UTC", "originalEndTimeZone": "UTC",
                     "iCalUId": "040000008200E00074C5B7101A82E008" + secrets.token_hex(24).upper(),
                     "reminderMinutesBeforeStart": 15, "isReminderOn": True, "hasAttachments": False,
                     "subject": subject, "bodyPreview": "", "importance": "normal", "sensitivity": "normal",
                     "isAllDay": False, "isCancelled": False, "isOrganizer": True, "responseRequested": True,
                     "seriesMasterId": None, "showAs": "busy", "type": "singleInstance",
                     "webLink": f"https://outlook.office365.com/owa/?itemid={quote(event_id)}",
                     "onlineMeetingUrl": None, "isOnlineMeeting": False, "onlineMeetingProvider": "unknown",
                     "isDraft": False, "hideAttendees": False,
                     "responseStatus": {"response": "organizer", "time": "0001-01-01T00:00:00Z"},
                     "body": {"contentType": "html", "content": ""},
                     "start": _graph_time(start), "end": _graph_time(end),
                     "location": {"displayName": "", "locationType": "default", "uniqueIdType": "unknown"},
                     "locations": [], "recurrence": None, "attendees": [],
                     "organizer": {"emailAddress": {"name": mailbox["name"], "address": email}},
                     "onlineMeeting": None}
            event.update(fields)
            event["_seq"] = event["_created_seq"] = self._next_seq()
            event["_changed"] = ()
            mailbox["events"][event_id] = event
            return _public(event)

    def update_event(self, email: str, event_id: str, **changes) -> dict:
        with self._lock:
            event = self._mailboxes[email]["events"][event_id]
            for name in ("start", "end"):
                if isinstance(changes.get(name), datetime):
                    changes[name] = _graph_time(changes[name])
            event.update(changes)
            event["lastModifiedDateTime"] = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f0Z")
            event["changeKey"] = secrets.token_hex(8)
            event["_seq"] = self._next_seq()
            event["_changed"] = tuple(dict.fromkeys(event.get("_changed", ()) + tuple(changes)))
            return _public(event)

    def delete_event(self, email: str, event_id: str) -> None:
        with self._lock:
            self._mailboxes[email]["events"][event_id].update(_deleted=True, _seq=self._next_seq())

    def expire_delta_tokens(self, email: str) -> None:
        """Every delta link issued so far for this mailbox now answers 410 syncStateNotFound."""
        with self._lock:
            self._mailboxes[email]["min_seq"] = self._seq + 1

    # -- subscriptions -----------------------------------------------------------------------------

    def notify(self, subscription_id: str, change_type: str = "updated", event_id: str | None = None,
               client_state: str | None = None) -> requests.Response:
        with self._lock:
            sub = dict(self.subscriptions[subscription_id])
        event_id = event_id or "AAMkAGI2TGuLAAA="
        notification = {"id": uuid.uuid4().hex, "subscriptionId": subscription_id,
                        "subscriptionExpirationDateTime": sub["expirationDateTime"], "changeType": change_type,
                        "resource": f"Users/{sub['email']}/Events/{event_id}",
                        "resourceData": {"@odata.type": "#Microsoft.Graph.Event",
                                         "@odata.id": f"Users/{sub['email']}/Events/{event_id}",
                                         "@odata.etag": 'W/"DwAAABYAAAA="', "id": event_id},
                        "clientState": sub["clientState"] if client_state is None else client_state,
                        "tenantId": "84bd8158-6d4d-4958-8b9f-9d6445542f95"}
        return requests.post(sub["notificationUrl"], json={"value": [notification]}, timeout=10)

    def lifecycle(self, subscription_id: str, event: str, client_state: str | None = None) -> requests.Response:
        with self._lock:
            sub = dict(self.subscriptions[subscription_id])
        notification = {"subscriptionId": subscription_id,
                        "subscriptionExpirationDateTime": sub["expirationDateTime"],
                        "tenantId": "84bd8158-6d4d-4958-8b9f-9d6445542f95",
                        "clientState": sub["clientState"] if client_state is None else client_state,
                        "lifecycleEvent": event}
        if event == "subscriptionRemoved":
            with self._lock:
                self.subscriptions.pop(subscription_id, None)
        return requests.post(sub["lifecycleNotificationUrl"] or sub["notificationUrl"],
                             json={"value": [notification]}, timeout=10)

    # -- routing ---------------------------------------------------------------------------------

    def _unauthenticated(self) -> ApiError:
        return ApiError(401, {"error": {"code": "InvalidAuthenticationToken",
                                        "message": "Access token has expired or is not yet valid."}})

    def _oauth_error_body(self, error: str, description: str) -> dict:
        codes = {"invalid_grant": 70000, "invalid_client": 7000215, "invalid_request": 900144}
        code = codes.get(error, 90000)
        return {"error": error, "error_description": f"AADSTS{code}: {description} Trace ID: {uuid.uuid4()}",
                "error_codes": [code], "timestamp": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ"),
                "trace_id": str(uuid.uuid4()), "correlation_id": str(uuid.uuid4())}

    def _route(self, handler, entry, query, body):
        path, method = entry["path"], handler.command
        segments = path.strip("/").split("/")
        if segments[1:3] == ["oauth2", "v2.0"]:
            if segments[0] not in self.tenants:
                raise ApiError(400, self._oauth_error_body("invalid_request", f"Tenant '{segments[0]}' not found."))
            if segments[3:] == ["authorize"] and method == "GET":
                return self._consent(query, "Calendars.Read")
            if segments[3:] == ["token"] and method == "POST":
                return self._token(handler, {k: v[-1] for k, v in parse_qs(body.decode("utf-8", "replace")).items()})
        if not path.startswith(self.GRAPH + "/"):
            raise ApiError(404, {"error": {"code": "ResourceNotFound", "message": "Resource not found"}})
        grant = self._bearer(handler)
        if "Calendars.Read" not in grant["scope"].split():
            raise ApiError(403, {"error": {"code": "ErrorAccessDenied", "message": "Access is denied."}})
        rest = path[len(self.GRAPH) + 1:].rstrip("/")
        if rest == "me/calendar" and method == "GET":
            with self._lock:
                mailbox = self._mailboxes[grant["email"]]
            return 200, {"id": "AAMkAGCalendar", "name": "Calendar", "canEdit": True, "isDefaultCalendar": True,
                         "owner": {"name": mailbox["name"], "address": grant["email"]}}, {}
        if rest == "me/calendarView/delta" and method == "GET":
            return self._delta(grant["email"], query, handler.headers.get("Prefer", ""))
        if rest == "subscriptions" and method == "POST":
            return self._create_subscription(grant["email"], json.loads(body or b"{}"))
        if rest.startswith("subscriptions/"):
            return self._subscription(grant["email"], rest.split("/", 1)[1], method, body)
        raise ApiError(404, {"error": {"code": "ResourceNotFound", "message": f"Resource not found for {rest}"}})

    def _token(self, handler, form):
        client_id = self._authenticate_client(handler, form)
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            grant = self._take_code(form, client_id)
        elif grant_type == "refresh_token":
            with self._lock:
                token = form.get("refresh_token") or ""
                grant = self._refresh_tokens.get(token)
                if grant is not None and self.single_use_refresh_tokens:
                    del self._refresh_tokens[token]
            if grant is None or grant["client_id"] != client_id:
                raise ApiError(400, self._oauth_error_body(
                    "invalid_grant", "The refresh token has expired or is invalid due to sign-in frequency checks "
                                     "by conditional access."))
            if not form.get("scope"):
                raise ApiError(400, self._oauth_error_body("invalid_request", "The request body must contain "
                                                                              "the following parameter: 'scope'."))
        else:
            raise ApiError(400, self._oauth_error_body("unsupported_grant_type", "The grant type is not supported."))
        scope = grant["scope"]
        token = {"token_type": "Bearer", "scope": scope, "expires_in": self.token_lifetime_seconds,
                 "ext_expires_in": self.token_lifetime_seconds,
                 "access_token": self.issue_access_token(grant["email"], scope)}
        if "offline_access" in scope.split():
            refresh = secrets.token_urlsafe(40)
            with self._lock:
                self._refresh_tokens[refresh] = {"email": grant["email"], "client_id": client_id, "scope": scope}
            token["refresh_token"] = refresh
        return 200, token, {"Cache-Control": "no-store"}

    def _delta(self, email, query, prefer):
        size = self.page_size
        for preference in prefer.split(","):
            name, _, value = preference.strip().partition("=")
            if name == "odata.maxpagesize" and value.isdigit():
                size = min(size, int(value))
        with self._lock:
            mailbox = self._mailboxes[email]
            events = [dict(e) for e in mailbox["events"].values()]
            snapshot, min_seq = self._seq, mailbox["min_seq"]
        if query.get("$skiptoken"):
            with self._lock:
                round_ = self._rounds.pop(query["$skiptoken"], None)
            if round_ is None:
                raise ApiError(400, {"error": {"code": "InvalidSkipToken", "message": "Invalid skip token"}})
            return self._delta_page(round_)
        if query.get("$deltatoken"):
            state = _decode_token(query["$deltatoken"], None)
            if not isinstance(state, dict) or state.get("seq", -1) < min_seq:
                raise ApiError(410, {"error": {"code": "syncStateNotFound",
                                               "message": "The sync state generation is not found."}})
            start, end = parse_instant(state["start"]), parse_instant(state["end"])
            items = []
            for event in (e for e in events if e["_seq"] > state["seq"]):
                if event.get("_deleted") or not _overlaps(event, start, end):
                    items.append({"@odata.type": "#microsoft.graph.event", "id": event["id"],
                                  "@removed": {"reason": "deleted"}})
                elif self.partial_updates and event.get("_created_seq", 0) <= state["seq"]:
                    # known to the client already: the id and what changed since it was created
                    names = ("@odata.type", "@odata.etag", "id", "changeKey", "lastModifiedDateTime") + event["_changed"]
                    items.append({name: event[name] for name in names if name in event})
                else:
                    items.append(_public(event))
        else:
            if not query.get("startDateTime") or not query.get("endDateTime"):
                raise ApiError(400, {"error": {"code": "ErrorInvalidParameter",
                                               "message": "startDateTime and endDateTime are required"}})
            state = {"start": query["startDateTime"], "end": query["endDateTime"]}
            start, end = parse_instant(state["start"]), parse_instant(state["end"])
            items = [_public(e) for e in events if not e.get("_deleted") and _overlaps(e, start, end)]
        return self._delta_page({"items": items, "size": size, "state": dict(state, seq=snapshot)})

    def _delta_page(self, round_):
        page, rest = round_["items"][:round_["size"]], round_["items"][round_["size"]:]
        body = {"@odata.context": f"{self.graph_base_url}/$metadata#Collection(event)", "value": page}
        if rest:
            token = secrets.token_urlsafe(16)
            with self._lock:
                self._rounds[token] = dict(round_, items=rest)
            body["@odata.nextLink"] = f"{self.graph_base_url}/me/calendarView/delta?$skiptoken={token}"
        else:
            body["@odata.deltaLink"] = (f"{self.graph_base_url}/me/calendarView/delta?$deltatoken="
                                        f"{_encode_token(**round_['state'])}")
        return 200, body, {}

    def _create_subscription(self, email, request):
        missing = [k for k in ("changeType", "notificationUrl", "resource", "expirationDateTime") if not request.get(k)]
        if missing:
            raise ApiError(400, {"error": {"code": "InvalidRequest", "message": f"{missing[0]} is required"}})
        expires = parse_instant(request["expirationDateTime"])
        if expires is None or expires > datetime.now(timezone.utc) + GRAPH_MAX_SUBSCRIPTION:
            raise ApiError(400, {"error": {"code": "InvalidRequest", "message": "Subscription expiration can only be "
                                           "4230 minutes in the future."}})
        if len(request.get("clientState") or "") > 128:
            raise ApiError(400, {"error": {"code": "InvalidRequest", "message": "clientState is too long"}})
        if self.validate_subscriptions:
            for url in dict.fromkeys(filter(None, (request["notificationUrl"], request.get("lifecycleNotificationUrl")))):
                self._validate_endpoint(url)
        sub = {"@odata.context": f"{self.graph_base_url}/$metadata#subscriptions/$entity", "id": str(uuid.uuid4()),
               "resource": request["resource"], "applicationId": "24d3b144-21ae-4080-943f-7067b395b913",
               "changeType": request["changeType"], "clientState": request.get("clientState"),
               "notificationUrl": request["notificationUrl"],
               "lifecycleNotificationUrl": request.get("lifecycleNotificationUrl"),
               "expirationDateTime": _rfc3339(expires), "creatorId": "8ee44408-0679-472c-bc2a-692812af3437",
               "latestSupportedTlsVersion": "v1_2", "email": email}
        with self._lock:
            self.subscriptions[sub["id"]] = sub
        return 201, {k: v for k, v in sub.items() if k != "email"}, {}

    def _validate_endpoint(self, url: str) -> None:
        """Graph's handshake: POST ?validationToken=…; 200, text/plain, the decoded token, within 10 s."""
        token = f"Validation: Testing client application reachability for subscription Request-Id: {uuid.uuid4()}"
        try:
            answer = requests.post(url, params={"validationToken": token}, data=b"",
                                   headers={"Content-Type": "text/plain; charset=utf-8"}, timeout=10)
            ok = (answer.status_code == 200 and answer.headers.get("Content-Type", "").startswith("text/plain")
                  and answer.text == token)
        except requests.RequestException:
            ok = False
        if not ok:
            raise ApiError(400, {"error": {"code": "InvalidRequest", "message": "Subscription validation request "
                                           "failed. Notification endpoint must respond with 200 OK to validation "
                                           "request."}})

    def _subscription(self, email, subscription_id, method, body):
        with self._lock:
            sub = self.subscriptions.get(subscription_id)
            if sub is None or sub["email"] != email:
                raise ApiError(404, {"error": {"code": "ResourceNotFound",
                                               "message": f"The object '{subscription_id}' doesn't exist."}})
            if method == "DELETE":
                del self.subscriptions[subscription_id]
                return 204, None, {}
            if method == "PATCH":
                expires = parse_instant(json.loads(body or b"{}").get("expirationDateTime"))
                if expires is None or expires > datetime.now(timezone.utc) + GRAPH_MAX_SUBSCRIPTION:
                    raise ApiError(400, {"error": {"code": "InvalidRequest", "message": "bad expirationDateTime"}})
                sub["expirationDateTime"] = _rfc3339(expires)
                return 200, {k: v for k, v in sub.items() if k != "email"}, {}
            if method == "GET":
                return 200, {k: v for k, v in sub.items() if k != "email"}, {}
        raise ApiError(405, {"error": {"code": "MethodNotAllowed", "message": method}})


# =============================================================================================
# helpers
# =============================================================================================

def _public(event: dict) -> dict:
    return {k: v for k, v in event.items() if not k.startswith("_")}


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _graph_time(moment: datetime) -> dict:
    return {"dateTime": moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.0000000"), "timeZone": "UTC"}


def _event_bounds(event: dict) -> tuple[datetime | None, datetime | None]:
    start, end = event.get("start") or {}, event.get("end") or {}
    return (parse_instant(start.get("dateTime") or start.get("date")),
            parse_instant(end.get("dateTime") or end.get("date")))


def _overlaps(event: dict, start: datetime | None, end: datetime | None) -> bool:
    event_start, event_end = _event_bounds(event)
    if event_start is None:
        return True  # a stub without times (deleted): listed
    return (end is None or event_start < end) and (start is None or (event_end or event_start) > start)


def _encode_token(**state) -> str:
    return base64.urlsafe_b64encode(json.dumps(state).encode()).decode().rstrip("=")


def _decode_token(token: str, key: str | None):
    try:
        state = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, binascii.Error):
        return None
    return state.get(key) if key and isinstance(state, dict) else state
