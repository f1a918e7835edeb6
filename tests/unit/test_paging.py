"""Paging outside Slack, the pure parts: playbook fields, dedup keys, what a page says,
secrets read from the environment."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from bot import logs
from bot.adapters.pagerduty import (
    EventAction,
    PageContent,
    PagerSeverity,
    PagingNotConfigured,
    hook_url,
    pager_severity,
    routing_key,
    trigger_event,
    webhook_body,
)
from bot.adapters.pagerduty.alert import MAX_EVENT_BYTES
from bot.domain.models import Incident, IncidentState
from bot.domain.paging import (
    IncidentKey,
    PagerDutyTarget,
    WebhookTarget,
    incident_dedup_key,
    parse_incident_dedup_key,
    tier_targets,
)
from bot.domain.playbook import PlaybookError, Severity, parse_playbook
from bot.settings import Settings

PLAYBOOK = Path(__file__).parents[2] / "playbooks" / "queue-backlog.yml"
KEY_L1 = "0123456789abcdef0123456789abcdef"
NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


def _incident(**changes: object) -> Incident:
    fields: dict[str, object] = {
        "id": 42,
        "playbook": "phishnet-queue-backlog",
        "title": "Large email queue backlog detected",
        "severity": Severity.WARNING,
        "state": IncidentState.OPEN,
        "rule": "EmailQueueBacklog",
        "queue": "email_processing_queue",
        "detected_at": NOW - timedelta(minutes=40),
        "peak_depth": 12_400,
        "peak_queue": "email_processing_queue",
        "channel": "C0INCIDENT",
    }
    fields.update(changes)
    return Incident(**fields)  # type: ignore[arg-type]


# ------------------------------------------------------------------ the playbook


def _with(edit) -> str:
    data = yaml.safe_load(PLAYBOOK.read_text())
    edit(data)
    return yaml.safe_dump(data, sort_keys=False)


def _problems(text: str) -> list[tuple[str, str]]:
    with pytest.raises(PlaybookError) as caught:
        parse_playbook(text, "paging.yml")
    return [(p.field, p.reason) for p in caught.value.problems]


def test_the_phishnet_playbook_pages_only_in_slack(playbook):
    assert all(t.pagerduty is None and t.webhook is None for t in playbook.escalation.tiers)
    assert all(tier_targets(t, playbook.roles) == () for t in playbook.escalation.tiers)


def test_the_commented_examples_in_the_playbook_are_valid():
    # Uncomment every "# pagerduty: {…}" / "# webhook: {…}" example line in place.
    example = re.compile(r"^(\s*)# ((pagerduty|webhook): \{.*\})\s*$")
    lines = [example.sub(r"\1\2", line) for line in PLAYBOOK.read_text().splitlines()]
    playbook = parse_playbook("\n".join(lines), "examples.yml")
    tiers = {tier.level: tier for tier in playbook.escalation.tiers}
    assert tier_targets(tiers[1], playbook.roles) == (
        PagerDutyTarget(routing_key_env="PD_ROUTING_KEY_L1"),
        WebhookTarget(url_env="L1_PAGER_WEBHOOK_URL"),
    )
    assert tier_targets(tiers[2], playbook.roles) == (
        PagerDutyTarget(routing_key_env="PD_ROUTING_KEY_L2"),
    )
    # Tier 3 has no target of its own, but pages the CTO role, which has one.
    assert tier_targets(tiers[3], playbook.roles) == (
        PagerDutyTarget(routing_key_env="PD_ROUTING_KEY_CTO"),
    )


def test_a_target_shared_by_the_tier_and_its_roles_is_paged_once():
    shared = {"routing_key_env": "PD_ROUTING_KEY_LEADS"}

    def edit(d):
        d["escalation"]["tiers"][1]["pagerduty"] = shared
        d["roles"]["engineering_lead"]["pagerduty"] = shared
        d["roles"]["product_owner"]["webhook"] = {"url_env": "PO_HOOK"}

    playbook = parse_playbook(_with(edit))
    assert tier_targets(playbook.escalation.tiers[1], playbook.roles) == (
        PagerDutyTarget(routing_key_env="PD_ROUTING_KEY_LEADS"),
        WebhookTarget(url_env="PO_HOOK"),
    )


def test_a_routing_key_pasted_into_the_playbook_is_refused_naming_the_field():
    def edit(d):
        d["escalation"]["tiers"][0]["pagerduty"] = {"routing_key_env": KEY_L1}
        d["roles"]["cto"]["webhook"] = {"url_env": "https://hooks.example.com/x"}

    problems = dict(_problems(_with(edit)))
    tier_reason = problems["escalation.tiers[0].pagerduty.routing_key_env"]
    assert tier_reason.startswith(f"'{KEY_L1}' is not an environment variable name")
    assert "never the secret itself" in tier_reason
    assert "not an environment variable name" in problems["roles.cto.webhook.url_env"]


def test_paging_fields_are_checked_for_typos():
    def edit(d):
        d["escalation"]["tiers"][0]["pagerduty"] = {"routing_key": "PD_KEY"}

    problems = dict(_problems(_with(edit)))
    assert problems["escalation.tiers[0].pagerduty.routing_key_env"] == "Field required"
    assert problems["escalation.tiers[0].pagerduty.routing_key"] == (
        "Extra inputs are not permitted"
    )


# ------------------------------------------------------------------ dedup keys


def test_dedup_key_names_the_incident_and_maps_back():
    key = incident_dedup_key("phishnet-queue-backlog", 42)
    assert key == "backlog-bot/phishnet-queue-backlog/42"
    assert parse_incident_dedup_key(key) == IncidentKey("phishnet-queue-backlog", 42)
    assert parse_incident_dedup_key("srv01/mysql") is None
    assert parse_incident_dedup_key("backlog-bot/phishnet/0") is None
    assert parse_incident_dedup_key("backlog-bot/phishnet/42/extra") is None


def test_dedup_key_respects_pagerduty_length_limit():
    with pytest.raises(ValueError, match="PagerDuty allows 255"):
        incident_dedup_key("p" * 250, 1)
    with pytest.raises(ValueError, match="positive"):
        incident_dedup_key("phishnet", 0)


# ------------------------------------------------------------------ what a page says


@pytest.mark.parametrize(
    ("severity", "escalated", "expected"),
    [
        (Severity.INFO, False, PagerSeverity.INFO),
        (Severity.WARNING, False, PagerSeverity.WARNING),
        (Severity.CRITICAL, False, PagerSeverity.CRITICAL),
        (Severity.INFO, True, PagerSeverity.WARNING),
        (Severity.WARNING, True, PagerSeverity.ERROR),
        (Severity.CRITICAL, True, PagerSeverity.CRITICAL),
    ],
)
def test_severity_mapping(severity, escalated, expected):
    assert pager_severity(severity, escalated=escalated) is expected


def test_trigger_for_an_incident_carries_link_depths_and_why():
    page = PageContent.for_incident(
        _incident(),
        namespace="phishnet",
        depths={"email_processing_queue": 12_400, "analysis_queue": 80},
        why="nobody acknowledged within 30m of detection",
        tier="Senior DevOps Engineer",
    )
    event = json.loads(trigger_event(KEY_L1, page))
    assert event["routing_key"] == KEY_L1
    assert event["event_action"] == "trigger"
    assert event["dedup_key"] == "backlog-bot/phishnet-queue-backlog/42"
    assert event["payload"]["summary"] == (
        "[phishnet-queue-backlog #42] Large email queue backlog detected: "
        "email_processing_queue at 12,400 jobs (paging Senior DevOps Engineer)"
    )
    assert event["payload"]["source"] == "phishnet/email_processing_queue"
    assert event["payload"]["severity"] == "warning"
    assert event["payload"]["class"] == "EmailQueueBacklog"
    assert event["payload"]["timestamp"] == "2026-11-28T08:20:00+00:00"
    details = event["payload"]["custom_details"]
    assert details["why"] == "nobody acknowledged within 30m of detection"
    assert details["depths"] == {"email_processing_queue": 12400, "analysis_queue": 80}
    assert details["tier"] == "Senior DevOps Engineer"
    link = "https://slack.com/app_redirect?channel=C0INCIDENT"
    assert event["links"] == [{"href": link, "text": "Incident channel in Slack"}]
    assert event["client_url"] == link


def test_trigger_stays_within_pagerduty_limits():
    page = PageContent(
        dedup_key="backlog-bot/p/1",
        summary="backlog " * 500,
        source="phishnet/email_processing_queue",
        severity=PagerSeverity.CRITICAL,
        why="depth above 5,000 for 2h",
        details={"samples": ["x" * 1000] * 600},
    )
    body = trigger_event(KEY_L1, page)
    event = json.loads(body)
    assert len(event["payload"]["summary"]) == 1024
    assert event["payload"]["summary"].endswith("…")
    assert len(body) <= MAX_EVENT_BYTES
    assert event["payload"]["custom_details"] == {
        "note": "details omitted: the event passed PagerDuty's 512 KB limit",
        "why": "depth above 5,000 for 2h",
    }


def test_generic_webhook_body_is_opsgenie_shaped():
    page = PageContent.for_incident(
        _incident(severity=Severity.CRITICAL),
        namespace="phishnet",
        depths={"email_processing_queue": 12_400},
        why="x" * 20,
        channel_url="https://acme.slack.com/archives/C0INCIDENT/p1",
        tier="Engineering Team Lead + Product Owner",
    )
    body = json.loads(webhook_body(EventAction.TRIGGER, page.dedup_key, page))
    assert body["action"] == "trigger"
    assert body["alias"] == "backlog-bot/phishnet-queue-backlog/42"
    assert body["priority"] == "P1"
    assert len(body["message"]) == 130 and body["message"].endswith("…")
    assert body["description"] == page.summary + "\n\n" + "x" * 20
    assert body["entity"] == "phishnet/email_processing_queue"
    assert body["details"]["depth email_processing_queue"] == "12400"
    assert body["details"]["channel"] == "https://acme.slack.com/archives/C0INCIDENT/p1"
    assert all(isinstance(value, str) for value in body["details"].values())
    ack = json.loads(webhook_body(EventAction.ACKNOWLEDGE, page.dedup_key))
    assert ack == {"action": "acknowledge", "alias": page.dedup_key, "source": "Backlog Bot"}


# ------------------------------------------------------------------ secrets from the env


def test_routing_key_comes_from_the_named_variable_and_is_redacted():
    target = PagerDutyTarget(routing_key_env="PD_ROUTING_KEY_L1")
    key = routing_key(target, {"PD_ROUTING_KEY_L1": KEY_L1})
    assert key.value == KEY_L1
    assert KEY_L1 not in repr(key)
    assert logs.redact(f"posting {KEY_L1}") == "posting [REDACTED]"


def test_missing_or_malformed_secrets_are_said_plainly():
    target = PagerDutyTarget(routing_key_env="PD_ROUTING_KEY_L1")
    with pytest.raises(PagingNotConfigured) as missing:
        routing_key(target, {})
    assert str(missing.value) == (
        "The playbook pages PagerDuty with the secret in `PD_ROUTING_KEY_L1`, "
        "but that environment variable is not set."
    )
    with pytest.raises(PagingNotConfigured) as short:
        routing_key(target, {"PD_ROUTING_KEY_L1": "tooshort-secret"})
    assert "15 characters long" in str(short.value)
    assert "tooshort-secret" not in str(short.value)
    with pytest.raises(PagingNotConfigured, match="expected http"):
        hook_url(WebhookTarget(url_env="HOOK"), {"HOOK": "hooks.example.com/abc"})


def test_pagerduty_settings_come_from_the_environment(monkeypatch):
    monkeypatch.delenv("PAGERDUTY_EVENTS_URL", raising=False)
    assert Settings().pagerduty_events_url == "https://events.pagerduty.com/v2/enqueue"
    monkeypatch.setenv("PAGERDUTY_EVENTS_URL", "http://127.0.0.1:9/v2/enqueue")
    monkeypatch.setenv("PAGERDUTY_WEBHOOK_SECRET", "whsec-from-env")
    settings = Settings()
    assert settings.pagerduty_events_url == "http://127.0.0.1:9/v2/enqueue"
    assert settings.pagerduty_webhook_secret is not None
    assert settings.pagerduty_webhook_secret.get_secret_value() == "whsec-from-env"
    assert "whsec-from-env" not in repr(settings)
