"""Block and action ids: the only names Slack sends back to us, and the values buttons
carry (an id and nothing trusted: everything else is reloaded when clicked)."""

from __future__ import annotations

from enum import StrEnum


class ActionId(StrEnum):
    APPROVE = "backlog_approve"
    DENY = "backlog_deny"
    ACK = "backlog_ack"
    ALERT_SCALE = "backlog_alert_scale"
    ALERT_STATUS = "backlog_alert_status"
    ALERT_DIAGNOSE = "backlog_alert_diagnose"
    # Offered on recovery, and when PagerDuty says its incident was resolved.
    RESOLVE = "backlog_resolve"
    ARCHIVE = "backlog_archive"
    FINALISE_REPORT = "backlog_finalise_report"
    # Issue 12: on an effect check (value: the original request's id) and on a
    # drain's count (value: the drain request's id).
    ROLL_BACK = "backlog_roll_back"
    REANALYSE = "backlog_reanalyse"


class BlockId(StrEnum):
    APPROVAL_BUTTONS = "backlog_approval_buttons"
    ALERT_BUTTONS = "backlog_alert_buttons"
    PAGERDUTY_RESOLVED = "backlog_pagerduty_resolved"
    PAGE_BUTTONS = "backlog_page_buttons"
    RECOVERY_BUTTONS = "backlog_recovery_buttons"
    CLOSING_BUTTONS = "backlog_closing_buttons"
    REPORT_BUTTONS = "backlog_report_buttons"

    EFFECT_BUTTONS = "backlog_effect_buttons"
    DRAIN_RECOVERY_BUTTONS = "backlog_drain_recovery_buttons"


def incident_value(incident_id: int, *parts: str) -> str:
    """A button value naming its incident: ``"7"``, ``"7:phishnet-worker-email:9"``."""
    return ":".join([str(incident_id), *parts])


def parse_incident_value(value: str) -> tuple[int | None, list[str]]:
    """The incident a button names and the rest of its value. Buttons posted before
    values named their incident (``"ack"``, ``"deployment:6"``) give None: they mean
    the open incident."""
    first, _, rest = value.partition(":")
    if first.isdigit():
        return int(first), rest.split(":") if rest else []
    return None, value.split(":") if value else []
