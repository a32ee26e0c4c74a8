def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "database": "ok", "redis": "ok"}


def test_library_lists_calls(client, auth, member, make_call):
    make_call(member, title="Roadmap review")
    auth.login("member@example.com")
    body = client.get("/calls").get_data(as_text=True)
    assert "Roadmap review" in body
