"""The playbook's ``slack`` and ``recovery`` sections: where an incident lives in Slack,
who is brought in, and when a backlog counts as over.

``slack.announcement_channel`` is where every incident is announced (``incident_channel``
is its older name, still read). With ``incident_channels.mode: per_incident`` (the
default) each incident gets a channel of its own, named from ``incident_channels.name``;
``fixed`` keeps everything in the announcement channel.
"""

from __future__ import annotations

import re
import string
from datetime import timedelta
from enum import StrEnum
from typing import Any

from pydantic import AliasChoices, Field, ValidationInfo, field_validator, model_validator

from bot.domain.durations import Duration
from bot.domain.playbook_types import PlaybookModel

#: What a channel name template may use, e.g. ``inc-{date}-{rule}``.
NAME_PLACEHOLDERS = ("date", "time", "rule", "queue", "severity", "id", "playbook")
_URL = re.compile(r"^https?://[^\s<>|]+$")


class ChannelMode(StrEnum):
    PER_INCIDENT = "per_incident"
    FIXED = "fixed"


class IncidentChannels(PlaybookModel):
    """A channel per incident (``conversations.create``), or the fixed mode of one channel.

    ``name`` is a template of :data:`NAME_PLACEHOLDERS` made into a valid Slack name
    (lowercase letters, digits, ``-`` and ``_``, at most 80 characters; Slack's
    ``conversations.create`` reference); ``{date}`` is ``YYYYMMDD`` and ``{time}``
    ``HHMM`` of the detection, in UTC. ``invite_roles`` are invited when the
    channel is created (each escalation tier's roles when it is paged).
    """

    mode: ChannelMode = Field(
        default=ChannelMode.PER_INCIDENT,
        description="per_incident: a channel per incident; fixed: all in the announcement channel",
    )
    name: str = Field(default="inc-{date}-{rule}", min_length=1, max_length=200)
    private: bool = Field(default=False, description="create private channels")
    invite_roles: tuple[str, ...] = Field(
        default=(), description="role names invited when the channel is created"
    )
    runbook_url: str | None = Field(default=None, description="bookmarked in the channel")

    @field_validator("name")
    @classmethod
    def _template(cls, value: str) -> str:
        try:
            fields = [f for _, f, _, _ in string.Formatter().parse(value) if f is not None]
        except ValueError as exc:
            raise ValueError(f"{value!r} is not a valid template ({exc})") from exc
        unknown = [f for f in fields if f not in NAME_PLACEHOLDERS]
        if unknown:
            known = ", ".join("{" + p + "}" for p in NAME_PLACEHOLDERS)
            raise ValueError(f"unknown placeholder {{{unknown[0]}}} (use {known})")
        if not fields and not re.search(r"[a-z0-9]", value.lower()):
            raise ValueError("must contain a letter, a digit or a placeholder")
        return value

    @field_validator("runbook_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not _URL.match(value):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value


class SlackSettings(PlaybookModel):
    """Where incidents are said. ``alert_refresh``: the shortest time between two edits
    of a living alert driven by new samples (state changes are shown at once)."""

    announcement_channel: str = Field(
        min_length=2,
        description="Channel id (C…) or #name",
        validation_alias=AliasChoices("announcement_channel", "incident_channel"),
    )
    incident_channels: IncidentChannels = IncidentChannels()
    alert_refresh: Duration = Field(
        default=timedelta(seconds=30),
        ge=timedelta(seconds=5),
        le=timedelta(minutes=30),
    )

    @model_validator(mode="before")
    @classmethod
    def _one_name(cls, data: Any) -> Any:
        if isinstance(data, dict) and "announcement_channel" in data and "incident_channel" in data:
            raise ValueError(
                "give announcement_channel or its older name incident_channel, not both"
            )
        return data

    @property
    def incident_channel(self) -> str:
        """The announcement channel, by its older name."""
        return self.announcement_channel

    @property
    def per_incident(self) -> bool:
        return self.incident_channels.mode is ChannelMode.PER_INCIDENT


class Recovery(PlaybookModel):
    """When a backlog is over (see :mod:`bot.domain.alert_state`).

    Every depth rule's queue must stay at or below ``threshold * (1 - hysteresis)``
    for ``quiet_period`` before recovery is announced (with a Resolve button); a
    sample above that level restarts the wait and the incident goes on. With
    ``auto_resolve_after`` (at least the quiet period) the bot resolves the incident
    itself after that long below.
    """

    quiet_period: Duration = Field(
        default=timedelta(minutes=10),
        ge=timedelta(0),
        description="how long every depth rule's queue stays low before recovery is offered",
    )
    auto_resolve_after: Duration | None = Field(
        default=None, description="unset: a person resolves (the Resolve button)"
    )
    hysteresis: float = Field(
        default=0.1,
        ge=0.0,
        lt=1.0,
        description="the fraction below the threshold that counts as low",
    )

    @field_validator("auto_resolve_after")
    @classmethod
    def _after_quiet(cls, value: timedelta | None, info: ValidationInfo) -> timedelta | None:
        quiet = info.data.get("quiet_period")
        if value is not None and isinstance(quiet, timedelta) and value < quiet:
            raise ValueError(
                f"{format_seconds(value)} is shorter than quiet_period ({format_seconds(quiet)})"
            )
        return value


def format_seconds(delta: timedelta) -> str:
    """``600s`` → ``10m``: a duration as the playbook writes it."""
    seconds = int(delta.total_seconds())
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
