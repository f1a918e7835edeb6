"""Alerts that arrive from outside (Prometheus through Alertmanager)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class AlertStatus(StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"


@dataclass(frozen=True)
class ExternalAlert:
    name: str
    status: AlertStatus
    starts_at: datetime
    fingerprint: str
    severity: str = ""
    summary: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str, AlertStatus]:
        """Alertmanager re-sends the same alert every repeat_interval; this names one event."""
        return (self.fingerprint, self.starts_at.isoformat(), self.status)
