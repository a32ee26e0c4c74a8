"""The transcript viewer: a meeting opened by a signed link (`?token=…`), or by its owner or an admin
signed in. The URLs stay under /dashboard/, where links already sent point."""
from flask import Blueprint, Response, abort, current_app, g, render_template, request

from ..calls import formats
from ..calls.serialize import call_to_json
from ..transcripts import links
from ..transcripts.view import transcript_lines
from .helpers import attachment

bp = Blueprint("transcripts", __name__, url_prefix="/dashboard/transcripts")


def _viewer_headers(response: Response) -> Response:
    """The link is the credential: keep it out of caches, search engines and Referer headers."""
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    return response


def _denied(problem: links.LinkError):
    page = render_template("transcripts/denied.html", problem=problem, signed_in=g.user is not None)
    return _viewer_headers(Response(page, status=403))


def _open_meeting(meeting_id: str):
    """(call, token) for a viewer request, or a response refusing it."""
    token = request.args.get("token")
    if token:
        try:
            call = links.open_with_token(current_app.config["TRANSCRIPT_TOKEN_SECRET"], token, meeting_id)
        except links.LinkConfigError as exc:
            return None, Response(render_template("error.html", status=503, title="Not configured",
                                                  message=str(exc)), status=503)
        except links.LinkError as problem:
            return None, _denied(problem)
        if call is None:
            abort(404)
        return call, token
    call = links.find_meeting(meeting_id) if g.user is not None else None
    if call is not None and (g.user.is_admin or call.owner_id == g.user.id):
        return call, None
    return None, _denied(links.LinkError("missing"))


@bp.get("/<meeting_id>/")
def viewer(meeting_id):
    call, token_or_response = _open_meeting(meeting_id)
    if call is None:
        return token_or_response
    page = render_template("transcripts/viewer.html", call=call, lines=transcript_lines(call.id),
                           token=token_or_response, formats=list(formats.FORMATS))
    return _viewer_headers(Response(page))


@bp.get("/<meeting_id>/transcript.<fmt>")
def download(meeting_id, fmt):
    if fmt not in formats.FORMATS:
        abort(404)
    call, token_or_response = _open_meeting(meeting_id)
    if call is None:
        return token_or_response
    segments = call.segments.all()
    body = formats.render(call, segments, fmt, call_to_json(call, segments) if fmt == "json" else None)
    return _viewer_headers(Response(body, mimetype=formats.FORMATS[fmt], headers={
        "Content-Disposition": attachment(f"{formats.file_stem(call)}.{fmt}")}))
