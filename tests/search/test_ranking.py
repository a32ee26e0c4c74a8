"""fulltext.rank gives the same scores however it finds the lines (through the full-text index for
selective words, by call for broad ones), and scores only the candidate calls."""
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from callvault.calls.store import CallData, SegmentData, upsert_call
from callvault.extensions import db
from callvault.models import Call, User
from callvault.search import fulltext

BASE = datetime(2026, 11, 2, 15, 0, tzinfo=timezone.utc)


@pytest.fixture
def calls(app, member, other_member):
    def add(owner_id, external_id, title, lines, days):
        data = CallData(source="fathom", external_id=external_id, title=title, started_at=BASE + timedelta(days=days),
                        ended_at=BASE + timedelta(days=days, minutes=30),
                        segments=[SegmentData(speaker="A", text=text, start_ms=i * 1000) for i, text in enumerate(lines)])
        return upsert_call(db.session.get(User, owner_id), data).call.id
    with app.app_context():
        return {"titled": add(member, "1", "Kubernetes plan", ["kubernetes upgrade", "more kubernetes"], 0),
                "once": add(member, "2", "Weekly", ["we talked kubernetes once", "then zanzibar"], 1),
                "none": add(member, "3", "Hiring", ["nothing here"], 2),
                "theirs": add(other_member, "4", "Their kubernetes", ["kubernetes kubernetes"], 3)}


@pytest.mark.parametrize("q", ["kubernetes", "kuber", "zanzibar OR kubernetes", '"more kubernetes"'])
def test_scores_only_candidates_and_agree_whichever_way_lines_are_found(app, calls, monkeypatch, q):
    mine = sorted([calls["titled"], calls["once"], calls["none"]])
    query = fulltext.parse(q)
    with app.app_context():
        as_list = fulltext.rank(db.session, mine, query)  # PostgreSQL: selective words, through the index
        as_select = fulltext.rank(db.session, select(Call.id).where(Call.id.in_(mine)), query)
        monkeypatch.setattr(fulltext, "MAX_COLLECTED_LINES", 1)  # every word broad: the candidates' lines by call
        broad = fulltext.rank(db.session, mine, query)
    assert calls["theirs"] not in as_list and calls["none"] not in as_list
    assert set(as_list) == set(as_select) == set(broad) and set(as_list) <= {calls["titled"], calls["once"]}
    for call_id, score in as_list.items():
        assert score == pytest.approx(as_select[call_id]) == pytest.approx(broad[call_id])


def test_title_and_more_lines_rank_higher(app, calls):
    with app.app_context():
        scores = fulltext.rank(db.session, sorted(calls.values()), fulltext.parse("kubernetes"))
        assert scores[calls["titled"]] > scores[calls["once"]]
        assert fulltext.rank(db.session, [], fulltext.parse("kubernetes")) == {}
