"""The published OpenAPI document, and Schemathesis run with it against the live app (a real server on
loopback): every documented operation, with an admin's and a member's token, valid and invalid inputs,
must never answer 5xx and must answer what the document says (status and JSON shape)."""
import json

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import response_schema_conformance

from callvault import accounts
from callvault.blueprints.openapi import spec
from callvault.extensions import db
from callvault.models import User

schema = schemathesis.openapi.from_dict(spec())
schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], max_examples=20,
                                database="none")
CHECKS = [not_a_server_error, response_schema_conformance]
SENT = {"requests": 0}  # for the report; run with -s to see it


@pytest.fixture
def api_server(app, admin, member, make_call, live_server, client):
    """The live app with something to list: calls of the member's, logged webhook deliveries, and a
    token for each role."""
    for index in range(3):
        make_call(member, external_id=f"9{index}", segments=3)
    for _ in range(2):
        client.post("/webhooks/fathom", data=b'{"unsigned": true}', content_type="application/json")
    with app.app_context():
        tokens = {role: accounts.issue_api_token(db.session.get(User, user_id))
                  for role, user_id in (("admin", admin), ("member", member))}
    return live_server.url, tokens


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck), max_examples=20)
def test_api_matches_its_document(case, api_server):
    base_url, tokens = api_server
    for role in ("admin", "member"):
        SENT["requests"] += 1
        case.call_and_validate(base_url=base_url, headers={"Authorization": f"Bearer {tokens[role]}"},
                               checks=CHECKS, timeout=30)
    print(f"\rSchemathesis requests so far: {SENT['requests']}", end="")


def test_document_is_published_and_public(app, live_server):
    response = requests.get(f"{live_server.url}/api/v1/openapi.json", timeout=10)
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("application/json")
    assert response.json() == json.loads(json.dumps(spec()))
    assert response.json()["openapi"].startswith("3.1")
    loaded = schemathesis.openapi.from_url(f"{live_server.url}/api/v1/openapi.json")
    operations = {(op.ok().method.upper(), op.ok().path) for op in loaded.get_all_operations()}
    assert {("GET", "/api/v1/calls"), ("GET", "/api/v1/calls/{call_id}"),
            ("GET", "/api/v1/calls/{call_id}/transcript.{fmt}"), ("GET", "/api/v1/webhook-deliveries"),
            ("GET", "/dashboard/api/summary/"), ("GET", "/dashboard/api/pipeline/"),
            ("GET", "/dashboard/api/events/"), ("GET", "/dashboard/api/failures/")} <= operations


def test_every_json_api_route_is_documented(app):
    documented = set(spec()["paths"])
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(("/api/v1/", "/dashboard/api/")):
            path = rule.rule.replace("<", "{").replace(">", "}")
            assert path in documented, f"{rule.rule} is missing from the OpenAPI document"


def test_document_holds_no_secret(app, live_server):
    text = requests.get(f"{live_server.url}/api/v1/openapi.json", timeout=10).text
    for name in ("SECRET_KEY", "CREDENTIALS_ENCRYPTION_KEY", "TRANSCRIPT_TOKEN_SECRET"):
        value = app.config.get(name)
        assert not value or str(value) not in text
