"""Every outbox message the bot writes has a key: the same key is posted once and
later edits go to the same Slack message. The keys of messages others refer to
(the alert, a request, a page…) are built here, in one place."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID


def alert_key(incident_id: int) -> str:
    return f"incident/{incident_id}/alert"


def request_key(request_id: UUID) -> str:
    return f"request/{request_id}"


def page_key(incident_id: int, level: int) -> str:
    return f"incident/{incident_id}/page/{level}"


def page_dm_key(incident_id: int, level: int, user: str) -> str:
    return f"{page_key(incident_id, level)}/dm/{user}"


def recovery_key(incident_id: int, announced_at: datetime) -> str:
    return f"incident/{incident_id}/recovered/{announced_at:%Y%m%d%H%M%S}"


def report_prompt_key(incident_id: int) -> str:
    """The report draft's summary message (the prompt for lessons, with the Finalise
    button); under ``incident/{id}/report/`` like every report message (the delivery
    hook that links the alert to the report looks there)."""
    return f"incident/{incident_id}/report/draft"


def final_report_key(incident_id: int) -> str:
    return f"incident/{incident_id}/report/final"
