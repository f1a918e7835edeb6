"""A setting that cannot be used is one line naming it, never showing a secret."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from bot.settings import Settings, settings_error_line


def _line(monkeypatch, **env: str) -> str:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as refused:
        Settings()
    return settings_error_line(refused.value)


def test_each_bad_value_is_named_by_its_variable(monkeypatch):
    line = _line(monkeypatch, PORT="70000", BACKLOG_BOT_SAMPLE_INTERVAL="0")
    assert line == (
        "PORT: Input should be less than or equal to 65535 (got '70000'); "
        "BACKLOG_BOT_SAMPLE_INTERVAL: Input should be greater than 0 (got '0')"
    )


def test_urls_are_refused_without_showing_them(monkeypatch):
    line = _line(
        monkeypatch,
        REDIS_URL="redis://:hunter2@h/zero",
        DATABASE_URL="mysql://bot:hunter3@db/bot",
    )
    assert line == (
        "REDIS_URL: the database `zero` is not a number; "
        "DATABASE_URL: it must start with postgresql:// (or postgres://)"
    )


def test_empty_means_unset_and_levels_are_forgiving(monkeypatch):
    for name, value in {"KUBECONFIG": "", "REDIS_URL": " ", "LOG_LEVEL": "warn",
                        "BACKLOG_BOT_EMBEDDED": "1"}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert (settings.kubeconfig, settings.redis_url) == (None, None)
    assert (settings.log_level, settings.embedded) == ("WARNING", True)
