"""Paging outside Slack: PagerDuty Events API v2 out, PagerDuty v3 webhooks in, and a
generic Opsgenie-style webhook out.

Out::

    key = routing_key(tier.pagerduty)                 # from the env var the playbook names
    page = PageContent.for_incident(incident, namespace=..., depths=..., why=...)
    async with PagerDutyEvents(settings.pagerduty_events_url) as pd:
        outcome = await pd.trigger(key, page)         # Accepted | Rejected | RetryLater
        ...   = await pd.acknowledge(key, page.dedup_key) / pd.resolve(key, page.dedup_key)

In: ``pagerduty_webhook_handler(secret, on_event)`` is an aiohttp handler; ``on_event``
gets a :class:`PagerDutyEvent` whose ``incident`` names our incident.
"""

from bot.adapters.pagerduty.alert import (
    PageContent,
    PagerSeverity,
    channel_link,
    pager_severity,
    trigger_event,
)
from bot.adapters.pagerduty.events import DEFAULT_EVENTS_URL, PagerDutyEvents
from bot.adapters.pagerduty.generic import PagingWebhook, webhook_body
from bot.adapters.pagerduty.outcome import (
    Accepted,
    EventAction,
    Outcome,
    Rejected,
    RetryLater,
    classify,
    retry_delay,
)
from bot.adapters.pagerduty.secrets import (
    HookUrl,
    PagingNotConfigured,
    RoutingKey,
    hook_url,
    routing_key,
)
from bot.adapters.pagerduty.webhooks import (
    SIGNATURE_HEADER,
    IgnoredEvent,
    PagerDutyAgent,
    PagerDutyEvent,
    PagerDutyEventType,
    WebhookPayloadError,
    pagerduty_webhook_handler,
    parse_event,
    verify_signature,
)

__all__ = [
    "DEFAULT_EVENTS_URL",
    "SIGNATURE_HEADER",
    "Accepted",
    "EventAction",
    "HookUrl",
    "IgnoredEvent",
    "Outcome",
    "PageContent",
    "PagerDutyAgent",
    "PagerDutyEvent",
    "PagerDutyEventType",
    "PagerDutyEvents",
    "PagerSeverity",
    "PagingNotConfigured",
    "PagingWebhook",
    "Rejected",
    "RetryLater",
    "RoutingKey",
    "WebhookPayloadError",
    "channel_link",
    "classify",
    "hook_url",
    "pager_severity",
    "pagerduty_webhook_handler",
    "parse_event",
    "retry_delay",
    "routing_key",
    "trigger_event",
    "verify_signature",
    "webhook_body",
]
