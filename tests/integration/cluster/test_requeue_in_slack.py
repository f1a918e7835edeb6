"""/backlog requeue on a Redis Cluster, as the people in the channel see it.

The whole bot runs against the three-master cluster (``REDIS_URL=redis+cluster://…``)
with PhishNet's own key names, which are in different hash slots: the approval
request says the requeue is not atomic, what may happen, and the hash-tag fix; the
requeue then moves every stuck id, and its outcome says it was journaled.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.adapters.queues.cluster import RedisClient
from bot.adapters.slack.ids import ActionId
from tests.integration.cluster.helpers import (
    ClusterKeys,
    assert_each_id_once,
    make_jobs,
    needs_cluster,
    seed,
)
from tests.integration.conftest import MakeSandbox
from tests.redis_servers import PrivateCluster

pytestmark = needs_cluster

PHISHNET = ClusterKeys("processing_jobs", "email_processing_queue", "heartbeat:{job_id}")


@pytest.fixture
async def phishnet_keys(cluster_client: RedisClient) -> AsyncIterator[ClusterKeys]:
    """PhishNet's fixed names on the shared test cluster, deleted afterwards."""
    yield PHISHNET
    untyped: Any = cluster_client
    async for key in untyped.scan_iter(match="heartbeat:*"):
        await untyped.delete(key)
    await untyped.delete(PHISHNET.processing, PHISHNET.queue)


async def test_the_approval_request_states_the_weaker_guarantee_and_the_fix(
    redis_cluster: PrivateCluster,
    cluster_client: RedisClient,
    phishnet_keys: ClusterKeys,
    make_sandbox: MakeSandbox,
) -> None:
    jobs = make_jobs(fresh=10, stale=30, missing=12)
    await seed(cluster_client, phishnet_keys, jobs)
    sandbox = await make_sandbox(redis_url=redis_cluster.url())

    answer = await sandbox.command("alice", "requeue --older-than 10m")

    assert "Requeue 42 stuck jobs from `processing_jobs` onto `email_processing_queue`" in (
        answer.text
    )
    approval = sandbox.find_message(ActionId.APPROVE.value)
    assert approval is not None
    text = approval.rendered
    assert "Dry run: 42 of 52 ids in `processing_jobs` are stuck" in text
    assert (
        ":warning: Not atomic: `processing_jobs`, `heartbeat:{job_id}`, "
        "`email_processing_queue` are in different Redis Cluster hash slots" in text
    )
    assert "pushes the ids onto `email_processing_queue` *before* taking them out of" in text
    assert "no id is lost, though an id may briefly be in both places" in text
    assert "A job may run twice" in text
    assert (
        "give the three keys one hash tag: `{phishnet}:processing_jobs`, "
        "`{phishnet}:heartbeat:{job_id}`, "
        "`{phishnet}:email_processing_queue`" in text
    )

    done = await sandbox.click("bob", approval, ActionId.APPROVE.value)

    assert done.text == "Approved; the action succeeded."
    await assert_each_id_once(cluster_client, phishnet_keys, jobs.every)
    thread = [m.text for m in sandbox.slack.thread(approval.channel, approval.ts)]
    finished = next(t for t in thread if "Requeue finished" in t)
    assert "moved 42 onto `email_processing_queue`" in finished
    assert "journaled (the keys are in different Redis Cluster hash slots)" in finished
    audit = await sandbox.runtime.store.audit_entries()
    succeeded = next(e for e in audit if e["outcome"] == "succeeded")
    assert succeeded["details"]["moved"] == 42 and succeeded["details"]["mode"] == "journaled"
