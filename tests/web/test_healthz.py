def test_healthz_reports_both(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "database": "ok", "redis": "ok"}


def test_healthz_is_503_when_redis_is_unreachable(app_factory):
    app = app_factory(REDIS_URL="redis://127.0.0.1:1/0", INPROCESS_QUEUE=False)
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.json["database"] == "ok" and response.json["redis"].startswith("error")
