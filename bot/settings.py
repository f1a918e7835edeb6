"""Process configuration, read from the environment (names as in DESIGN.md)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


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
    port: int = Field(default=3000, ge=0, le=65535)
    kubeconfig: Path | None = None
    data_dir: Path | None = Field(
        default=None,
        description="Where the embedded Redis and PostgreSQL keep their data.",
        validation_alias="BACKLOG_BOT_DATA_DIR",
    )
    sample_interval_seconds: float = Field(
        default=15.0, gt=0, validation_alias="BACKLOG_BOT_SAMPLE_INTERVAL"
    )
    log_level: str = Field(default="INFO", validation_alias="LOG_LEVEL")

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
