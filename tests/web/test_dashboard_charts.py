"""Issue 15, item 10: the dashboard's pictures: calls per day with axes and labels, webhook deliveries
per day stacked by status, queue depth and job durations on the Machinery panel; each an accessible
SVG (title, desc, a data table) drawn on the server."""
import re
from datetime import timedelta

from callvault.dashboard.chart import bar_chart
from callvault.extensions import db
from callvault.models import SyncJob, WebhookDelivery, utcnow
from tests.support.web import login


def test_bars_stack_their_series_under_a_round_axis():
    chart = bar_chart([{"label": "a", "ok": 3, "bad": 4}, {"label": "b", "ok": 1, "bad": 0}], keys=("ok", "bad"))
    assert [t["value"] for t in chart["ticks"]] == [0, 2, 4, 6, 8]  # 7 at the top rounds up to 8
    first = chart["bars"][0]["segments"]
    assert [s["key"] for s in first] == ["ok", "bad"] and first[1]["y"] + first[1]["height"] == first[0]["y"]
    assert chart["bars"][1]["segments"] == [{"key": "ok", "value": 1, "y": chart["bars"][1]["segments"][0]["y"],
                                            "height": chart["bars"][1]["segments"][0]["height"]}]
    empty = bar_chart([{"label": "x", "count": 0}])
    assert [t["value"] for t in empty["ticks"]] == [0, 1] and empty["bars"][0]["segments"] == []


def test_the_dashboard_draws_labelled_accessible_charts(app, admin, member, make_call):
    now = utcnow()
    make_call(member, external_id="1", started_at=now - timedelta(hours=1))
    with app.app_context():
        db.session.add_all([WebhookDelivery(source="fathom", endpoint="/webhooks/fathom", status=status,
                                            received_at=now - timedelta(minutes=5))
                            for status in ("success", "success", "rejected", "failed")])
        db.session.add(SyncJob(user_id=member, status="succeeded", started_at=now - timedelta(seconds=75),
                               finished_at=now))
        db.session.commit()
    client = app.test_client()
    login(client, "admin@example.com")
    page = client.get("/dashboard/").get_data(as_text=True)
    for chart_id in ("calls-per-day", "deliveries-per-day", "queue-depth", "job-durations"):
        svg = re.search(rf'<svg class="chart"[^>]*aria-labelledby="{chart_id}-title {chart_id}-desc">(.*?)</svg>',
                        page, re.S)
        assert svg, chart_id
        assert f'<title id="{chart_id}-title">' in svg.group(1) and f'<desc id="{chart_id}-desc">' in svg.group(1)
        assert 'class="axis"' in svg.group(1) and 'class="axis-title"' in svg.group(1)
    deliveries = re.search(r'aria-labelledby="deliveries-per-day-title.*?</figure>', page, re.S).group(0)
    assert deliveries.count('class="series-success"') == 1 and 'class="series-failed"' in deliveries
    assert "2 Processed</title>" in deliveries and "Rejected</li>" in deliveries
    assert "as a table</summary>" in deliveries and "<td>2</td>" in deliveries
    durations = re.search(r'aria-labelledby="job-durations-title.*?</figure>', page, re.S).group(0)
    assert "75 s</title>" in durations
    assert " style=" not in page and "<style" not in page and "<script>" not in page
