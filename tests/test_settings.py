"""Settings: defaults need nothing, bad values name the variable, secrets stay secret."""
from __future__ import annotations

import pytest

from settings import SettingsError, load_settings


def test_defaults_need_no_environment(monkeypatch):
    for name in ("DATABASE_URL", "REDIS_URL", "ANTHROPIC_API_KEY", "PORT"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings(_env_file=None)
    assert settings.database_url is None and settings.redis_url is None
    assert settings.port == 3000


def test_invalid_value_names_the_variable(monkeypatch):
    monkeypatch.setenv("PORT", "not-a-port")
    with pytest.raises(SettingsError, match="PORT"):
        load_settings(_env_file=None)


def test_comma_lists_and_compensation_tiers(monkeypatch):
    monkeypatch.setenv("SLACK_ALLOWED_CHANNELS", "C1, C2")
    monkeypatch.setenv("COMPENSATION_TIERS", "500:15,10000:25,0:10")
    settings = load_settings(_env_file=None)
    assert settings.slack_allowed_channels == ["C1", "C2"]
    assert settings.compensation_table == [(10000.0, 25.0), (500.0, 15.0), (0.0, 10.0)]
    monkeypatch.setenv("COMPENSATION_TIERS", "lots")
    with pytest.raises(SettingsError, match="COMPENSATION_TIERS"):
        load_settings(_env_file=None)


def test_secrets_do_not_print(monkeypatch):
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-very-secret")
    settings = load_settings(_env_file=None)
    assert "xoxb-very-secret" not in repr(settings) and "xoxb-very-secret" not in str(settings)
    assert settings.slack_bot_token.get_secret_value() == "xoxb-very-secret"
