"""Process configuration, read from the environment (names as in DESIGN.md).

A value that cannot be used stops the start-up with one line naming the setting
(:func:`settings_error_line`); the URLs are checked here for their form, and by
:mod:`bot.startup` for whether their servers answer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.adapters.queues.connection import check_url

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
# Settings whose rejected value may be shown back: none of them can hold a secret.
_SHOWN_VALUES = frozenset(
    {
        "port",
        "sample_interval_seconds",
        "shutdown_grace_seconds",
        "embedded",
        "log_level",
        "slack_timeout_seconds",
        "kube_read_timeout_seconds",
    }
)


class Settings(BaseSettings):
    """Everything the bot reads from its environment.

    Secrets are ``SecretStr`` so that printing or logging the settings never
    shows them.
    """

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", frozen=True)

    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"
    slack_timeout_seconds: int = Field(
        default=10, ge=1, le=120, validation_alias="SLACK_TIMEOUT_SECONDS"
    )
    alertmanager_token: SecretStr | None = Field(
        default=None,
        description="When set, /alertmanager requires 'Authorization: Bearer <token>'.",
    )
    redis_url: str | None = None
    database_url: SecretStr | None = None
    playbook: Path = Path("playbooks/queue-backlog.yml")
    port: int = Field(default=3000, ge=1, le=65535)
    kubeconfig: Path | None = None
    embedded: bool = Field(
        default=False,
        description="Start embedded Redis/PostgreSQL where REDIS_URL/DATABASE_URL are unset.",
        validation_alias="BACKLOG_BOT_EMBEDDED",
    )
    data_dir: Path | None = Field(
        default=None,
        description="Where the embedded Redis and PostgreSQL keep their data.",
        validation_alias="BACKLOG_BOT_DATA_DIR",
    )
    sample_interval_seconds: float = Field(
        default=15.0, gt=0, validation_alias="BACKLOG_BOT_SAMPLE_INTERVAL"
    )
    shutdown_grace_seconds: float = Field(
        default=20.0,
        ge=0,
        le=3600,
        description="How long running actions may finish after SIGTERM/SIGINT.",
        validation_alias="BACKLOG_BOT_SHUTDOWN_GRACE",
    )
    log_level: LogLevel = Field(default="INFO", validation_alias="LOG_LEVEL")
    kube_read_timeout_seconds: float = Field(
        default=3.0,
        gt=0,
        le=60,
        description="How long the alert waits for a deployment's ready count before it "
        "says the count is unknown (the alert is never held up by a slow API server).",
        validation_alias="BACKLOG_BOT_KUBE_READ_TIMEOUT",
    )

    # --- Paging outside Slack (PagerDuty). Routing keys are not settings: the playbook
    # names the environment variable holding each one (escalation tiers, roles).
    pagerduty_events_url: str = Field(
        default="https://events.pagerduty.com/v2/enqueue",
        description="PagerDuty Events API v2 endpoint (tests point it at the emulator).",
        validation_alias="PAGERDUTY_EVENTS_URL",
    )
    pagerduty_webhook_secret: SecretStr | None = Field(
        default=None,
        description="Signing secret of the PagerDuty v3 webhook subscription; unset: no webhook.",
        validation_alias="PAGERDUTY_WEBHOOK_SECRET",
    )

    @field_validator("kubeconfig", "redis_url", "database_url", "data_dir", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        # KUBECONFIG= in a shell or a manifest means "none", as kubectl reads it.
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        return {"WARN": "WARNING", "FATAL": "CRITICAL"}.get(value.upper(), value.upper())

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if value is not None:
            check_url(value)
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            check_database_url(value.get_secret_value())
        return value

    @field_validator("slack_api_url")
    @classmethod
    def _slack_api_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("it must be an http(s) URL such as https://slack.com/api/")
        return value


def check_database_url(url: str) -> None:
    """Raises ValueError unless ``url`` has the form asyncpg/libpq accept.

    asyncpg takes ``postgresql://`` or ``postgres://`` URLs; the host may be in the
    query (``?host=/var/run/postgresql`` for a unix socket), as libpq allows.
    """
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError as exc:
        raise ValueError("it is not a valid URL (is the port a number?)") from exc
    if parts.scheme not in ("postgresql", "postgres"):
        raise ValueError("it must start with postgresql:// (or postgres://)")


def settings_error_line(error: ValidationError) -> str:
    """One line naming each rejected setting by its environment variable and why.

    Values are shown only for settings that cannot hold a secret.
    """
    by_env = {
        field.validation_alias if isinstance(field.validation_alias, str) else name.upper(): name
        for name, field in Settings.model_fields.items()
    }
    problems = []
    for item in error.errors():
        loc = str(item["loc"][0]) if item["loc"] else ""
        env = loc if loc in by_env else loc.upper()
        name = by_env.get(env, loc)
        reason = str(item["msg"]).removeprefix("Value error, ")
        if name in _SHOWN_VALUES and "input" in item:
            reason += f" (got {item['input']!r})"
        # A sentence that names the setting already stands alone.
        problems.append(reason if f"`{env}`" in reason else f"{env}: {reason}")
    return "; ".join(problems)
