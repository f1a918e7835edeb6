"""Deployment files agree with the playbook they serve."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from prometheus_client import CollectorRegistry, generate_latest

from bot.adapters.store.metrics import BotCounts
from bot.domain.playbook import parse_duration
from bot.domain.rules import RuleBook
from bot.metrics import BotMetrics, RedisReading, families

DEPLOY = Path(__file__).parents[2] / "deploy"
PROMETHEUS = DEPLOY / "prometheus"


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


def exported_names(playbook) -> set[str]:
    """Every series name the bot's /metrics shows when Redis and PostgreSQL answer."""

    class Fixed:
        def collect(self):
            reading = RedisReading(depths={}, processing=0)
            counts = BotCounts(incidents={}, actions={}, approvals={}, pages={})
            return iter(families(playbook, reading, counts, RuleBook(playbook.rules)))

    registry = CollectorRegistry()
    registry.register(Fixed())
    # The in-process part (Slack answer times) needs no Redis or PostgreSQL.
    in_process = BotMetrics(playbook=playbook, redis=None, store=None, rules=RuleBook(()))
    registry.register(in_process.registry)
    text = generate_latest(registry).decode()
    return set(re.findall(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]", text, re.MULTILINE))


def test_grafana_dashboard_charts_what_the_bot_exports(playbook):
    dashboard = json.loads((DEPLOY / "grafana" / "backlog-bot.json").read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    metrics = {m for e in exprs for m in re.findall(r"[a-z_]+(?=\b)", e) if "_" in m}
    assert {"backlog_bot_queue_depth", "backlog_bot_rule_firing"} <= metrics
    assert {q.metric for q in playbook.queues if q.deployment} <= metrics
    ours = {m for m in metrics if m.startswith("backlog_bot_")}
    assert ours <= exported_names(playbook)  # no panel charts a name the bot never shows


def test_rules_read_only_what_is_exported_or_the_workers_counter(playbook):
    groups = yaml.safe_load((PROMETHEUS / "rules.yml").read_text())["groups"]
    exprs = " ".join(r["expr"] for group in groups for r in group["rules"])
    read = set(re.findall(r"phishnet_[a-z_]+", exprs))
    # The processed-jobs counter can only come from the workers themselves.
    assert read - exported_names(playbook) == {"phishnet_emails_processed_total"}


def test_prometheus_scrapes_the_bot_that_alertmanager_posts_to(playbook):
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    assert config["rule_files"] == ["rules.yml"]
    [job] = [j for j in config["scrape_configs"] if j["job_name"] == "backlog-bot"]
    assert job["metrics_path"] == "/metrics"
    [sd] = job["dns_sd_configs"]
    [name] = sd["names"]
    hook = urlsplit(
        yaml.safe_load((PROMETHEUS / "alertmanager.yml").read_text())["receivers"][0][
            "webhook_configs"
        ][0]["url"]
    )
    service, namespace = hook.hostname.split(".")[:2]
    assert name.split(".")[1] == namespace == playbook.namespace
    assert name.split(".")[0].startswith(service) and sd["port"] == hook.port
    assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]


needs_promtool = pytest.mark.skipif(
    shutil.which("promtool") is None or shutil.which("amtool") is None,
    reason="promtool/amtool not installed (apt-get install prometheus prometheus-alertmanager)",
)


def run(*command: str) -> str:
    done = subprocess.run(command, cwd=PROMETHEUS, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


@needs_promtool
def test_promtool_and_amtool_accept_the_shipped_files():
    assert "SUCCESS: 3 rules found" in run("promtool", "check", "config", "prometheus.yml")
    assert "SUCCESS" in run("promtool", "check", "rules", "rules.yml")
    assert "SUCCESS" in run("amtool", "check-config", "alertmanager.yml")


@needs_promtool
def test_the_runbook_rules_fire_when_promtool_says_they_should():
    assert "SUCCESS" in run("promtool", "test", "rules", "rules_test.yml")
