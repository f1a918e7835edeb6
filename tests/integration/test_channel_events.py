"""Events from the incident channel, delivered by the Slack emulator as Slack delivers
them (signed HTTP after ``url_verification``, or Socket Mode; retries with
``X-Slack-Retry-Num``): stored by ``event_id``, acknowledged at once, processed once,
and never dropped when the first delivery was not processed."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.adapters.slack.channel_events import SUBSCRIBED_EVENTS
from bot.demo.sandbox import INCIDENT_CHANNEL_ID as CH
from bot.demo.sandbox import PEOPLE, Sandbox
from bot.web import start_socket_mode

ALICE = PEOPLE["alice"].user_id
BOB = PEOPLE["bob"].user_id
NEVER = (3600.0,)  # Slack's automatic retry does not come during the test


async def open_incident(box: Sandbox, redis_client, clock) -> str:
    """Opens an incident; returns its channel (the people below have joined it)."""
    await redis_client.lpush("email_processing_queue", *range(1500))
    for _ in range(11):  # the rule fires after 10 minutes above 1,000
        await box.tick()
        clock.advance(timedelta(minutes=1))
    channel = await box.incident_channel()
    assert channel is not None
    for user in (ALICE, BOB):
        if not box.slack.workspace.is_member(channel, user):
            box.slack.people.join(user, channel)
    await box.events_settled()  # what the joins published is delivered
    return channel


async def recorded(box: Sandbox, clock, channel: str | None = None) -> dict[str, object]:
    """What the bot recorded of the incident's channel, by message text."""
    channel = channel or await box.incident_channel() or CH
    messages = await box.runtime.store.channel_record(
        channel, clock() - timedelta(hours=2), clock() + timedelta(hours=1)
    )
    return {m.text or m.ts: m for m in messages}


async def test_events_are_acked_at_once_and_a_retry_of_a_processed_one_is_skipped(
    make_sandbox, redis_client, clock
):
    box = await make_sandbox(events=True, event_retry_delays=NEVER)
    ch = await open_incident(box, redis_client, clock)
    people = box.slack.people
    message = people.post(ALICE, ch, "consumer lag on the analysis workers too")
    people.react(BOB, ch, message.ts, "pushpin")
    await box.events_settled()

    deliveries = box.slack.events.deliveries
    assert {d.event["type"] for d in deliveries} >= {"message", "reaction_added"}
    for delivery in deliveries:  # each answered 200 within the ack timeout, first time
        assert [(a.retry_num, a.outcome, a.status) for a in delivery.attempts] == [(0, "ok", 200)]
    [reaction] = box.slack.events.delivered("reaction_added")
    row = await box.runtime.store.slack_event_state(reaction.event_id)
    assert (row["deliveries"], row["attempts"]) == (1, 1) and row["processed_at"] is not None

    people.unreact(BOB, ch, message.ts, "pushpin")  # the 📌 is gone...
    await box.events_settled()
    retry = await box.slack.events.redeliver(reaction.event_id)  # ...and Slack retries its add
    await box.events_settled()
    assert (retry.retry_num, retry.outcome, retry.status) == (1, "ok", 200)
    row = await box.runtime.store.slack_event_state(reaction.event_id)
    assert (row["deliveries"], row["attempts"]) == (2, 1)  # received twice, processed once
    seen = (await recorded(box, clock))["consumer lag on the analysis workers too"]
    assert seen.reactions == {}  # the old add was not applied again over the removal

    # The bot's own messages (the alert, its chart) are not a person's: not recorded.
    assert all(
        m.user != box.slack.workspace.bot_user_id for m in (await recorded(box, clock)).values()
    )


async def test_a_lost_first_delivery_is_processed_from_slacks_retry(
    make_sandbox, redis_client, clock
):
    box = await make_sandbox(events=True, event_retry_delays=(0.0,))
    ch = await open_incident(box, redis_client, clock)
    box.slack.events.lose_next()  # the network loses the first try of the next event
    message = box.slack.people.post(ALICE, ch, "restarting the analysis workers")
    box.slack.people.pin(BOB, ch, message.ts)
    await box.events_settled()

    posted = [d for d in box.slack.events.delivered("message") if d.event.get("ts") == message.ts]
    [delivery] = posted
    assert [(a.retry_num, a.sent, a.outcome) for a in delivery.attempts] == [
        (0, False, "http_timeout"),
        (1, True, "ok"),
    ]
    row = await box.runtime.store.slack_event_state(delivery.event_id)
    assert row["processed_at"] is not None and row["attempts"] == 1
    seen = (await recorded(box, clock))["restarting the analysis workers"]
    assert seen.pinned and seen.pinned_by == BOB and seen.user == ALICE


async def test_a_retry_of_an_event_stored_but_never_processed_is_processed(
    make_sandbox, redis_client, clock
):
    """The first delivery reached a replica that stored it and died before processing
    it (its ack never reached Slack); Slack's retry reaches this one."""
    box = await make_sandbox(events=True, event_retry_delays=())  # retries sent by hand
    ch = await open_incident(box, redis_client, clock)
    box.slack.events.lose_next()
    message = box.slack.people.post(ALICE, ch, "the 08:50 deploy doubled memory use")
    await box.events_settled()
    [delivery] = [
        d for d in box.slack.events.delivered("message") if d.event.get("ts") == message.ts
    ]
    store = box.runtime.store
    # What the dead replica left: the delivery stored on receipt, nothing processed.
    receipt = await store.receive_slack_event(
        delivery.event_id, "message", delivery.envelope, clock()
    )
    assert receipt.first and not receipt.processed
    assert "the 08:50 deploy doubled memory use" not in await recorded(box, clock)

    retry = await box.slack.events.redeliver(delivery.event_id)
    await box.events_settled()
    assert (retry.retry_num, retry.outcome) == (1, "ok")
    assert "the 08:50 deploy doubled memory use" in await recorded(box, clock)
    row = await store.slack_event_state(delivery.event_id)
    assert (row["deliveries"], row["attempts"]) == (2, 1) and row["processed_at"] is not None


async def test_an_event_left_unprocessed_with_no_retry_is_processed_by_the_sweep(
    make_sandbox, redis_client, clock
):
    box = await make_sandbox(events=True, event_retry_delays=())  # Slack gave up
    ch = await open_incident(box, redis_client, clock)
    box.slack.events.lose_next()
    message = box.slack.people.post(ALICE, ch, "queue draining now")
    await box.events_settled()
    [delivery] = [
        d for d in box.slack.events.delivered("message") if d.event.get("ts") == message.ts
    ]
    await box.runtime.store.receive_slack_event(
        delivery.event_id, "message", delivery.envelope, clock()
    )
    assert await box.runtime.channel_events.sweep() == 0  # too recent: a retry may come
    clock.advance(timedelta(minutes=1))
    assert await box.runtime.channel_events.sweep() == 1
    assert "queue draining now" in await recorded(box, clock)


async def test_messages_outside_an_incident_channel_are_acked_and_not_recorded(make_sandbox, clock):
    box = await make_sandbox(events=True)
    box.slack.people.post(ALICE, CH, "nothing is happening")  # no incident: not followed
    await box.events_settled()
    [delivery] = box.slack.events.delivered("message")
    assert delivery.acknowledged
    assert await recorded(box, clock) == {}


@pytest.fixture
async def socket_sandbox(make_sandbox):
    box = await make_sandbox(app_token="xapp-1-A0001-socket-test")
    handler = await start_socket_mode(box.runtime)
    await box.slack.socket_mode.wait_connected()
    await box.slack.events.configure(None, bot_events=SUBSCRIBED_EVENTS)
    yield box
    await handler.close_async()  # type: ignore[no-untyped-call]


async def test_events_over_socket_mode_are_processed_once(socket_sandbox, redis_client, clock):
    box = socket_sandbox
    ch = await open_incident(box, redis_client, clock)
    message = box.slack.people.post(ALICE, ch, "over the socket")
    box.slack.people.react(BOB, ch, message.ts, "pushpin")
    await box.events_settled()
    [reaction] = box.slack.events.delivered("reaction_added")
    assert reaction.transport == "socket_mode" and reaction.acknowledged
    await box.slack.events.redeliver(reaction.event_id)
    await box.events_settled()
    row = await box.runtime.store.slack_event_state(reaction.event_id)
    assert (row["deliveries"], row["attempts"]) == (2, 1)
    seen = (await recorded(box, clock))["over the socket"]
    assert seen.reactions == {"pushpin": (BOB,)}
