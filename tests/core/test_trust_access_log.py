"""Issue 13, item 5: the Procfile's web process (real gunicorn, on loopback) and the app's own request
log write paths without secrets: a viewer link's `?token=`, OAuth codes, a personal webhook's key."""
import logging
import os
import re
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from callvault.redaction import redact_path, redact_query, redact_target
from tests.support.backends import TEST_REDIS_URL

ROOT = Path(__file__).resolve().parents[2]
VIEWER_TOKEN = "eyJtZWV0aW5nSWQiOiAiMSJ9.SIGNATUREthatMustNotLeak"
OAUTH_CODE, OAUTH_STATE = "oauth-code-that-must-not-leak", "state-that-must-not-leak"
SECRETS = (VIEWER_TOKEN, "SIGNATUREthatMustNotLeak", OAUTH_CODE, OAUTH_STATE)


def procfile_web_command(port: int) -> list[str]:
    """The Procfile's `web:` line as the platform would run it, bound to loopback instead of every address."""
    line = next(l for l in (ROOT / "Procfile").read_text().splitlines() if l.startswith("web:"))
    command = line.partition(":")[2].strip().replace("0.0.0.0:$PORT", f"127.0.0.1:{port}")
    command = command.replace("${WEB_CONCURRENCY:-3}", "1")
    assert "$" not in command, command
    argv = shlex.split(command)
    assert argv[0] == "gunicorn"
    return [sys.executable, "-m", "gunicorn", *argv[1:]]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_gunicorn_from_the_procfile_logs_no_token_code_or_webhook_key(app, database_url, personal_key):
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "PYTHONUNBUFFERED": "1"}
    if TEST_REDIS_URL:
        env["REDIS_URL"] = TEST_REDIS_URL
    server = subprocess.Popen(procfile_web_command(port), cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(base + "/login", timeout=20)  # the worker loads the app before it answers
                break
            except requests.ConnectionError:
                assert server.poll() is None and time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.2)
        viewer = f"/dashboard/transcripts/1/?token={VIEWER_TOKEN}"
        assert requests.get(base + viewer, timeout=10).status_code in (403, 404)
        requests.get(f"{base}/auth/fathom/callback/?code={OAUTH_CODE}&state={OAUTH_STATE}", timeout=10)
        # The key as routed and percent-encoded; a signed-looking body that fails verification.
        for path in (f"/webhooks/fathom/{personal_key}", f"/webhooks/%66athom/{personal_key}"):
            response = requests.post(base + path, data=b'{"recording_id": 1}', timeout=10,
                                     headers={"Content-Type": "application/json"})
            assert response.status_code < 500
        requests.get(base + "/static/css/app.css", headers={"Referer": base + viewer}, timeout=10)
    finally:
        server.terminate()
        access_log, app_log = server.communicate(timeout=30)

    access_lines = [line for line in access_log.splitlines() if '"GET ' in line or '"POST ' in line]
    assert len(access_lines) >= 5, access_log + app_log
    for secret in SECRETS + (personal_key,):
        assert secret not in access_log, secret
        assert secret not in app_log, secret
    assert any(f"/dashboard/transcripts/1/?token=[redacted]" in line for line in access_lines), access_log
    assert any("code=[redacted]&state=[redacted]" in line for line in access_lines), access_log
    assert sum("/webhooks/fathom/[redacted]" in line for line in access_lines) == 2, access_log
    request_events = re.findall(r'"event":"request"[^\n]*', app_log)
    assert any('"path":"/webhooks/fathom/[redacted]"' in event for event in request_events), app_log


def test_the_development_server_logs_no_token_or_webhook_key(app, live_server, caplog):
    """`make run` serves with werkzeug (`flask run`): its access lines are redacted too."""
    def lines():
        return [record.getMessage() for record in caplog.records if record.name == "werkzeug"]

    # Alembic's logging setup (run by the migration tests) disables loggers it does not name, werkzeug's too.
    logging.getLogger("werkzeug").disabled = False
    with caplog.at_level(logging.INFO, logger="werkzeug"):
        requests.get(f"{live_server.url}/dashboard/transcripts/1/?token={VIEWER_TOKEN}", timeout=10)
        requests.post(f"{live_server.url}/webhooks/fathom/personal-key-that-must-not-leak", data=b"{}", timeout=10)
        deadline = time.monotonic() + 10  # the server writes its line after the response has gone out
        while len(lines()) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    lines = lines()
    assert any("/dashboard/transcripts/1/?token=[redacted]" in line for line in lines), lines
    assert any("/webhooks/fathom/[redacted]" in line for line in lines), lines
    assert not [line for line in lines if VIEWER_TOKEN in line or "personal-key-that-must-not-leak" in line]


def test_redaction_keeps_what_is_not_secret():
    assert redact_target("/calls?q=roadmap&source=fathom") == "/calls?q=roadmap&source=fathom"
    assert redact_query("q=x&Token=abc&%74oken=def&api_key=k&validationToken=v") == \
        "q=x&Token=[redacted]&%74oken=[redacted]&api_key=[redacted]&validationToken=[redacted]"
    assert redact_query("next=%2Fauth%2Ffathom%2Fcallback%2F%3Fcode%3Dc%26state%3Ds") == \
        "next=/auth/fathom/callback/%3Fcode%3D[redacted]%26state%3D[redacted]"
    assert redact_path("/webhooks/fathom") == "/webhooks/fathom"
    assert redact_path("//webhooks//fathom/a/b") == "/webhooks/fathom/[redacted]"
    assert redact_target("https://vault.example/dashboard/transcripts/3/?token=t#x") == \
        "https://vault.example/dashboard/transcripts/3/?token=[redacted]"
