"""A bad setting is one line naming the variable and a non-zero exit, never a traceback (STYLE.md)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

import callvault
from callvault.config import CONFIG_ERROR_EXIT_CODE, ConfigError, load_config

ROOT = Path(callvault.__file__).resolve().parent.parent   # wherever this test file lives
FLASK = str(Path(sys.executable).parent / "flask")

BAD_SETTINGS = [
    ("BOT_LEAD_MINUTES", "1h", "BOT_LEAD_MINUTES must be a whole number of minutes (got '1h')"),
    ("BOT_STUCK_AFTER_HOURS", "three", "BOT_STUCK_AFTER_HOURS must be a number of hours (got 'three')"),
    ("BOT_GRACE_MINUTES", "-5", "BOT_GRACE_MINUTES cannot be negative (got '-5')"),
    ("MAX_CONTENT_LENGTH", "10MB", "MAX_CONTENT_LENGTH must be a whole number of bytes (got '10MB')"),
    ("SESSION_LIFETIME_SECONDS", "12h", "SESSION_LIFETIME_SECONDS must be a whole number of seconds (got '12h')"),
    ("FATHOM_MAX_ATTEMPTS", "0", "FATHOM_MAX_ATTEMPTS must be at least 1 (got '0')"),
    ("AI_SEMANTIC_MIN_SIMILARITY", "nan", "AI_SEMANTIC_MIN_SIMILARITY must be a number (got 'nan')"),
    ("EXPORT_WEBHOOK_TIMEOUT_SECONDS", "15s", "EXPORT_WEBHOOK_TIMEOUT_SECONDS must be a number of seconds (got '15s')"),
    ("FATHOM_SANDBOX", "maybe", "FATHOM_SANDBOX must be 1 or 0 (or true/false, yes/no) (got 'maybe')"),
    ("CALLVAULT_ENV", "prod", "CALLVAULT_ENV must be one of production, development, testing (got 'prod')"),
]


@pytest.mark.parametrize("name, value, message", BAD_SETTINGS, ids=[b[0] for b in BAD_SETTINGS])
def test_load_config_names_the_bad_setting(tmp_path, name, value, message):
    with pytest.raises(ConfigError) as error:
        load_config({name: value}, tmp_path)
    assert str(error.value) == message
    assert list(tmp_path.iterdir()) == []  # parsed before any development secret is written


def test_blank_settings_mean_the_default(tmp_path):
    config = load_config({"BOT_LEAD_MINUTES": "", "BOT_STUCK_AFTER_HOURS": " ", "FATHOM_SANDBOX": "",
                          "CALLVAULT_ENV": ""}, tmp_path)
    assert config["BOT_LEAD_MINUTES"] == 60 and config["BOT_STUCK_AFTER_HOURS"] == 3.0
    assert config["FATHOM_SANDBOX"] is False and config["ENV_NAME"] == "development"


def test_good_values_parse(tmp_path):
    config = load_config({"BOT_LEAD_MINUTES": " 15 ", "BOT_STUCK_AFTER_HOURS": "1.5", "FATHOM_SANDBOX": "TRUE",
                          "AI_SEMANTIC_MIN_SIMILARITY": "0"}, tmp_path)
    assert config["BOT_LEAD_MINUTES"] == 15 and config["BOT_STUCK_AFTER_HOURS"] == 1.5
    assert config["FATHOM_SANDBOX"] is True and config["AI_SEMANTIC_MIN_SIMILARITY"] == 0.0
    assert load_config({"FATHOM_SANDBOX": "0"}, tmp_path)["FATHOM_SANDBOX"] is False


def test_production_names_what_is_missing_in_one_line(tmp_path):
    with pytest.raises(ConfigError) as error:
        load_config({"CALLVAULT_ENV": "production", "SECRET_KEY": "x"}, tmp_path)
    assert str(error.value) == "CREDENTIALS_ENCRYPTION_KEY, DATABASE_URL and REDIS_URL must be set in production"


def test_testing_makes_up_missing_secrets_without_writing_them(tmp_path):
    first = load_config({"CALLVAULT_ENV": "testing"}, tmp_path)
    assert first["SECRET_KEY"] and first["CREDENTIALS_ENCRYPTION_KEYS"] and first["TRANSCRIPT_TOKEN_SECRET"]
    assert list(tmp_path.iterdir()) == []


def _run(command, name, value, tmp_path):
    env = {**os.environ, name: value}
    return subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


def _assert_one_line_naming(result, name):
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == CONFIG_ERROR_EXIT_CODE, result.stderr
    assert "Traceback" not in result.stderr
    assert len(lines) == 1 and lines[0].startswith("CallVault: ") and name in lines[0], result.stderr


# The processes a deployment starts; the last case is the production check of missing settings.
PROCESS_CASES = [("BOT_LEAD_MINUTES", "1h", "BOT_LEAD_MINUTES"), ("FATHOM_SANDBOX", "maybe", "FATHOM_SANDBOX"),
                 ("CALLVAULT_ENV", "production", "DATABASE_URL")]


@pytest.mark.parametrize("name, value, named", PROCESS_CASES, ids=[c[0] for c in PROCESS_CASES])
def test_flask_stops_with_one_line(tmp_path, name, value, named):
    result = _run([FLASK, "--app", str(ROOT / "app.py"), "routes"], name, value, tmp_path)
    _assert_one_line_naming(result, named)
    assert result.stdout == ""


@pytest.mark.parametrize("name, value, named", PROCESS_CASES[::2], ids=[c[0] for c in PROCESS_CASES[::2]])
def test_worker_stops_with_one_line(tmp_path, name, value, named):
    result = _run([sys.executable, str(ROOT / "worker.py")], name, value, tmp_path)
    _assert_one_line_naming(result, named)
