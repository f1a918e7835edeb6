"""The playbook: the PhishNet one is complete, broken ones say file, field and why."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from bot.cli import main
from bot.domain.playbook import ActionKind, PlaybookError, RuleKind, parse_playbook

PLAYBOOK = Path(__file__).parents[2] / "playbooks" / "queue-backlog.yml"


def test_phishnet_playbook_carries_the_runbook_names_and_numbers(playbook):
    assert playbook.namespace == "phishnet"
    assert playbook.queue_names == (
        "email_processing_queue",
        "analysis_queue",
        "notification_queue",
    )
    email = playbook.queue("email_processing_queue")
    assert email.metric == "phishnet_email_queue_size"
    assert email.deployment == "phishnet-worker-email"
    assert playbook.queue("analysis_queue").deployment == "phishnet-worker-analysis"
    assert playbook.deployments["phishnet-worker-email"].pod_selector == "component=worker"
    assert playbook.deployments["phishnet-worker-email"].max_replicas == 20
    rules = {r.name: r for r in playbook.rules}
    assert (rules["EmailQueueBacklog"].threshold, rules["EmailQueueBacklog"].for_) == (
        1000,
        timedelta(minutes=10),
    )
    assert (rules["AnalysisQueueBacklog"].threshold, rules["AnalysisQueueBacklog"].for_) == (
        500,
        timedelta(minutes=10),
    )
    stalled = rules["WorkerProcessingStalled"]
    assert stalled.kind is RuleKind.PROCESSING_STALLED
    assert stalled.for_ == timedelta(minutes=15) and stalled.severity.value == "critical"
    assert playbook.stuck_jobs.processing_set == "processing_jobs"
    assert playbook.stuck_jobs.heartbeat_key == "heartbeat:{job_id}"
    assert playbook.stuck_jobs.stuck_after == timedelta(seconds=600)
    assert set(playbook.worker_config.keys) == {
        "WORKER_CONCURRENCY",
        "WORKER_BATCH_SIZE",
        "WORKER_TIMEOUT",
    }
    drain = playbook.emergency_drain
    assert drain.env == {"EMERGENCY_MODE": "true", "SKIP_DETAILED_ANALYSIS": "true"}
    assert drain.backoff_limit == 3 and drain.image == "phishnet/worker:latest"
    assert [t.level for t in playbook.escalation.tiers] == [1, 2, 3]
    triggers = {t.kind.value: t for t in playbook.escalation.triggers}
    assert triggers["depth_above_for"].threshold == 5000
    assert triggers["depth_above_for"].for_ == timedelta(hours=2)
    assert triggers["not_resolved_after_action"].within == timedelta(hours=1)
    assert triggers["sla_delay"].max_delay == timedelta(minutes=30)
    assert "external_api_unavailable" in triggers
    assert playbook.policy(ActionKind.DRAIN).approvals_required == 2
    assert playbook.policy(ActionKind.DRAIN).requester_may_approve is False
    assert "lessons_learned" in playbook.report.sections


def _broken(edit) -> str:
    data = yaml.safe_load(PLAYBOOK.read_text())
    edit(data)
    return yaml.safe_dump(data)


def _problems(text: str) -> list[tuple[str, str]]:
    with pytest.raises(PlaybookError) as caught:
        parse_playbook(text, "broken.yml")
    assert caught.value.path == "broken.yml"
    return [(p.field, p.reason) for p in caught.value.problems]


def test_unknown_queue_in_a_rule_names_the_field():
    text = _broken(lambda d: d["rules"][1].update(queue="no_such_queue"))
    assert ("rules[1].queue", "unknown queue 'no_such_queue'") in _problems(text)


def test_bad_duration_names_the_field():
    text = _broken(lambda d: d["rules"][0].update({"for": "ten minutes"}))
    [(field, reason)] = _problems(text)
    assert field == "rules[0].for"
    assert "duration like 10m" in reason


def test_replica_bounds_inverted():
    text = _broken(lambda d: d["deployments"]["phishnet-worker-email"].update(min_replicas=30))
    [(field, reason)] = _problems(text)
    assert field == "deployments.phishnet-worker-email"
    assert "min_replicas (30) is above max_replicas (20)" in reason


def test_unknown_approver_role():
    text = _broken(lambda d: d["actions"]["scale"].update(approvers=["sre_oncall", "ghosts"]))
    assert ("actions.scale.approvers[1]", "unknown role 'ghosts'") in _problems(text)


def test_missing_section_and_typo_field():
    def edit(d):
        del d["stuck_jobs"]
        d["queues"][0]["metrik"] = d["queues"][0].pop("metric")

    problems = dict(_problems(_broken(edit)))
    assert problems["stuck_jobs"] == "Field required"
    assert problems["queues[0].metric"] == "Field required"
    assert problems["queues[0].metrik"] == "Extra inputs are not permitted"


def test_heartbeat_key_needs_placeholder():
    text = _broken(lambda d: d["stuck_jobs"].update(heartbeat_key="heartbeat:"))
    [(field, reason)] = _problems(text)
    assert field == "stuck_jobs.heartbeat_key"
    assert "{job_id}" in reason


def test_bad_kubernetes_name():
    text = _broken(lambda d: d.update(namespace="PhishNet"))
    [(field, reason)] = _problems(text)
    assert field == "namespace" and "not a Kubernetes name" in reason


def test_yaml_syntax_error_gives_the_line():
    [(field, reason)] = _problems("name: x\nqueues: [unclosed\n")
    assert field.startswith("line 3") and reason


def test_escalation_tiers_out_of_order():
    def edit(d):
        d["escalation"]["tiers"][0]["after"] = "3h"

    [(field, reason)] = _problems(_broken(edit))
    assert field == "escalation.tiers"
    assert "no earlier than the previous tier" in reason


def test_check_playbook_command_exit_codes(tmp_path, capsys):
    assert main(["check-playbook", str(PLAYBOOK)]) == 0
    assert "ok" in capsys.readouterr().out
    broken = tmp_path / "broken.yml"
    broken.write_text(
        _broken(lambda d: d["deployments"]["phishnet-worker-email"].pop("max_replicas"))
    )
    assert main(["check-playbook", str(broken)]) == 1
    err = capsys.readouterr().err
    assert f"{broken}: deployments.phishnet-worker-email.max_replicas: Field required" in err
    assert main(["check-playbook", str(tmp_path / "missing.yml")]) == 1
    assert "No such file or directory" in capsys.readouterr().err


def test_a_binary_playbook_is_one_sentence_not_a_traceback(tmp_path, capsys):
    binary = tmp_path / "bin.yml"
    binary.write_bytes(b"\x7fELF\x02\x01\x01\x00\xd0\xcf\x11\xe0")
    assert main(["check-playbook", str(binary)]) == 1
    err = capsys.readouterr().err
    assert f"{binary}: (file): not UTF-8 text (byte 0xd0 at offset 8)" in err
    assert "Traceback" not in err
