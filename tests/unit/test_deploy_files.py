"""Deployment files agree with the playbook they serve."""

from __future__ import annotations

from pathlib import Path

import yaml

from bot.domain.playbook import parse_duration

DEPLOY = Path(__file__).parents[2] / "deploy"


def test_prometheus_rules_match_the_playbook(playbook):
    groups = yaml.safe_load((DEPLOY / "prometheus" / "rules.yml").read_text())["groups"]
    rules = {r["alert"]: r for group in groups for r in group["rules"]}
    assert set(rules) == {rule.name for rule in playbook.rules}
    for rule in playbook.rules:
        shipped = rules[rule.name]
        assert shipped["expr"] == rule.expr, rule.name
        assert parse_duration(shipped["for"]) == rule.for_, rule.name
        assert shipped["labels"]["severity"] == rule.severity.value, rule.name
        assert shipped["annotations"]["summary"] == rule.summary, rule.name


def test_alertmanager_posts_to_the_bot_webhook():
    config = yaml.safe_load((DEPLOY / "prometheus" / "alertmanager.yml").read_text())
    [receiver] = config["receivers"]
    [hook] = receiver["webhook_configs"]
    assert hook["url"].endswith("/alertmanager") and hook["send_resolved"] is True
    assert hook["http_config"]["authorization"]["type"] == "Bearer"


def test_rbac_names_the_playbook_objects(playbook):
    role = yaml.safe_load((DEPLOY / "kubernetes" / "role.yaml").read_text())
    assert role["metadata"]["namespace"] == playbook.namespace
    named = {n for rule in role["rules"] for n in rule.get("resourceNames", [])}
    assert named == set(playbook.deployments) | {playbook.worker_config.configmap}


def test_grafana_dashboard_charts_what_the_bot_exports(playbook):
    import json
    import re

    dashboard = json.loads((DEPLOY / "grafana" / "backlog-bot.json").read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    metrics = {m for e in exprs for m in re.findall(r"[a-z_]+(?=\b)", e) if "_" in m}
    assert {"backlog_bot_queue_depth", "backlog_bot_rule_firing"} <= metrics
    assert {q.metric for q in playbook.queues if q.deployment} <= metrics
