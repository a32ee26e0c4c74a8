"""Safe rendering helpers for templates: markdown that can never run script, speaker colours."""
import zlib

import markdown as markdown_lib
import nh3
from markupsafe import Markup

SPEAKER_COLOURS = 8


def markdown_to_safe_html(text: str | None) -> Markup:
    """Render markdown, then sanitise: raw HTML in a summary never runs."""
    if not text:
        return Markup("")
    html = markdown_lib.markdown(text, extensions=["sane_lists"])
    return Markup(nh3.clean(html, link_rel="noopener noreferrer nofollow"))


def speaker_colour(name: str | None) -> int:
    """A stable colour index per speaker name."""
    return zlib.crc32((name or "").encode()) % SPEAKER_COLOURS
