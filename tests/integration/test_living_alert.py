"""The living alert over a scripted depth series: edited as samples arrive, coalesced
to the playbook's ``alert_refresh``; its state (firing → mitigating → recovering →
resolved) and the channel's topic follow; recovery is announced after the quiet
period with hysteresis, so a queue hovering at its threshold keeps one incident."""

from __future__ import annotations

from datetime import timedelta

from bot.adapters.slack.ids import ActionId
from bot.demo.sandbox import PEOPLE
from bot.emulators.slack_api import humanize

QUEUE = "email_processing_queue"
NAME = "inc-20261128-emailqueuebacklog"
BOB = PEOPLE["bob"].user_id


async def set_depth(redis_client, depth: int) -> None:
    await redis_client.delete(QUEUE)
    if depth:
        await redis_client.lpush(QUEUE, *range(depth))


async def sample(sandbox, clock, redis_client, depth: int, every=timedelta(seconds=15)) -> None:
    clock.advance(every)
    await set_depth(redis_client, depth)
    await sandbox.tick()


async def open_incident(sandbox, clock, redis_client, depth: int = 1500) -> None:
    await set_depth(redis_client, depth)
    for _ in range(11):
        await sandbox.tick()
        clock.advance(timedelta(minutes=1))


def the_alert(sandbox):
    return next(m for m in sandbox.channel_messages() if m.blocks and "Incident #1" in m.text)


def shown(sandbox, message) -> str:
    return humanize(message.rendered, sandbox.slack.workspace.directory())


async def incidents(sandbox) -> int:
    async with sandbox.runtime.store.pool.acquire() as conn:
        return int(await conn.fetchval("SELECT count(*) FROM incidents"))


async def test_alert_follows_the_depths_and_its_edits_are_coalesced(sandbox, redis_client, clock):
    # Growing 120/min from 1,100: above 1,000 from the first sample, firing at +10m.
    for minute in range(11):
        await set_depth(redis_client, 1100 + 120 * minute)
        await sandbox.tick()
        if minute < 10:
            clock.advance(timedelta(minutes=1))
    alert = the_alert(sandbox)
    assert "Firing" in alert.rendered and "2,300" in alert.rendered

    # Three minutes of samples every 15 s, still 120/min: 12 new versions of the alert.
    for step in range(1, 13):
        await sample(sandbox, clock, redis_client, 2300 + 30 * step)
    row = await sandbox.runtime.store.outbox_message("incident/1/alert")
    edits = [
        c for c in sandbox.slack.calls if c.method == "chat.update" and c.args["ts"] == alert.ts
    ]
    assert row.version >= 13  # every sample wrote its version...
    assert 4 <= len(edits) <= 7  # ...Slack saw at most one edit per 30 s (alert_refresh)
    clock.advance(timedelta(seconds=30))
    await sandbox.settle()
    now = shown(sandbox, sandbox.slack.message(alert.channel, alert.ts))
    assert (
        "`email_processing_queue`: *2,660* / 1,000 🚨 · growing 120/min, above its threshold" in now
    )
    # The one capacity model: (120 growth + 2 x 50 served + 2,660 / 10) / 50 = 9.7 → 10.
    assert "[Scale phishnet-worker-email to 10]" in now
    assert "`analysis_queue`: *0* / 500 · steady" in now

    # Scaling (the Scale button's count, from the capacity model) mitigates: said at once.
    button_alert = sandbox.find_message(ActionId.ALERT_SCALE.value)
    await sandbox.click("alice", button_alert, ActionId.ALERT_SCALE.value)
    approval = sandbox.find_message(ActionId.APPROVE.value)
    await sandbox.click("bob", approval, ActionId.APPROVE.value)
    await sample(sandbox, clock, redis_client, 2600)
    now = shown(sandbox, sandbox.slack.message(alert.channel, alert.ts))
    assert "*Mitigating*" in now
    assert "*Last action:* Scale `phishnet-worker-email` from 2 to" in now
    assert "approved by @bob, done at" in now
    assert sandbox.slack.channel(NAME).topic.value.startswith("Mitigating · EmailQueueBacklog")

    # Draining 150/min for 16 minutes: the alert says when the queue empties.
    for step in range(1, 17):
        await sample(sandbox, clock, redis_client, 2600 - 150 * step, timedelta(minutes=1))
    await sandbox.settle()
    now = shown(sandbox, sandbox.slack.message(alert.channel, alert.ts))
    assert "`email_processing_queue`: *200* / 1,000 · draining 150/min → empty in ~1m" in now
    assert "🟡 *Recovering*: every queue at or below its clear level for 4m" in now
    assert sandbox.slack.channel(NAME).topic.value.startswith("Recovering · ")


async def test_recovery_is_announced_after_the_quiet_period_with_hysteresis(
    sandbox, redis_client, clock
):
    await open_incident(sandbox, clock, redis_client)
    every = timedelta(minutes=1)

    # Hovering just under the threshold (clear only at or below 900): nothing recovers.
    for depth in [990, 1005, 950, 999, 960] * 4:
        await sample(sandbox, clock, redis_client, depth, every)
    assert not [m for m in sandbox.channel_messages() if "back under its threshold" in m.text]
    assert (await sandbox.runtime.store.get_incident(1)).clear_since is None

    # Under the clear level: announced once the quiet period (10m) has passed.
    for _ in range(9):
        await sample(sandbox, clock, redis_client, 800, every)
    assert not [m for m in sandbox.channel_messages() if "back under its threshold" in m.text]
    await sample(sandbox, clock, redis_client, 800, every)
    await sample(sandbox, clock, redis_client, 800, every)
    [recovered] = [m for m in sandbox.channel_messages() if "back under its threshold" in m.text]
    assert "every queue has been back under its threshold for 10m" in recovered.rendered
    assert "[Resolve]" in recovered.rendered
    alert = the_alert(sandbox)
    assert "Recovering" in sandbox.slack.message(alert.channel, alert.ts).rendered
    incident = await sandbox.runtime.store.get_incident(1)
    assert incident.clear_since is not None and incident.recovery_announced_at is not None

    # A relapse during the wait: the same incident goes on, the offer is withdrawn.
    await sample(sandbox, clock, redis_client, 950, every)
    withdrawn = sandbox.slack.message(recovered.channel, recovered.ts).rendered
    assert "[Resolve]" not in withdrawn
    assert "rose again to 950" in withdrawn and "the quiet period starts over" in withdrawn
    clock.advance(timedelta(minutes=1))
    await sandbox.settle()
    assert "Firing" in sandbox.slack.message(alert.channel, alert.ts).rendered
    incident = await sandbox.runtime.store.get_incident(1)
    assert (incident.clear_since, incident.recovery_announced_at, incident.is_open) == (
        None,
        None,
        True,
    )

    for _ in range(11):
        await sample(sandbox, clock, redis_client, 700, every)
    offers = [m for m in sandbox.channel_messages() if "back under its threshold" in m.text]
    assert len(offers) == 2 and "[Resolve]" in offers[-1].rendered
    resolved = await sandbox.click("alice", offers[-1], ActionId.RESOLVE.value)
    assert resolved.text == "Incident #1 resolved; report posted."
    assert (
        "Resolved by <@U0SREONCALL>"
        in sandbox.slack.message(offers[-1].channel, offers[-1].ts).rendered
    )
    assert await incidents(sandbox) == 1
    assert not sandbox.slack.channel(NAME).is_archived  # it stays open


async def test_the_bot_resolves_by_itself_after_the_longer_quiet_period(
    make_sandbox, playbook, redis_client, clock
):
    recovery = playbook.recovery.model_copy(update={"auto_resolve_after": timedelta(minutes=20)})
    sandbox = await make_sandbox(playbook=playbook.model_copy(update={"recovery": recovery}))
    await open_incident(sandbox, clock, redis_client)
    every = timedelta(minutes=1)
    for _ in range(19):
        await sample(sandbox, clock, redis_client, 100, every)
    assert (await sandbox.runtime.store.get_incident(1)).is_open
    offer = next(m for m in sandbox.channel_messages() if "back under its threshold" in m.text)
    assert "resolves it by itself at" in offer.rendered
    await sample(sandbox, clock, redis_client, 100, every)
    await sample(sandbox, clock, redis_client, 100, every)

    incident = await sandbox.runtime.store.get_incident(1)
    assert not incident.is_open and incident.resolved_by == "backlog-bot"
    assert any("Report draft, incident #1" in m.rendered for m in sandbox.channel_messages())
    alert = the_alert(sandbox)
    final = sandbox.slack.message(alert.channel, alert.ts).rendered
    assert "*Resolved* by Backlog Bot, after a quiet period" in final
    timeline = [e.text for e in await sandbox.runtime.store.timeline(1)]
    assert "Resolved by Backlog Bot: every queue under its threshold for 20m" in timeline


async def test_a_queue_hovering_at_its_threshold_keeps_one_incident(
    make_sandbox, playbook, redis_client, clock
):
    recovery = playbook.recovery.model_copy(update={"auto_resolve_after": timedelta(minutes=15)})
    sandbox = await make_sandbox(playbook=playbook.model_copy(update={"recovery": recovery}))
    await open_incident(sandbox, clock, redis_client)
    for depth in [1010, 980, 1020, 990, 995, 1001] * 10:  # an hour around 1,000
        await sample(sandbox, clock, redis_client, depth, timedelta(minutes=1))
    assert await incidents(sandbox) == 1
    assert (await sandbox.runtime.store.get_incident(1)).is_open
    assert not [m for m in sandbox.channel_messages() if "back under its threshold" in m.text]
    assert len(sandbox.incident_channels()) == 1
