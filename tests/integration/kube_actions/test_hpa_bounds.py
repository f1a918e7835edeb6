"""The remediation executors and the Kubernetes adapter, through the real client
against the Kubernetes API emulator: raising an HPA's bounds (followed to Ready,
an HPA that never acts, only the HPA in charge)."""

from __future__ import annotations

import pytest

from bot.services import remediation
from bot.services.remediation import ActionFailed
from tests.integration.kube_actions.support import (
    ANALYSIS,
    EMAIL,
    NS,
    FakeTime,
    Progress,
)


async def test_hpa_bounds_are_raised_and_the_deployment_followed_to_ready(emulator, kube, playbook):
    emulator.enforce_hpa = True  # the HPA controller acts on the new bounds
    emulator.add_hpa(NS, "email-hpa", EMAIL, 2, 10, 2, 2)
    assert await kube.hpa_for(NS, ANALYSIS) is None
    params = {"deployment": EMAIL, "replicas": 6, "hpa": "email-hpa"}
    progress = Progress()
    result = await remediation.execute_scale(
        kube,
        playbook,
        {**params, "min_replicas": 6, "max_replicas": 12},
        progress,
        polling=FakeTime().polling(),
    )
    assert result == {
        "hpa": "email-hpa",
        "min_replicas": 6,
        "max_replicas": 12,
        "min_before": 2,
        "max_before": 10,
        "replicas_before": 2,
        "replicas": 6,
        "ready": 6,
    }
    spec = emulator.get_object("horizontalpodautoscalers", NS, "email-hpa")["spec"]
    assert (spec["minReplicas"], spec["maxReplicas"]) == (6, 12)
    assert progress.lines[-1] == (
        f":arrows_counterclockwise: `{EMAIL}` runs 6 replicas, all ready (6/6 ready)"
    )


async def test_an_hpa_that_never_acts_on_its_new_bounds_is_reported(emulator, kube, playbook):
    emulator.add_hpa(NS, "email-hpa", EMAIL, 2, 10, 2, 2)  # its controller never syncs
    progress = Progress()
    params = {"deployment": EMAIL, "replicas": 6, "hpa": "email-hpa"}
    with pytest.raises(ActionFailed) as failed:
        await remediation.execute_scale(
            kube,
            playbook,
            {**params, "min_replicas": 6, "max_replicas": 10},
            progress,
            polling=FakeTime().polling(),
        )
    assert str(failed.value) == (
        "HPA `email-hpa` set to minReplicas 6, maxReplicas 10, but after 60s "
        f"`{EMAIL}` still runs 2 replicas: the HPA has not scaled it (see `kubectl describe "
        "hpa -n phishnet`)"
    )
    assert progress.lines[-1] == (
        f":arrows_counterclockwise: `{EMAIL}` runs 2 replicas: waiting for HPA `email-hpa` to "
        "scale it to 6 to 10 (it acts at its next sync)"
    )


async def test_hpa_bounds_only_on_the_hpa_in_charge_and_within_bounds(emulator, kube, playbook):
    emulator.add_hpa(NS, "email-hpa", EMAIL, 2, 10, 2, 2)
    other = {"deployment": EMAIL, "hpa": "other-hpa", "min_replicas": 3, "max_replicas": 10}
    with pytest.raises(ActionFailed, match="HPA `other-hpa` no longer manages"):
        await remediation.execute_hpa_bounds(kube, playbook, other, Progress())
    too_many = {"deployment": EMAIL, "hpa": "email-hpa", "min_replicas": 3, "max_replicas": 50}
    with pytest.raises(
        ActionFailed, match=r"no longer within the playbook's bounds .* \(1 to 20\)"
    ):
        await remediation.execute_hpa_bounds(kube, playbook, too_many, Progress())
    spec = emulator.get_object("horizontalpodautoscalers", NS, "email-hpa")["spec"]
    assert (spec["minReplicas"], spec["maxReplicas"]) == (2, 10)
