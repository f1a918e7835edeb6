"""Block and action ids: the only names Slack sends back to us."""

from enum import StrEnum


class ActionId(StrEnum):
    APPROVE = "backlog_approve"
    DENY = "backlog_deny"
    ACK = "backlog_ack"
    ALERT_SCALE = "backlog_alert_scale"
    ALERT_STATUS = "backlog_alert_status"
    ALERT_DIAGNOSE = "backlog_alert_diagnose"
    RESOLVE = "backlog_resolve"  # offered when PagerDuty says its incident was resolved


class BlockId(StrEnum):
    APPROVAL_BUTTONS = "backlog_approval_buttons"
    ALERT_BUTTONS = "backlog_alert_buttons"
    PAGERDUTY_RESOLVED = "backlog_pagerduty_resolved"
