"""Meeting links: find an event's video-call URL and put it in one canonical form.

The same meeting seen in two people's calendars must give the same URL (bots are matched by
URL + start time), whether it came from a structured field, the location or an HTML body:
https, lower-case host, no fragment, links unwrapped from Outlook Safe Links and Google
redirects, and only the query parameters a platform needs to join (Zoom's pwd, Teams' context
and passcode, Webex's MTID); tracking parameters are dropped.

Pure functions: no I/O, no Flask.
"""
import html
import json
import re
from dataclasses import dataclass
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

from ..safe_urls import http_url

GOOGLE_MEET, ZOOM, TEAMS, WEBEX = "google_meet", "zoom", "teams", "webex"
MAX_URL_LENGTH = 2048
URL_IN_TEXT = re.compile(r"""(?:https?|zoommtg)://[^\s"'<>()\[\]{}]+""", re.IGNORECASE)
TRAILING_PUNCTUATION = ".,;:!?*"
TEAMS_HOSTS = {"teams.microsoft.com", "teams.live.com", "gov.teams.microsoft.us", "dod.teams.microsoft.us",
               "teams.cloud.microsoft"}
MEET_CODE = re.compile(r"^/(?:lookup/)?[a-z0-9-]{3,}$")
ZOOM_MEETING_PATH = re.compile(r"^/(?:j|w|s|wc/join|wc)/(\d{9,12})(?:/join|/start)?/?$")


@dataclass(frozen=True)
class MeetingLink:
    url: str
    platform: str


def normalize(url: str | None) -> MeetingLink | None:
    """The canonical form of a meeting URL, or None when it is not a known meeting link."""
    if not url:
        return None
    url = _unwrap(html.unescape(url).strip().lstrip("<").rstrip(TRAILING_PUNCTUATION + ">"))
    if url.lower().startswith("zoommtg://"):
        return _zoom_app_link(url)
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme.lower() not in ("http", "https") or not host:
        return None
    query = parse_qs(parts.query, keep_blank_values=False)
    if host == "meet.google.com":
        link = _meet(parts.path)
    elif host == "zoom.us" or host.endswith((".zoom.us", ".zoomgov.com")) or host == "zoomgov.com":
        link = _zoom(host, parts.path, query)
    elif host in TEAMS_HOSTS:
        link = _teams(host, parts.path, query)
    elif host == "webex.com" or host.endswith(".webex.com"):
        link = _webex(host, parts.path, query)
    else:
        return None
    if link is None or len(link.url) > MAX_URL_LENGTH or http_url(link.url) != link.url:
        return None
    return link


def find_in_text(text: str | None) -> MeetingLink | None:
    """The first meeting link in free text, plain or HTML."""
    if not text:
        return None
    for match in URL_IN_TEXT.finditer(html.unescape(text)):
        link = normalize(match.group(0))
        if link:
            return link
    return None


def from_google_event(event: dict) -> MeetingLink | None:
    """Structured fields first (conference entry points, hangoutLink), then location, then description."""
    conference = event.get("conferenceData") or {}
    candidates = [e.get("uri") for e in conference.get("entryPoints") or []
                  if isinstance(e, dict) and e.get("entryPointType") == "video"]
    candidates.append(event.get("hangoutLink"))
    return _first(candidates, [event.get("location"), event.get("description")])


def from_microsoft_event(event: dict) -> MeetingLink | None:
    """onlineMeeting.joinUrl (Teams), the older onlineMeetingUrl, then locations, then the body."""
    online = event.get("onlineMeeting") or {}
    locations = [event.get("location") or {}] + [loc for loc in event.get("locations") or [] if isinstance(loc, dict)]
    texts = [value for loc in locations if isinstance(loc, dict)
             for value in (loc.get("locationUri"), loc.get("displayName"))]
    body = event.get("body") or {}
    texts += [body.get("content") if isinstance(body, dict) else None, event.get("bodyPreview")]
    return _first([online.get("joinUrl") if isinstance(online, dict) else None, event.get("onlineMeetingUrl")],
                  texts)


def _first(structured: list, texts: list) -> MeetingLink | None:
    for value in structured:
        link = normalize(value) if isinstance(value, str) else None
        if link:
            return link
    for value in texts:
        link = find_in_text(value) if isinstance(value, str) else None
        if link:
            return link
    return None


def _unwrap(url: str) -> str:
    """The real target of an Outlook Safe Links or Google redirect URL."""
    for _ in range(3):  # links are sometimes wrapped twice
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        query = parse_qs(parts.query)
        if host.endswith("safelinks.protection.outlook.com") and query.get("url"):
            url = query["url"][0]
        elif host in ("www.google.com", "google.com") and parts.path == "/url" and query.get("q"):
            url = query["q"][0]
        else:
            return url
    return url


def _https(host: str, path: str, params: dict | None = None) -> str:
    query = urlencode(params, quote_via=quote) if params else ""
    return f"https://{host}{path}" + (f"?{query}" if query else "")


def _meet(path: str) -> MeetingLink | None:
    path = path.rstrip("/").lower()
    if not MEET_CODE.match(path) or path in ("/new", "/landing"):
        return None
    return MeetingLink(_https("meet.google.com", path), GOOGLE_MEET)


def _zoom(host: str, path: str, query: dict) -> MeetingLink | None:
    meeting = ZOOM_MEETING_PATH.match(path)
    if meeting:
        kind = "w" if path.startswith("/w/") else "j"  # webinars keep their path; start links become joins
        path = f"/{kind}/{meeting.group(1)}"
    elif path.startswith("/my/") and len(path) > 4:  # a personal meeting room
        path = path.rstrip("/")
    else:
        return None
    pwd = query.get("pwd")
    return MeetingLink(_https(host, path, {"pwd": pwd[0]} if pwd else None), ZOOM)


def _zoom_app_link(url: str) -> MeetingLink | None:
    """zoommtg://zoom.us/join?confno=123&pwd=… as the https link it stands for."""
    query = parse_qs(urlsplit(url).query)
    number = (query.get("confno") or [""])[0]
    if not number.isdigit():
        return None
    return _zoom("zoom.us", f"/j/{number}", query)


def _teams(host: str, path: str, query: dict) -> MeetingLink | None:
    path = quote(unquote(path), safe="/")  # one spelling of %3a/%3A and %40
    if path.startswith("/l/meetup-join/"):
        params = {}
        if query.get("context"):
            params["context"] = _compact_json(query["context"][0])
    elif path.startswith("/meet/"):
        params = {"p": query["p"][0]} if query.get("p") else {}
    else:
        return None
    return MeetingLink(_https(host, path.rstrip("/"), params), TEAMS)


def _webex(host: str, path: str, query: dict) -> MeetingLink | None:
    mtid = query.get("MTID") or query.get("mtid")
    if path.lower().endswith(".php") and mtid:  # j.php meetings, e.php events, onstage/g.php webinars
        return MeetingLink(_https(host, path, {"MTID": mtid[0]}), WEBEX)
    if re.search(r"/(meet|join|wbxmjs/joinservice)/", path.lower() + "/") and len(path.strip("/")) > 5:
        return MeetingLink(_https(host, path.rstrip("/")), WEBEX)
    return None


def _compact_json(text: str) -> str:
    """Teams' context parameter is JSON; spacing and escaping differ between copies of a link."""
    try:
        return json.dumps(json.loads(text), separators=(",", ":"))
    except ValueError:
        return text
