"""The transcript's lines as HTML (transcripts.view.transcript_items): escaped, one anchor per time, in parts
of PART_LINES, each time a link into the recording when there is one."""
from callvault.transcripts.view import Line, transcript_items


def test_text_and_speakers_are_escaped_and_each_time_anchored_once():
    html = str(transcript_items([Line("<b>Ann</b>", 'Hi <script>alert("x")</script> & bye', 0, 0),
                                 Line("Bo", "same moment", 0, 1), Line("Ann", "later", 3_723_000, 0)]))
    assert "<script>" not in html and "&lt;script&gt;" in html and "&lt;b&gt;Ann&lt;/b&gt;" in html
    assert html.count('id="t0"') == 1 and 'id="t3723000"' in html
    assert '<span class="ts">01:02:03</span>' in html and '<span class="speaker c1">Bo</span>' in html
    assert html.count("<li ") == 3


def test_times_link_into_the_recording():
    html = str(transcript_items([Line("Ann", "hello", 61_500, 0)], 'https://fathom.video/share/x?a=1&b="2'))
    # viewer.js opens it in a new tab without opener or referrer (tests/web/test_transcript_links_browser.py)
    assert '<a class="ts" href="https://fathom.video/share/x?a=1&amp;b=&#34;2&amp;timestamp=61">01:01</a>' in html
    assert 'href="https://x.example/s?timestamp=0"' in str(transcript_items([Line("A", "t", 0, 0)],
                                                                            "https://x.example/s"))


def test_long_transcripts_come_in_parts_the_browser_can_skip():
    html = str(transcript_items([Line("Ann", f"line {n}", n * 1000, 0) for n in range(250)]))
    assert html.count('<ol class="transcript-part"') == html.count("</ol>") == 3
    assert 'start="1"' in html and 'start="101"' in html and 'start="201"' in html
    second = html.split('<ol class="transcript-part"')[2]
    assert second.count("<li ") == 100 and "line 100<" in second and "line 199<" in second
    assert transcript_items([]) == ""
