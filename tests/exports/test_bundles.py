"""Bulk export: a zip of a user's calls, built by a job with progress, downloadable when done."""
import io
import json
import zipfile
from datetime import timedelta

from callvault.exports import bundles
from callvault.extensions import db
from callvault.models import ExportBundle, ExportBundleChunk, utcnow
from tests.support.web import csrf_from, login


def start(client, formats):
    page = client.get("/exports/").get_data(as_text=True)
    return client.post("/exports/bundles", data={"csrf_token": csrf_from(page), "formats": formats})


def test_a_zip_of_my_calls_in_the_chosen_formats(app, client, member, other_member, make_call, drain, monkeypatch):
    monkeypatch.setattr(bundles, "BATCH", 2)  # several progress steps
    for n in range(5):
        make_call(member, external_id=str(n), title=f"Call {n}: a/b", segments=3)
    make_call(other_member, external_id="theirs", title="Not mine")
    login(client, "member@example.com")
    assert start(client, ["txt", "json", "exe"]).status_code == 302
    with app.app_context():
        bundle = db.session.scalars(db.select(ExportBundle)).one()
        assert (bundle.status, bundle.formats, bundle.done) == ("queued", ["json", "txt"], 0)
        bundle_id = bundle.id

    fragment = client.get(f"/exports/bundles/{bundle_id}", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert 'hx-trigger="every 1s"' in fragment and "<progress" in fragment
    drain()
    with app.app_context():
        bundle = db.session.get(ExportBundle, bundle_id)
        assert (bundle.status, bundle.total, bundle.done, bundle.percent) == ("succeeded", 5, 5, 100)
        assert bundle.expires_at > utcnow() + timedelta(days=6)

    fragment = client.get(f"/exports/bundles/{bundle_id}", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "every 1s" not in fragment and "Download (5 calls" in fragment
    response = client.get(f"/exports/bundles/{bundle_id}/download")
    assert response.status_code == 200 and response.mimetype == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.get_data()))
    names = sorted(archive.namelist())
    assert len(names) == 10 and names[0].startswith("json/2026-11-02 Call 0_ a_b [")
    assert not any("Not mine" in name for name in names)
    first_txt = next(n for n in names if n.startswith("txt/"))
    assert "Line number 2" in archive.read(first_txt).decode()
    first_json = json.loads(archive.read(names[0]))
    assert first_json["title"] == "Call 0: a/b" and len(first_json["segments"]) == 3


def test_bad_requests_and_other_peoples_bundles(app, client, member, other_member, make_call, drain):
    make_call(member)
    login(client, "member@example.com")
    response = start(client, [])
    assert response.status_code == 302
    assert "Choose at least one format" in client.get("/exports/").get_data(as_text=True)
    start(client, ["md"])
    drain()
    with app.app_context():
        bundle_id = db.session.scalars(db.select(ExportBundle.id)).one()
    other = app.test_client()
    login(other, "other@example.com")
    assert other.get(f"/exports/bundles/{bundle_id}/download").status_code == 404
    assert other.get(f"/exports/bundles/{bundle_id}", headers={"HX-Request": "true"}).status_code == 404


def test_expired_bundles_are_deleted(app, client, member, make_call, drain):
    make_call(member)
    login(client, "member@example.com")
    start(client, ["srt"])
    drain()
    with app.app_context():
        bundle = db.session.scalars(db.select(ExportBundle)).one()
        assert bundles.delete_expired() == 0
        bundle.expires_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
        assert bundles.delete_expired() == 1
        assert db.session.query(ExportBundle).count() == 0 and db.session.query(ExportBundleChunk).count() == 0
