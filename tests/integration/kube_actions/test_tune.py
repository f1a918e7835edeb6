"""The remediation executors and the Kubernetes adapter, through the real client
against the Kubernetes API emulator: tuning the ConfigMap (conflicts retried on a
fresh read, then the readers restarted; keys outside the playbook refused)."""

from __future__ import annotations

import pytest

from bot.services import remediation
from bot.services.remediation import ActionFailed
from tests.integration.kube_actions.support import (
    ANALYSIS,
    AT,
    EMAIL,
    NS,
    RESTARTED_AT,
    FakeTime,
    Progress,
)

# ---- tune -----------------------------------------------------------------------


async def test_tune_conflict_is_retried_on_a_fresh_read_then_readers_restart(
    emulator, kube, playbook
):
    emulator.fail_next("patch", "configmaps", 409)  # someone edited it between read and write
    emulator.clear_requests()
    progress = Progress()
    result = await remediation.execute_tune(
        kube,
        playbook,
        {"changes": {"WORKER_CONCURRENCY": "8", "WORKER_BATCH_SIZE": "50"}},
        progress,
        now=AT,
        polling=FakeTime().polling(),
    )
    data = emulator.get_object("configmaps", NS, "phishnet-config")["data"]
    assert data == {"WORKER_CONCURRENCY": "8", "WORKER_BATCH_SIZE": "50", "LOG_LEVEL": "info"}
    reads = [r for r in emulator.requests if r.resource == "configmaps" and r.verb == "get"]
    assert len(reads) == 2  # the retry re-read before writing again
    assert progress.lines[0] == (
        ":gear: ConfigMap `phishnet-config` updated "
        "(WORKER_CONCURRENCY: 4 → 8, WORKER_BATCH_SIZE: (unset) → 50)"
    )
    assert result["before"] == {"WORKER_CONCURRENCY": "4", "WORKER_BATCH_SIZE": ""}
    assert set(result["rollouts"]) == {EMAIL, ANALYSIS}
    for name in (EMAIL, ANALYSIS):
        template = emulator.get_deployment(NS, name)["spec"]["template"]["metadata"]
        assert template["annotations"][RESTARTED_AT] == "2026-11-28T09:30:00Z"


@pytest.mark.parametrize(
    "changes", [{"DEBUG": "1"}, {"WORKER_CONCURRENCY": "64"}, {"WORKER_TIMEOUT": "soon"}]
)
async def test_tune_outside_the_playbook_is_refused_at_execution(emulator, kube, playbook, changes):
    with pytest.raises(ActionFailed, match="is no longer allowed by the playbook"):
        await remediation.execute_tune(kube, playbook, {"changes": changes}, Progress())
    data = emulator.get_object("configmaps", NS, "phishnet-config")["data"]
    assert data == {"WORKER_CONCURRENCY": "4", "LOG_LEVEL": "info"}
