"""Redis Cluster, the parts that need no server: the URL, hash slots, what is said."""

from __future__ import annotations

from binascii import crc_hqx

import pytest
from redis.exceptions import RedisClusterException, SlotNotCoveredError

from bot.adapters.queues.cluster import BadClusterUrl, cluster_nodes, is_cluster_url
from bot.adapters.queues.errors import RedisFault, describe
from bot.adapters.queues.keys import HeartbeatKeys, batch_marker, slot_anchor, slot_of
from bot.domain import commands
from bot.domain.actions import plan_requeue
from bot.domain.requeue import RequeueResult, StuckTally, format_requeue_result
from bot.domain.requeue_journal import (
    RecoveryOutcome,
    Removal,
    RequeueMode,
    hash_tagged,
    journaled_guarantee,
)

# --- the URL -------------------------------------------------------------------------------------


def test_a_cluster_url_names_its_seed_nodes_and_the_login() -> None:
    nodes, options = cluster_nodes(
        "redis+cluster://bot:s%40cret@10.0.0.1:7000,10.0.0.2,[fd00::3]:7002?socket_timeout=2"
    )
    assert nodes == [("10.0.0.1", 7000), ("10.0.0.2", 6379), ("fd00::3", 7002)]
    assert options == {"username": "bot", "password": "s@cret", "socket_timeout": 2.0}


def test_rediss_cluster_means_tls() -> None:
    nodes, options = cluster_nodes("rediss+cluster://redis.internal:6380/0?ssl_cert_reqs=none")
    assert nodes == [("redis.internal", 6380)]
    assert options == {"ssl": True, "ssl_cert_reqs": "none"}


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("redis+cluster://u:pw@h1:7000/3", "A Redis Cluster has only database 0"),
        ("redis+cluster://u:pw@h1:notaport", "not `host:port`"),
        ("redis+cluster://u:pw@h1:70000", "not `host:port`"),
        ("redis+cluster://u:pw@/", "names no Redis Cluster node"),
        ("redis://u:pw@h1:7000", "not a Redis Cluster URL"),
    ],
)
def test_a_bad_cluster_url_is_refused_without_repeating_it(url: str, said: str) -> None:
    with pytest.raises(BadClusterUrl) as refused:
        cluster_nodes(url)
    assert said in str(refused.value) and "pw" not in str(refused.value)


def test_only_the_cluster_schemes_mean_a_cluster() -> None:
    assert is_cluster_url("redis+cluster://h:1") and is_cluster_url("REDISS+CLUSTER://h:1")
    assert not is_cluster_url("redis://h:1/0") and not is_cluster_url("rediss://h:1/0")


# --- hash slots ----------------------------------------------------------------------------------


def test_slots_follow_the_cluster_specification() -> None:
    # The cluster specification's examples, and the slot CLUSTER KEYSLOT gives for
    # PhishNet's queue (also seen in a MOVED reply in tests/integration/test_redis_errors.py).
    assert slot_of("email_processing_queue") == 12137
    assert slot_of("{user1000}.following") == slot_of("{user1000}.followers") == slot_of("user1000")
    assert slot_of("foo{bar}{zap}") == slot_of("bar")
    assert slot_of("foo{{bar}}zap") == slot_of("{bar")
    assert slot_of("foo{}{bar}") == crc_hqx(b"foo{}{bar}", 0) % 16384  # empty tag: whole key


@pytest.mark.parametrize(
    ("template", "fixed"),
    [
        ("{phishnet}:heartbeat:{job_id}", True),
        ("hb:{phishnet}:{job_id}:at", True),
        ("heartbeat:{job_id}", False),  # the id decides
        ("{job_id}:heartbeat", False),
        ("hb{:{job_id}", False),  # the tag would close inside the id
        ("{}:heartbeat:{job_id}", False),  # an empty tag counts for nothing
    ],
)
def test_heartbeat_keys_share_a_slot_only_with_a_hash_tag_before_the_id(
    template: str, fixed: bool
) -> None:
    keys = HeartbeatKeys(template)
    slot = keys.fixed_slot
    assert (slot is not None) is fixed
    if slot is not None:
        assert {slot_of(key) for key in keys.for_ids([b"a", b"b{x}", b"\xff"])} == {slot}


@pytest.mark.parametrize(
    "queue", ["email_processing_queue", "{phishnet}:email_processing_queue", "a{}b", "q}{"]
)
def test_a_batch_marker_sits_in_its_queues_slot(queue: str) -> None:
    marker = batch_marker(queue, "0f5b")
    assert slot_of(marker) == slot_of(queue)
    assert marker.startswith(slot_anchor(queue)) and marker.endswith(":requeue-batch:0f5b")


# --- what is said --------------------------------------------------------------------------------


def test_hash_tagged_names_share_one_tag() -> None:
    names = ("processing_jobs", "{old}:heartbeat:{job_id}", "{job_id}:beat")
    assert hash_tagged(names, "phishnet") == (
        "{phishnet}:processing_jobs",
        "{phishnet}:heartbeat:{job_id}",
        "{phishnet}:{job_id}:beat",
    )
    assert len({slot_of(name.replace("{job_id}", "42")) for name in hash_tagged(names, "p")}) == 1


def _journaled_scan() -> object:
    tally = StuckTally(600, "processing_jobs", mode=RequeueMode.JOURNALED)
    tally.add(b"job-1", None, now=1_800_000_000.0)
    return tally.result()


def test_the_approval_request_of_a_journaled_requeue_states_the_guarantee(playbook) -> None:
    plan = plan_requeue(playbook, commands.Requeue(), _journaled_scan())  # type: ignore[arg-type]
    lines = journaled_guarantee(
        "processing_jobs", "heartbeat:{job_id}", "email_processing_queue", tag="phishnet"
    )
    assert plan.details[-3:] == lines
    assert lines[0].startswith(":warning: Not atomic: `processing_jobs`, `heartbeat:{job_id}`")
    assert "a job may run twice" in lines[1].lower() and "nothing requeues it" in lines[1]
    assert lines[2] == (
        "To make the requeue atomic again, give the three keys one hash tag: "
        "`{phishnet}:processing_jobs`, `{phishnet}:heartbeat:{job_id}`, "
        "`{phishnet}:email_processing_queue`."
    )


def test_an_atomic_requeue_says_nothing_about_slots(playbook) -> None:
    tally = StuckTally(600, "processing_jobs")
    tally.add(b"job-1", None, now=1_800_000_000.0)
    plan = plan_requeue(playbook, commands.Requeue(), tally.result())
    assert not any("hash tag" in line or "Not atomic" in line for line in plan.details)


def test_the_closing_line_of_a_journaled_requeue_counts_what_may_run_twice() -> None:
    result = RequeueResult(
        moved=40,
        skipped_renewed=1,
        skipped_gone=0,
        malformed=0,
        elapsed_seconds=2.0,
        target_queue="email_processing_queue",
        mode=RequeueMode.JOURNALED,
        taken_again=2,
        left_early=3,
        recovered=RecoveryOutcome(
            finished=1, abandoned=1, abandoned_ids=7, removal=Removal(removed=9)
        ),
    )
    assert format_requeue_result(result) == (
        "moved 40 onto `email_processing_queue`; 1 skipped (heartbeat renewed since the scan); "
        "0 malformed; journaled (the keys are in different Redis Cluster hash slots); "
        "2 of them also left in the set (a worker heartbeated after the push: it holds them); "
        "3 of them had left the set before the removal (finished by a worker meanwhile: they "
        "may run twice); first finished an interrupted requeue: 9 ids it had pushed taken out "
        "of the set (1 batches), 7 ids it had not pushed left in the set (1 batches); in 2.0s"
    )


def test_the_cluster_clients_own_errors_become_sentences() -> None:
    uncovered = describe(SlotNotCoveredError("Slot 12137 is not covered by the cluster."))
    assert uncovered.fault is RedisFault.CLUSTER_DOWN
    assert str(uncovered).startswith("Redis Cluster does not serve every hash slot")
    spread = describe(RedisClusterException("EVALSHA - all keys must map to the same key slot"))
    assert spread.fault is RedisFault.CROSSSLOT and "hash tag" in str(spread)
