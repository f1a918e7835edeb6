"""PostgreSQL store against the real server: migrations, one incident, one execution."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg

from bot.adapters.store import Store, migrate
from bot.adapters.store.migrate import available
from bot.domain.approvals import judge_approval
from bot.domain.models import ActionRequest, ActionState, EventKind
from bot.domain.playbook import ActionKind, ActionPolicy, Severity

T0 = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


async def test_migrations_are_idempotent_and_safe_concurrently(postgres_server_url):
    name = f"bb_mig_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(postgres_server_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        from tests.conftest import _with_database

        url = _with_database(postgres_server_url, name)
        results = await asyncio.gather(*(migrate(url) for _ in range(4)))
        every = len(available())
        assert sorted(len(r) for r in results) == [0, 0, 0, every]  # applied once, by one caller
        assert await migrate(url) == []
        conn = await asyncpg.connect(url)
        tables = {
            r["tablename"]
            for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname='public'")
        }
        await conn.close()
        assert {
            "incidents",
            "timeline_events",
            "action_requests",
            "approvals",
            "audit_log",
        } <= tables
    finally:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


async def _open(store: Store, depth: int = 1500):
    return await store.open_incident(
        playbook="phishnet",
        title="Backlog",
        severity=Severity.WARNING,
        rule="EmailQueueBacklog",
        queue="email_processing_queue",
        depth=depth,
        at=T0,
    )


async def test_one_open_incident_per_playbook_even_when_raced(store, migrated_database):
    other = await Store.connect(migrated_database)
    try:
        results = await asyncio.gather(*(_open(s) for s in [store, other] * 3))
    finally:
        await other.close()
    assert sum(created for _, created in results) == 1
    assert len({incident.id for incident, _ in results}) == 1
    incident = results[0][0]
    assert await store.resolve_incident(incident.id, "UALICE", T0 + timedelta(hours=1))
    assert not await store.resolve_incident(incident.id, "UBOB", T0 + timedelta(hours=1))
    new, created = await _open(store)
    assert created and new.id != incident.id


async def test_peak_only_goes_up(store):
    incident, _ = await _open(store, depth=1500)
    assert await store.record_peak(incident.id, "email_processing_queue", 2500, T0)
    assert not await store.record_peak(incident.id, "email_processing_queue", 2000, T0)
    refreshed = await store.get_incident(incident.id)
    assert (refreshed.peak_depth, refreshed.peak_queue) == (2500, "email_processing_queue")


async def test_concurrent_approvals_execute_exactly_once(store, migrated_database):
    incident, _ = await _open(store)
    request = ActionRequest(
        id=uuid.uuid4(),
        incident_id=incident.id,
        kind=ActionKind.SCALE,
        params={"deployment": "phishnet-worker-email", "replicas": 6},
        summary="Scale",
        requested_by="UALICE",
        requested_at=T0,
        expires_at=T0 + timedelta(minutes=30),
        state=ActionState.PENDING,
    )
    await store.create_action_request(request)
    policy = ActionPolicy(approvers=("sre",), approvals_required=1)
    eligible = {"UBOB", "UCAROL"}
    replica_b = await Store.connect(migrated_database)

    async def click(s: Store, user: str):
        return await s.approve(
            request.id, user, T0, lambda r: judge_approval(r, policy, user, eligible, T0)
        )

    try:
        outcomes = await asyncio.gather(
            click(store, "UBOB"), click(replica_b, "UCAROL"), click(store, "UBOB")
        )
    finally:
        await replica_b.close()
    verdicts = sorted(decision.verdict.value for decision, _ in outcomes)
    assert verdicts == ["complete", "rejected", "rejected"]
    final = await store.get_action_request(request.id)
    assert final.state is ActionState.EXECUTING and len(final.approvals) == 1
    done = await store.finish_action(
        request.id, state=ActionState.SUCCEEDED, at=T0, result={"replicas": 6}
    )
    assert done.state is ActionState.SUCCEEDED and done.result == {"replicas": 6}
    # a late second finish cannot overwrite the outcome
    again = await store.finish_action(request.id, state=ActionState.FAILED, at=T0, error="x")
    assert again.state is ActionState.SUCCEEDED


async def test_timeline_and_audit_are_kept_in_order(store):
    incident, _ = await _open(store)
    await store.add_event(incident.id, at=T0, kind=EventKind.DETECTED, text="fired")
    await store.add_event(
        incident.id, at=T0 + timedelta(minutes=1), kind=EventKind.NOTE, actor="UA", text="n"
    )
    assert [e.kind for e in await store.timeline(incident.id)] == [
        EventKind.DETECTED,
        EventKind.NOTE,
    ]
    await store.audit(at=T0, actor="UA", action="scale", target="d", outcome="requested")
    assert (await store.audit_entries())[0]["outcome"] == "requested"
