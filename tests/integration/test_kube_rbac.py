"""The shipped Role grants exactly what the bot uses: every call allowed, nothing unused."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.adapters.slack.ids import ActionId
from bot.demo.sandbox import Sandbox
from bot.emulators.kube_api import (
    disallowed_requests,
    load_rules_from_role_yaml,
    unused_permissions,
)

DEPLOY = Path(__file__).parents[2] / "deploy" / "kubernetes"
NS = "phishnet"


def shipped_rules():
    return load_rules_from_role_yaml(DEPLOY / "role.yaml") + load_rules_from_role_yaml(
        DEPLOY / "clusterrole.yaml"
    )


async def approve(sandbox: Sandbox, text: str, *approvers: str) -> None:
    await sandbox.command("alice", text)
    approval = sandbox.find_message(ActionId.APPROVE.value)
    for who in approvers:
        answer = await sandbox.click(who, approval, ActionId.APPROVE.value)
    assert answer.text == "Approved; the action succeeded.", answer.text


@pytest.mark.parametrize("enforced", [False, True])
async def test_every_kubernetes_call_is_allowed_and_every_grant_used(sandbox, enforced):
    kube = sandbox.kube
    rules = shipped_rules()
    kube.add_configmap(NS, "phishnet-config", {"WORKER_CONCURRENCY": "4"})
    kube.add_node("node-1")
    kube.job_duration = 0.05
    sandbox.runtime.actions.executors.poll_seconds = 0.02
    if enforced:
        kube.rbac_rules = rules  # the emulator refuses anything else with a 403
    kube.clear_requests()

    assert "ready" in (await sandbox.command("alice", "status")).text
    await approve(sandbox, "scale phishnet-worker-email 4", "bob")
    await approve(sandbox, "restart phishnet-worker-analysis", "bob")
    await approve(sandbox, "tune phishnet-worker-email WORKER_CONCURRENCY=8", "bob")
    await approve(sandbox, "drain", "bob", "carol")
    kube.enforce_hpa = True  # the HPA scales the deployment to its new floor
    kube.add_hpa(NS, "email-hpa", "phishnet-worker-email", 2, 10, 4, 4)
    await approve(sandbox, "scale phishnet-worker-email 6", "bob")
    diagnosis = await sandbox.command("alice", "diagnose")
    assert "could not run" not in diagnosis.text, diagnosis.text

    records = kube.requests
    assert disallowed_requests(rules, records) == []
    assert unused_permissions(rules, records) == []


async def test_a_missing_grant_is_named_to_the_user(sandbox):
    rules = [r for r in shipped_rules() if "configmaps" not in r.resources]
    sandbox.kube.add_configmap(NS, "phishnet-config", {"WORKER_CONCURRENCY": "4"})
    sandbox.kube.rbac_rules = rules
    answer = await sandbox.command("alice", "tune phishnet-worker-email WORKER_CONCURRENCY=8")
    assert "The bot lacks a Kubernetes permission" in answer.text
    assert 'cannot get resource "configmaps"' in answer.text
    assert 'in the namespace "phishnet"' in answer.text
    assert "Nothing was changed" in answer.text
