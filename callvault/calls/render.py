"""Safe rendering helpers for templates: markdown that can never run script, speaker colours."""
import zlib

import markdown as markdown_lib
import nh3
from markupsafe import Markup

SPEAKER_COLOURS = 8


def markdown_to_safe_html(text: str | None) -> Markup:
    """Render markdown, then sanitise: raw HTML in a summary never runs, and an image on another
    server loses its source (a tracking pixel would tell that server who read the summary, and when)."""
    if not text:
        return Markup("")
    html = markdown_lib.markdown(text, extensions=["sane_lists"])
    return Markup(nh3.clean(html, link_rel="noopener noreferrer nofollow", attribute_filter=_no_outside_images))


def _no_outside_images(element: str, attribute: str, value: str) -> str | None:
    """Keep an image's source only when it is a path on this site (`/…`, not `//host/…`)."""
    if element == "img" and attribute in ("src", "srcset"):
        value = value.strip()
        return value if value.startswith("/") and not value.startswith(("//", "/\\")) else None
    return value


def speaker_colour(name: str | None) -> int:
    """A stable colour index per speaker name."""
    return zlib.crc32((name or "").encode()) % SPEAKER_COLOURS
