"""The Alertmanager webhook (payload version 4), translated into domain alerts."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.domain.alerts import AlertStatus, ExternalAlert


class PayloadError(ValueError):
    """A webhook body we cannot use; ``str()`` says why (for the HTTP 400 body)."""


class _Alert(BaseModel):
    model_config = ConfigDict(extra="ignore")

    status: AlertStatus
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: datetime
    fingerprint: str = ""


class _Webhook(BaseModel):
    model_config = ConfigDict(extra="ignore")

    version: str
    alerts: list[_Alert]
    truncatedAlerts: int = 0


@dataclass(frozen=True)
class Notification:
    """One webhook call: its alerts, and how many Alertmanager left out (``max_alerts``)."""

    alerts: list[ExternalAlert]
    truncated: int = 0


def parse_webhook(body: bytes) -> Notification:
    try:
        payload = _Webhook.model_validate_json(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise PayloadError(f"{where}: {first['msg']}") from exc
    if payload.version != "4":
        raise PayloadError(f"unsupported webhook version {payload.version!r} (expected '4')")
    alerts = [_translate(alert) for alert in payload.alerts if "alertname" in alert.labels]
    return Notification(alerts, max(0, payload.truncatedAlerts))


def _translate(alert: _Alert) -> ExternalAlert:
    fingerprint = (
        alert.fingerprint
        or hashlib.sha256(repr(sorted(alert.labels.items())).encode()).hexdigest()[:16]
    )
    return ExternalAlert(
        name=alert.labels["alertname"],
        status=alert.status,
        starts_at=alert.startsAt,
        fingerprint=fingerprint,
        severity=alert.labels.get("severity", ""),
        summary=alert.annotations.get("summary", ""),
        labels=alert.labels,
    )
