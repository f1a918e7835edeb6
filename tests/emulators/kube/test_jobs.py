"""Jobs on the Kubernetes emulator: create, conflict, completion, deletion, validation
and failure."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from bot.emulators.kube_api import (
    KubeEmulator,
)
from tests.emulators.kube.support import (
    NS,
    batch_api,
    core_api,
    status_of,
)

# --- jobs -----------------------------------------------------------------------------


def drain_job(name: str = "emergency-queue-drain", image: str | None = "phishnet/worker") -> Any:
    container: dict[str, Any] = {
        "name": "emergency-processor",
        "command": ["python", "-m", "app.workers.emergency_processor"],
    }
    if image is not None:
        container["image"] = image
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "backoffLimit": 3,
            "template": {"spec": {"containers": [container], "restartPolicy": "Never"}},
        },
    }


def test_jobs_create_conflict_complete_and_delete(
    emulator: KubeEmulator, api: client.ApiClient
) -> None:
    batch = batch_api(api)
    core = core_api(api)
    created = batch.create_namespaced_job(NS, drain_job())
    assert created.metadata.uid
    assert created.status is None or created.status.active is None

    with pytest.raises(ApiException) as info:
        batch.create_namespaced_job(NS, drain_job())
    assert info.value.status == 409
    assert status_of(info.value)["reason"] == "AlreadyExists"
    assert status_of(info.value)["message"] == 'jobs.batch "emergency-queue-drain" already exists'

    running = batch.read_namespaced_job_status("emergency-queue-drain", NS)
    assert running.status.active == 1 and running.status.succeeded is None
    pods = core.list_namespaced_pod(NS, label_selector="job-name=emergency-queue-drain").items
    assert len(pods) == 1

    emulator.complete_job(NS, "emergency-queue-drain")
    done = batch.read_namespaced_job("emergency-queue-drain", NS)
    assert done.status.succeeded == 1 and done.status.active is None
    assert any(c.type == "Complete" and c.status == "True" for c in done.status.conditions)

    result = batch.delete_namespaced_job(
        "emergency-queue-drain", NS, propagation_policy="Background"
    )
    assert result["status"] == "Success"  # the v37 client returns delete Status as a dict
    assert result["details"]["kind"] == "jobs"
    assert core.list_namespaced_pod(NS, label_selector="job-name=emergency-queue-drain").items == []
    with pytest.raises(ApiException) as info:
        batch.read_namespaced_job("emergency-queue-drain", NS)
    assert info.value.status == 404


def test_job_validation_and_failure(emulator: KubeEmulator, api: client.ApiClient) -> None:
    batch = batch_api(api)
    with pytest.raises(ApiException) as info:
        batch.create_namespaced_job(NS, drain_job("no-image", image=None))
    assert info.value.status == 422
    assert status_of(info.value)["message"] == (
        'Job.batch "no-image" is invalid: spec.template.spec.containers[0].image: Required value'
    )
    emulator.fail_jobs = True
    emulator.job_duration = 0
    batch.create_namespaced_job(NS, drain_job("doomed"))
    failed = batch.read_namespaced_job("doomed", NS)
    assert failed.status.failed == 4
    assert [c.reason for c in failed.status.conditions if c.type == "Failed"] == [
        "BackoffLimitExceeded"
    ]
