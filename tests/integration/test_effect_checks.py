"""Every executed action is checked: the verdict in the action's thread, the timeline,
the stored figures the living alert and the report read, across a restart. Depths are
scripted; time is the injected clock."""

from __future__ import annotations

from datetime import timedelta

from bot.adapters.slack.ids import ActionId
from bot.demo.sandbox import Sandbox
from bot.domain.effect_text import report_line
from bot.domain.effects import Verdict
from bot.domain.models import EventKind
from bot.services.effects import EffectService
from bot.services.messages import Messages
from tests.integration.scripted import in_thread, request_id_of, run

NS, DEPLOYMENT = "phishnet", "phishnet-worker-email"
BEFORE = 15  # minutes of growth before the action: 1,200 → 4,800 at 240/min


def growing(m: float) -> float:
    return 1200 + 240 * m


async def approved(sandbox: Sandbox, text: str, *approvers: str):
    await sandbox.command("alice", text)
    approval = sandbox.find_message(ActionId.APPROVE.value)
    for who in approvers:
        answer = await sandbox.click(who, approval, ActionId.APPROVE.value)
    return approval, answer


async def test_a_scale_that_drains_the_queue_is_reported_helping(sandbox, redis_client, clock):
    await run(sandbox, redis_client, clock, BEFORE, growing)
    approval, answer = await approved(sandbox, f"scale {DEPLOYMENT} 6", "bob")
    assert answer.text == "Approved; the action succeeded."
    started = clock()

    watching = in_thread(sandbox, approval, "Effect check")
    assert watching is not None
    assert "*Watching* — Watching `email_processing_queue`" in watching.rendered
    assert "[Roll back]" in watching.rendered

    # 4,800 draining 300/min: the first verdict once 2 minutes of samples follow.
    await run(sandbox, redis_client, clock, 1.5, lambda m: 4800 - 300 * m)
    assert "*Watching*" in in_thread(sandbox, approval, "Effect check").rendered
    await run(sandbox, redis_client, clock, 1, lambda m: 4350 - 300 * m)
    first = in_thread(sandbox, approval, "Effect check").rendered
    assert ":white_check_mark: *Helping* — The consumers take 540 jobs/min more" in first
    # arrivals 240 + 2 workers x 50 = 340/min: 100/min consumed before, 640 after
    assert "• Consumer throughput: ~100/min → ~640/min (+540/min)" in first
    assert "growing 240/min → draining 300/min" in first
    assert "• Time to drain: never (not draining) → " in first
    assert f"Watching until {started + timedelta(minutes=10):%H:%M} UTC" in first

    await run(sandbox, redis_client, clock, 8, lambda m: 4050 - 300 * m)
    final = in_thread(sandbox, approval, "Effect check")
    assert "Final verdict." in final.rendered and "[Roll back]" in final.rendered
    # One message, edited: not one reply per sample.
    replies = [
        m for m in sandbox.slack.thread(approval.channel, approval.ts) if "Effect" in m.rendered
    ]
    assert len(replies) == 1

    store = sandbox.runtime.store
    incident = await store.latest_incident(sandbox.playbook.name)
    verdicts = [e for e in await store.timeline(incident.id) if e.kind is EventKind.EFFECT_VERDICT]
    scale = f"Scale `{DEPLOYMENT}` from 2 to 6 replicas (namespace `phishnet`)"
    assert [(e.text, e.data["final"]) for e in verdicts] == [
        (f"Effect (so far): helping — {scale}", False),
        (f"Effect (final): helping — {scale}", True),
    ]
    effects = sandbox.runtime.effects
    latest = await effects.latest_verdict(incident.id)
    assert latest is not None and (latest.verdict, latest.final) == (Verdict.HELPING, True)
    [effect] = await effects.action_effects(incident.id)
    assert effect.numbers.throughput_before == 100
    assert round(effect.numbers.throughput_after) == 640
    assert report_line(effect.summary, effect.verdict, effect.numbers, effect.reason).endswith(
        "throughput ~100/min → ~640/min (+540/min); time to drain never (not draining) → 6m: "
        "*helping*"
    )
    [mark] = await effects.verdict_marks(incident.id)
    assert mark.label == "scale: helping"


async def test_a_scale_whose_pods_never_become_ready_is_reported_failed(
    sandbox, redis_client, clock
):
    sandbox.kube.hold_pods(
        NS,
        DEPLOYMENT,
        "Unschedulable",
        message="0/3 nodes are available: 3 Insufficient cpu.",
        deadline_exceeded=True,
    )
    await run(sandbox, redis_client, clock, BEFORE, growing)
    approval, answer = await approved(sandbox, f"scale {DEPLOYMENT} 6", "bob")
    assert answer.text == "Approved; the action failed."
    effect = in_thread(sandbox, approval, "Effect check").rendered
    assert ":x: *Failed* — The action failed, so its effect was not measured: " in effect
    assert "Pending, not scheduled: 0/3 nodes are available: 3 Insufficient cpu." in effect
    assert "Consumer throughput" not in effect  # the queue is not judged
    assert "[Roll back]" in effect  # the scale was made: it can be undone

    check = await sandbox.runtime.store.effect_check(request_id_of(approval))
    assert (check.verdict, check.final) == (Verdict.FAILED, True)
    await run(sandbox, redis_client, clock, 3, lambda m: 4800 + 240 * m)
    assert in_thread(sandbox, approval, "Effect check").rendered == effect  # said once


async def test_a_restart_that_changes_nothing_is_no_effect_and_resumes_after_a_restart(
    make_sandbox, redis_client, clock
):
    sandbox = await make_sandbox()
    await run(sandbox, redis_client, clock, BEFORE, growing)
    approval, answer = await approved(sandbox, f"restart {DEPLOYMENT}", "bob")
    assert answer.text == "Approved; the action succeeded."
    await run(sandbox, redis_client, clock, 3, lambda m: 4800 + 240 * m)
    assert "*No effect*" in in_thread(sandbox, approval, "Effect check").rendered

    # The bot restarts: the check is in PostgreSQL, and a new process finishes it.
    runtime = sandbox.runtime
    fresh = EffectService(
        store=runtime.store,
        kube=runtime.kube,
        messages=Messages(clock),
        playbook=sandbox.playbook,
        clock=clock,
    )
    runtime.monitor.after_sample[:] = [fresh.on_sample]
    await run(sandbox, redis_client, clock, 7.5, lambda m: 5520 + 240 * m)
    final = in_thread(sandbox, approval, "Effect check").rendered
    assert ":heavy_minus_sign: *No effect* — The consumers' throughput changed by" in final
    assert "Final verdict." in final
    assert "[Roll back]" not in final  # a restart has nothing to put back
