"""Meeting URL extraction and normalisation, with the payload shapes Google and Graph really send."""
import pytest

from callvault.calendars import event_data, meeting_urls
from callvault.calendars.meeting_urls import GOOGLE_MEET, TEAMS, WEBEX, ZOOM, MeetingLink, normalize

TEAMS_JOIN = ("https://teams.microsoft.com/l/meetup-join/19%3ameeting_NTg0NmQ3NTctZDVkZC00YzRhLThmNmEtOGQ3M2E0ODdm"
              "ZDZk%40thread.v2/0?context=%7b%22Tid%22%3a%2272f988bf-86f1-41af-91ab-2d7cd011db47%22%2c%22Oid%22%3a%22"
              "bc55b173-cff6-457d-b7a1-64bda7d7581a%22%7d")
TEAMS_CANONICAL = ("https://teams.microsoft.com/l/meetup-join/19%3Ameeting_NTg0NmQ3NTctZDVkZC00YzRhLThmNmEtOGQ3M2E0O"
                   "DdmZDZk%40thread.v2/0?context=%7B%22Tid%22%3A%2272f988bf-86f1-41af-91ab-2d7cd011db47%22%2C%22Oid%22"
                   "%3A%22bc55b173-cff6-457d-b7a1-64bda7d7581a%22%7D")

# events.list items, as Google returns them
GOOGLE_MEET_EVENT = {
    "kind": "calendar#event", "id": "7cbh8rpc10lrc0ckih9tafss99", "status": "confirmed", "summary": "Weekly sync",
    "start": {"dateTime": "2026-03-02T10:00:00+01:00", "timeZone": "Europe/Berlin"},
    "end": {"dateTime": "2026-03-02T10:30:00+01:00", "timeZone": "Europe/Berlin"},
    "hangoutLink": "https://meet.google.com/abc-defg-hij",
    "conferenceData": {
        "entryPoints": [
            {"entryPointType": "video", "uri": "https://meet.google.com/abc-defg-hij", "label": "meet.google.com/abc-defg-hij"},
            {"entryPointType": "more", "uri": "https://tel.meet/abc-defg-hij?pin=3141592653589", "pin": "3141592653589"},
            {"entryPointType": "phone", "uri": "tel:+1-402-555-0123", "label": "+1 402-555-0123", "pin": "123456789",
             "regionCode": "US"}],
        "conferenceSolution": {"key": {"type": "hangoutsMeet"}, "name": "Google Meet",
                               "iconUri": "https://fonts.gstatic.com/s/i/productlogos/meet_2020q4/v6/web-512dp/logo_meet_2020q4_color_2x_web_512dp.png"},
        "conferenceId": "abc-defg-hij"},
    "organizer": {"email": "Ada@Example.com", "displayName": "Ada"},
    "attendees": [
        {"email": "ada@example.com", "organizer": True, "responseStatus": "accepted"},
        {"email": "bob@partner.example", "displayName": "Bob", "responseStatus": "needsAction"},
        {"email": "c_1888room@resource.calendar.google.com", "resource": True, "responseStatus": "accepted"},
        {"email": "eve@partner.example", "responseStatus": "tentative", "optional": True}],
}
GOOGLE_ZOOM_ADDON_EVENT = {
    "id": "zoomaddon1", "status": "confirmed", "summary": "Demo",
    "start": {"dateTime": "2026-03-02T15:00:00Z"}, "end": {"dateTime": "2026-03-02T16:00:00Z"},
    "location": "https://us02web.zoom.us/j/81234567890?pwd=aBcDeFgH1234",
    "conferenceData": {
        "entryPoints": [
            {"entryPointType": "video", "uri": "https://us02web.zoom.us/j/81234567890?pwd=aBcDeFgH1234",
             "label": "us02web.zoom.us/j/81234567890?pwd=aBcDeFgH1234", "meetingCode": "81234567890",
             "passcode": "123456"},
            {"entryPointType": "phone", "uri": "tel:+16699006833,,81234567890#", "label": "+1 669-900-6833"}],
        "conferenceSolution": {"key": {"type": "addOn"}, "name": "Zoom Meeting"},
        "conferenceId": "81234567890",
        "parameters": {"addOnParameters": {"parameters": {"meetingType": "2", "realMeetingId": "81234567890"}}}},
}
GOOGLE_DESCRIPTION_ONLY_EVENT = {
    "id": "desc1", "status": "confirmed", "summary": "Partner call",
    "start": {"dateTime": "2026-03-02T15:00:00Z"}, "end": {"dateTime": "2026-03-02T16:00:00Z"},
    "location": "Room 4 / see description",
    "description": 'Agenda: pricing.<br><br>Join Zoom Meeting<br><a href="https://www.google.com/url?q=https://'
                   'us02web.zoom.us/j/81234567890?pwd%3DaBcDeFgH1234&amp;sa=D&amp;source=calendar&amp;usg=AOvVaw1">'
                   'https://us02web.zoom.us/j/81234567890?pwd=aBcDeFgH1234</a><br>Meeting ID: 812 3456 7890',
}
# a calendarView item, as Graph returns it
MICROSOFT_TEAMS_EVENT = {
    "@odata.etag": 'W/"ZlnW4RIAV06KYYwlrfNZvQAAKGWwbw=="', "id": "AAMkAGIAAAoZDOFAAA=",
    "subject": "Quarterly review", "isAllDay": False, "isCancelled": False, "type": "occurrence",
    "seriesMasterId": "AAMkAGIAAAoZDOFMASTER=", "iCalUId": "040000008200E00074C5B7101A82E00800000000",
    "start": {"dateTime": "2026-03-02T15:00:00.0000000", "timeZone": "UTC"},
    "end": {"dateTime": "2026-03-02T16:00:00.0000000", "timeZone": "UTC"},
    "location": {"displayName": "Microsoft Teams Meeting", "locationType": "default"},
    "locations": [{"displayName": "Microsoft Teams Meeting", "locationType": "default"}],
    "isOnlineMeeting": True, "onlineMeetingProvider": "teamsForBusiness", "onlineMeetingUrl": None,
    "onlineMeeting": {"joinUrl": TEAMS_JOIN, "conferenceId": "177513992", "tollNumber": "+1 425-555-0123"},
    "body": {"contentType": "html", "content": f'<html><body><a href="{TEAMS_JOIN}">Join the meeting now</a></body></html>'},
    "organizer": {"emailAddress": {"name": "Dana", "address": "Dana@Contoso.com"}},
    "attendees": [
        {"type": "required", "status": {"response": "accepted", "time": "2026-02-20T10:00:00Z"},
         "emailAddress": {"name": "Max", "address": "max@contoso.com"}},
        {"type": "optional", "status": {"response": "tentativelyAccepted", "time": "2026-02-20T10:00:00Z"},
         "emailAddress": {"name": "Olga", "address": "olga@contoso.com"}},
        {"type": "required", "status": {"response": "none", "time": "0001-01-01T00:00:00Z"},
         "emailAddress": {"name": "Guest", "address": "guest@fabrikam.example"}},
        {"type": "resource", "status": {"response": "accepted"}, "emailAddress": {"name": "Room 1", "address": "room1@contoso.com"}}],
}
MICROSOFT_SAFELINKS_ZOOM_EVENT = {
    "id": "AAMkZoom=", "subject": "Intro", "isOnlineMeeting": False, "onlineMeeting": None,
    "start": {"dateTime": "2026-03-02T15:00:00.0000000", "timeZone": "UTC"},
    "end": {"dateTime": "2026-03-02T15:30:00.0000000", "timeZone": "UTC"},
    "location": {"displayName": ""},
    "body": {"contentType": "html", "content":
             '<div>Join: <a href="https://nam12.safelinks.protection.outlook.com/?url=https%3A%2F%2Fus02web.zoom.us'
             '%2Fj%2F81234567890%3Fpwd%3DaBcDeFgH1234&amp;data=05%7C02%7Cmax%40contoso.com%7C&amp;sdata=x%3D&amp;'
             'reserved=0" originalsrc="https://us02web.zoom.us/j/81234567890?pwd=aBcDeFgH1234">Zoom</a></div>'},
}
MICROSOFT_WEBEX_EVENT = {
    "id": "AAMkWebex=", "subject": "Webex review", "onlineMeeting": None,
    "start": {"dateTime": "2026-03-02T15:00:00.0000000", "timeZone": "UTC"},
    "end": {"dateTime": "2026-03-02T15:30:00.0000000", "timeZone": "UTC"},
    "location": {"displayName": "https://acme.webex.com/acme/j.php?MTID=m8d2f1c2e3b4a5968&utm_source=outlook"},
    "body": {"contentType": "html", "content": "<p>See location.</p>"},
}


def test_google_meet_from_conference_data_and_attendees():
    event = event_data.from_google(GOOGLE_MEET_EVENT)
    assert (event.meeting_url, event.meeting_platform) == ("https://meet.google.com/abc-defg-hij", GOOGLE_MEET)
    assert event.start_at.isoformat() == "2026-03-02T09:00:00+00:00"  # stored in UTC
    assert event.organizer_email == "ada@example.com"
    assert event.attendees == [
        {"email": "ada@example.com", "name": None, "response": "accepted"},
        {"email": "bob@partner.example", "name": "Bob", "response": "needs_action"},
        {"email": "eve@partner.example", "name": None, "response": "tentative"}]


def test_zoom_from_a_conferencing_add_on_keeps_pwd():
    link = meeting_urls.from_google_event(GOOGLE_ZOOM_ADDON_EVENT)
    assert link == MeetingLink("https://us02web.zoom.us/j/81234567890?pwd=aBcDeFgH1234", ZOOM)


def test_zoom_from_a_description_with_a_google_redirect():
    link = meeting_urls.from_google_event(GOOGLE_DESCRIPTION_ONLY_EVENT)
    assert link == MeetingLink("https://us02web.zoom.us/j/81234567890?pwd=aBcDeFgH1234", ZOOM)


def test_teams_join_url_and_graph_attendees():
    event = event_data.from_microsoft(MICROSOFT_TEAMS_EVENT)
    assert (event.meeting_url, event.meeting_platform) == (TEAMS_CANONICAL, TEAMS)
    assert event.series_id == "AAMkAGIAAAoZDOFMASTER=" and event.organizer_email == "dana@contoso.com"
    assert event.start_at.isoformat() == "2026-03-02T15:00:00+00:00"
    assert [a["response"] for a in event.attendees] == ["accepted", "tentative", "needs_action"]


def test_zoom_inside_outlook_safe_links_and_webex_in_the_location():
    assert event_data.from_microsoft(MICROSOFT_SAFELINKS_ZOOM_EVENT).meeting_url == \
        "https://us02web.zoom.us/j/81234567890?pwd=aBcDeFgH1234"
    link = meeting_urls.from_microsoft_event(MICROSOFT_WEBEX_EVENT)
    assert link == MeetingLink("https://acme.webex.com/acme/j.php?MTID=m8d2f1c2e3b4a5968", WEBEX)


def test_the_same_meeting_in_two_calendars_gives_the_same_url():
    teams_in_a_description = f'Join: <a href="{TEAMS_JOIN.replace("%3a", "%3A")}">Microsoft Teams</a>'
    google_side = event_data.from_google({**GOOGLE_DESCRIPTION_ONLY_EVENT, "description": teams_in_a_description})
    assert google_side.meeting_url == event_data.from_microsoft(MICROSOFT_TEAMS_EVENT).meeting_url
    zoom = {normalize(u).url for u in (
        "https://us02web.zoom.us/j/81234567890?pwd=aBcDeFgH1234",
        "HTTP://US02WEB.ZOOM.US/j/81234567890?pwd=aBcDeFgH1234&from=addon#success",
        "https://us02web.zoom.us/j/81234567890?uname=Max&pwd=aBcDeFgH1234&utm_source=cal",
        "https://us02web.zoom.us:443/s/81234567890?pwd=aBcDeFgH1234",
        "zoommtg://us02web.zoom.us/join?action=join&confno=81234567890&pwd=aBcDeFgH1234".replace("us02web.", ""),
    ) if normalize(u)}
    assert zoom == {"https://us02web.zoom.us/j/81234567890?pwd=aBcDeFgH1234",
                    "https://zoom.us/j/81234567890?pwd=aBcDeFgH1234"}  # the app link names no subdomain


@pytest.mark.parametrize("raw, expected", [
    ("https://meet.google.com/ABC-DEFG-HIJ?authuser=0&hs=122", "https://meet.google.com/abc-defg-hij"),
    ("http://meet.google.com/abc-defg-hij/", "https://meet.google.com/abc-defg-hij"),
    ("<https://meet.google.com/abc-defg-hij>.", "https://meet.google.com/abc-defg-hij"),
    ("https://zoom.us/my/jane.doe?pwd=x1", "https://zoom.us/my/jane.doe?pwd=x1"),
    ("https://acme.zoom.us/w/91234567890?tk=abc&pwd=W1", "https://acme.zoom.us/w/91234567890?pwd=W1"),
    ("https://teams.microsoft.com/meet/2512345678901?p=AbCdEf123&utm_campaign=x",
     "https://teams.microsoft.com/meet/2512345678901?p=AbCdEf123"),
    ("https://acme.webex.com/meet/jdoe?utm_source=mail", "https://acme.webex.com/meet/jdoe"),
    ("https://acme.webex.com/acme/j.php?mtid=m8d2f", "https://acme.webex.com/acme/j.php?MTID=m8d2f"),
])
def test_normalisation(raw, expected):
    assert normalize(raw).url == expected


@pytest.mark.parametrize("raw", [
    None, "", "mailto:ada@example.com", "https://example.com/j/81234567890", "https://meet.google.com/",
    "https://zoom.us/signin", "https://teams.microsoft.com/l/channel/19%3a123", "ftp://zoom.us/j/81234567890",
    "https://acme.webex.com/acme/j.php",
])
def test_not_meeting_links(raw):
    assert normalize(raw) is None


def test_structured_fields_win_over_text():
    event = {**GOOGLE_ZOOM_ADDON_EVENT, "description": "Fallback: https://meet.google.com/zzz-zzzz-zzz"}
    assert meeting_urls.from_google_event(event).platform == ZOOM
    assert meeting_urls.from_google_event({"description": "nothing here", "location": "Room 4"}) is None


# Conferencing add-ons in Google Calendar put the third-party link in conferenceData (type addOn)
GOOGLE_WEBEX_ADDON_EVENT = {
    "kind": "calendar#event", "id": "webexaddon1", "status": "confirmed", "summary": "Vendor sync",
    "start": {"dateTime": "2026-03-02T15:00:00Z"}, "end": {"dateTime": "2026-03-02T16:00:00Z"},
    "location": "Webex Meeting",
    "description": "Join the meeting: https://acme.webex.com/acme/j.php?MTID=m1111111111111111111111111111111",
    "conferenceData": {
        "entryPoints": [
            {"entryPointType": "video", "uri": "https://Acme.Webex.com/acme/j.php?MTID=m8d2f1c2e3b4a5968&from=addin",
             "label": "acme.webex.com/acme/j.php?MTID=m8d2f1c2e3b4a5968", "meetingCode": "25531234567",
             "passcode": "Xb2Kp"},
            {"entryPointType": "phone", "uri": "tel:+1-415-655-0001,,25531234567##", "label": "+1-415-655-0001",
             "regionCode": "US"}],
        "conferenceSolution": {"key": {"type": "addOn"}, "name": "Webex Meeting",
                               "iconUri": "https://lh3.googleusercontent.com/webex-icon"},
        "conferenceId": "25531234567"},
}
GOOGLE_TEAMS_ADDON_EVENT = {
    "kind": "calendar#event", "id": "teamsaddon1", "status": "confirmed", "summary": "Partner review",
    "start": {"dateTime": "2026-03-02T15:00:00Z"}, "end": {"dateTime": "2026-03-02T16:00:00Z"},
    "conferenceData": {
        "entryPoints": [{"entryPointType": "video", "uri": TEAMS_JOIN, "label": "Join Microsoft Teams Meeting"}],
        "conferenceSolution": {"key": {"type": "addOn"}, "name": "Microsoft Teams Meeting"},
        "conferenceId": "19:meeting_NTg0NmQ3NTctZDVkZC00YzRhLThmNmEtOGQ3M2E0ODdmZDZk@thread.v2"},
}
# Zoom's Outlook add-in writes the link into the location and the HTML body, not onlineMeeting
MICROSOFT_ZOOM_ADDIN_EVENT = {
    "id": "AAMkZoomAddin=", "subject": "Customer call", "isOnlineMeeting": False, "onlineMeetingProvider": "unknown",
    "onlineMeeting": None, "onlineMeetingUrl": None,
    "start": {"dateTime": "2026-03-02T15:00:00.0000000", "timeZone": "UTC"},
    "end": {"dateTime": "2026-03-02T15:30:00.0000000", "timeZone": "UTC"},
    "location": {"displayName": "https://us02web.zoom.us/j/81234567890?pwd=aBcDeFgH1234", "locationType": "default",
                 "uniqueId": "https://us02web.zoom.us/j/81234567890?pwd=aBcDeFgH1234", "uniqueIdType": "private"},
    "locations": [{"displayName": "https://us02web.zoom.us/j/81234567890?pwd=aBcDeFgH1234",
                   "locationType": "default"}],
    "body": {"contentType": "html", "content": "<html><body>Max is inviting you to a scheduled Zoom meeting."
                                               "</body></html>"},
}


def test_webex_and_teams_from_google_conferencing_add_ons():
    webex = event_data.from_google(GOOGLE_WEBEX_ADDON_EVENT)
    assert (webex.meeting_url, webex.meeting_platform) == (  # the structured link wins over the description's
        "https://acme.webex.com/acme/j.php?MTID=m8d2f1c2e3b4a5968", WEBEX)
    teams = event_data.from_google(GOOGLE_TEAMS_ADDON_EVENT)
    assert (teams.meeting_url, teams.meeting_platform) == (TEAMS_CANONICAL, TEAMS)
    assert teams.meeting_url == event_data.from_microsoft(MICROSOFT_TEAMS_EVENT).meeting_url


def test_zoom_from_the_outlook_add_in_location():
    event = event_data.from_microsoft(MICROSOFT_ZOOM_ADDIN_EVENT)
    assert (event.meeting_url, event.meeting_platform) == ("https://us02web.zoom.us/j/81234567890?pwd=aBcDeFgH1234",
                                                           ZOOM)


@pytest.mark.parametrize("raw, expected", [
    ("https://acme.webex.com/acme/e.php?MTID=m9ca97996f69b0761&fbclid=IwAR1",
     "https://acme.webex.com/acme/e.php?MTID=m9ca97996f69b0761"),
    ("https://cisco.webex.com/cisco/onstage/g.php?MTID=eece66c9330e4d6d3",
     "https://cisco.webex.com/cisco/onstage/g.php?MTID=eece66c9330e4d6d3"),
    ("https://teams.live.com/meet/9876543210987?p=Xyz123", "https://teams.live.com/meet/9876543210987?p=Xyz123"),
])
def test_more_webex_and_teams_link_shapes(raw, expected):
    assert normalize(raw).url == expected
