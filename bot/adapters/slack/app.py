"""The Bolt app: thin listeners that ack, parse, call a service and answer.

Every listener acks at once and then runs inside one error boundary
(bot/adapters/slack/boundary.py), so whatever happens after the ack reaches
the person who acted as a sentence. Built by :func:`build_slack_app` at
start-up, never at import time.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_bolt.response import BoltResponse
from slack_sdk.web.async_client import AsyncWebClient

from bot.adapters.slack.boundary import Actor, Answer, guarded, reply
from bot.adapters.slack.ids import ActionId, parse_incident_value
from bot.adapters.slack.work_slots import WorkSlots

log = logging.getLogger(__name__)

# Kept for the wiring's names: a command's answer and a button's answer are Answers.
CommandAnswer = Answer
ButtonAnswer = Answer


@dataclass(frozen=True)
class CommandCall:
    text: str
    user: str
    channel: str


@dataclass(frozen=True)
class Handlers:
    """What the listeners call; the app wires these to the services."""

    command: Callable[[CommandCall], Awaitable[Answer]]
    approve: Callable[[uuid.UUID, str], Awaitable[Answer]]
    deny: Callable[[uuid.UUID, str], Awaitable[Answer]]
    # The incident's buttons (ack, status, diagnose, scale, resolve, archive); without
    # it they run as the commands they stand for.
    incident_button: Callable[[IncidentButtonCall], Awaitable[Answer]] | None = None

    # Issue 12's buttons: (earlier request id, user, channel) -> answer.
    roll_back: Callable[[uuid.UUID, str, str], Awaitable[Answer]] | None = None
    reanalyse: Callable[[uuid.UUID, str, str], Awaitable[Answer]] | None = None


@dataclass(frozen=True)
class IncidentButtonCall:
    """A click on an incident's button: what it offers, the incident its value names
    (None: an older button meaning the open incident) and the rest of the value."""

    what: str
    incident_id: int | None
    args: tuple[str, ...]
    user: str
    channel: str


Runner = Callable[[str, str], Awaitable[Answer]]  # (button value, user) -> answer

_BAD_BUTTON = "That button's request id is malformed; nothing was done."
_STALE_BUTTON = (
    "This button belongs to an older version of Backlog Bot and does nothing now; "
    "use `/backlog help` for the commands."
)


@dataclass(frozen=True)
class ChannelHandlers:
    """The incident channel's events and the report's button (wired to
    bot/services/channel_events.py and bot/services/report.py).

    ``receive`` stores an Events API delivery (the ``event_callback`` body) before it
    is acknowledged and says whether it still needs processing (False: an earlier
    delivery processed it); it raises when it cannot store it. ``process`` then
    processes it by its ``event_id``, after the ack. ``finalise`` is the *Finalise
    report* button: (incident id, user) -> the answer.
    """

    receive: Callable[[Mapping[str, Any]], Awaitable[bool]]
    process: Callable[[str], Awaitable[None]]
    finalise: Callable[[int, str], Awaitable[Answer]]


def build_slack_app(
    *,
    client: AsyncWebClient,
    signing_secret: str,
    handlers: Handlers,
    channel: ChannelHandlers | None = None,
) -> AsyncApp:
    app = AsyncApp(client=client, signing_secret=signing_secret, process_before_response=False)
    work = WorkSlots()
    app.middleware(work.middleware)
    app.middleware(_drop_slack_retries)
    app.command("/backlog")(_command_listener(handlers, work))
    # Alert buttons go through the same parser and playbook bounds as typed
    # commands; the scale button's value is "deployment:replicas".
    buttons: dict[ActionId, Callable[[dict[str, Any]], Runner]] = {
        ActionId.APPROVE: lambda _body: _by_request_id(handlers.approve),
        ActionId.DENY: lambda _body: _by_request_id(handlers.deny),
        ActionId.ACK: lambda body: _as_command(handlers, body, lambda _value: "ack"),
        ActionId.ALERT_STATUS: lambda body: _as_command(handlers, body, lambda _value: "status"),
        ActionId.ALERT_DIAGNOSE: lambda body: _as_command(
            handlers, body, lambda _value: "diagnose"
        ),
        ActionId.RESOLVE: lambda body: _as_command(handlers, body, lambda _value: "resolve"),
        ActionId.ALERT_SCALE: lambda body: _as_command(
            handlers, body, lambda value: "scale " + value.replace(":", " ")
        ),
    }
    buttons.update(_incident_buttons(handlers))
    buttons.update(_follow_up_buttons(handlers))
    for action_id, make_runner in buttons.items():
        app.action(action_id.value)(_button_listener(action_id.value, make_runner, work))
    if channel is not None:
        # Before the catch-all below: Bolt runs the first listener that matches.
        _register_channel(app, channel, work)
    # Any other button (an old message's, a forged one) is answered, not left to time out.
    known = "|".join(re.escape(a.value) for a in [*buttons, *_channel_buttons(channel)])
    app.action(re.compile(f"^(?!(?:{known})$).*"))(
        _button_listener("an unknown button", lambda _body: _stale_button, work)
    )
    app.error(_on_error)
    return app


def _incident_buttons(handlers: Handlers) -> dict[ActionId, Callable[[dict[str, Any]], Runner]]:
    """The incident's buttons: each value names its incident, reloaded before acting
    (a resolved incident's button answers so and does nothing)."""
    route = handlers.incident_button
    if route is None:
        return {}
    offers = {
        ActionId.ACK: "ack",
        ActionId.ALERT_STATUS: "status",
        ActionId.ALERT_DIAGNOSE: "diagnose",
        ActionId.ALERT_SCALE: "scale",
        ActionId.RESOLVE: "resolve",
        ActionId.ARCHIVE: "archive",
    }

    def runner(what: str) -> Callable[[dict[str, Any]], Runner]:
        def make(body: dict[str, Any]) -> Runner:
            channel = str((body.get("channel") or {}).get("id", ""))

            async def run(value: str, user: str) -> Answer:
                incident_id, args = parse_incident_value(value)
                call = IncidentButtonCall(what, incident_id, tuple(args), user, channel)
                return await route(call)

            return run

        return make

    return {action_id: runner(what) for action_id, what in offers.items()}


def _command_listener(handlers: Handlers, slots: WorkSlots) -> Callable[..., Awaitable[None]]:
    async def backlog_command(
        ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond, client: AsyncWebClient
    ) -> None:
        await ack()
        call = CommandCall(
            text=str(body.get("text", "")),
            user=str(body.get("user_id", "")),
            channel=str(body.get("channel_id", "")),
        )
        first = call.text.split(maxsplit=1)[0] if call.text.strip() else "help"
        actor = Actor(call.user, call.channel, f"`/backlog {first}`")

        async def work() -> None:
            answer = await guarded(actor, lambda: handlers.command(call))
            await reply(respond, client, actor, answer)

        await slots.run(work)

    return backlog_command


def _button_listener(
    what: str, make_runner: Callable[[dict[str, Any]], Runner], slots: WorkSlots
) -> Callable[..., Awaitable[None]]:
    async def on_click(
        ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond, client: AsyncWebClient
    ) -> None:
        await ack()
        action = (body.get("actions") or [{}])[0]
        user = str((body.get("user") or {}).get("id", ""))
        channel = str((body.get("channel") or {}).get("id", ""))
        actor = Actor(user, channel, f"the {what} button" if "_" in what else what)

        async def work() -> None:
            run = make_runner(body)
            answer = await guarded(actor, lambda: run(str(action.get("value", "")), user))
            # Through the click's response_url, like a command's answer: privately to
            # the clicker, or to the channel; the clicked message itself stays.
            await reply(respond, client, actor, answer)

        await slots.run(work)

    return on_click


def _follow_up_buttons(handlers: Handlers) -> dict[ActionId, Callable[[dict[str, Any]], Runner]]:
    """Roll back (on an effect check) and Re-analyse (on a drain's count): the button's
    value is the earlier request's id, nothing else (issue 12)."""
    found: dict[ActionId, Callable[[dict[str, Any]], Runner]] = {}
    for action_id, handler in (
        (ActionId.ROLL_BACK, handlers.roll_back),
        (ActionId.REANALYSE, handlers.reanalyse),
    ):
        if handler is not None:
            found[action_id] = _follow_up(handler)
    return found


def _follow_up(
    handler: Callable[[uuid.UUID, str, str], Awaitable[Answer]],
) -> Callable[[dict[str, Any]], Runner]:
    def make(body: dict[str, Any]) -> Runner:
        channel = str((body.get("channel") or {}).get("id", ""))

        async def run(value: str, user: str) -> Answer:
            request_id = _request_id(value)
            if request_id is None:
                return Answer(_BAD_BUTTON)
            return await handler(request_id, user, channel)

        return run

    return make


async def _stale_button(_value: str, _user: str) -> Answer:
    return Answer(_STALE_BUTTON)


def _by_request_id(handler: Callable[[uuid.UUID, str], Awaitable[Answer]]) -> Runner:
    async def run(value: str, user: str) -> Answer:
        request_id = _request_id(value)
        if request_id is None:
            return Answer(_BAD_BUTTON)
        return await handler(request_id, user)

    return run


async def _on_error(error: Exception, body: dict[str, Any]) -> None:
    # Only failures before a listener's ack get here (the boundary answers the rest).
    kind = body.get("type") or body.get("command") or "request"
    log.error("slack request failed before it was acknowledged", extra={"in": kind}, exc_info=error)


def _request_id(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def _as_command(handlers: Handlers, body: dict[str, Any], to_text: Callable[[str], str]) -> Runner:
    channel = str((body.get("channel") or {}).get("id", ""))

    async def run(value: str, user: str) -> Answer:
        return await handlers.command(CommandCall(text=to_text(value), user=user, channel=channel))

    return run


async def _drop_slack_retries(
    req: Any, resp: BoltResponse, next: Callable[[], Awaitable[BoltResponse]]
) -> BoltResponse:
    """Bolt does not de-duplicate Slack's redeliveries; we ack them without acting.

    Our listeners ack within Slack's 3 s, so a retry of a command or a click means the
    first delivery arrived and is being handled: running it again would repeat the
    action. Events are different (see :func:`_event_receipts`): a retry may be the
    only delivery that arrived, so they are deduplicated by their stored ``event_id``.
    """
    if _is_event(req.body):
        return await next()
    # Socket Mode requests carry the envelope's retry_attempt here too: "0" is a first try.
    retry = req.headers.get("x-slack-retry-num")
    if retry and str(retry[0] if isinstance(retry, list) else retry) not in ("", "0"):
        log.info("ignored slack retry", extra={"reason": req.headers.get("x-slack-retry-reason")})
        return BoltResponse(status=200, body="")
    return await next()


# ---- the incident channel: Events API and the report's button ---------------------------

_RECEIPT = "backlog_event_to_process"
_BAD_INCIDENT_BUTTON = "That button's incident number is malformed; nothing was done."


def _is_event(body: Mapping[str, Any]) -> bool:
    return body.get("type") == "event_callback" and bool(body.get("event_id"))


def _channel_buttons(channel: ChannelHandlers | None) -> list[ActionId]:
    return [ActionId.FINALISE_REPORT] if channel is not None else []


def _register_channel(app: AsyncApp, channel: ChannelHandlers, work: WorkSlots) -> None:
    """Events are stored on receipt (middleware, before Bolt's automatic ack) and
    processed after the ack by one listener for every event type; an event type the
    bot does not follow is acknowledged and left, never answered 404 (Slack would
    retry it)."""
    app.middleware(_event_receipts(channel))
    app.event(re.compile(".*"))(_event_listener(channel, work))

    def finalise(_body: dict[str, Any]) -> Runner:
        async def run(value: str, user: str) -> Answer:
            if not value.isdigit():
                return Answer(_BAD_INCIDENT_BUTTON)
            return await channel.finalise(int(value), user)

        return run

    app.action(ActionId.FINALISE_REPORT.value)(
        _button_listener(ActionId.FINALISE_REPORT.value, finalise, work)
    )


def _event_receipts(
    channel: ChannelHandlers,
) -> Callable[..., Awaitable[BoltResponse]]:
    async def store_on_receipt(
        req: Any, resp: BoltResponse, next: Callable[[], Awaitable[BoltResponse]]
    ) -> BoltResponse:
        body = req.body
        if not _is_event(body):
            return await next()
        try:
            needed = await channel.receive(body)
        except Exception:  # not stored: a non-2xx makes Slack deliver it again
            log.exception("slack event not stored", extra={"event_id": body.get("event_id")})
            return BoltResponse(status=503, body="")
        if not needed:
            log.info("slack event already processed", extra={"event_id": body.get("event_id")})
            return BoltResponse(status=200, body="")
        req.context[_RECEIPT] = str(body["event_id"])
        return await next()

    return store_on_receipt


def _event_listener(channel: ChannelHandlers, work: WorkSlots) -> Callable[..., Awaitable[None]]:
    async def on_event(context: dict[str, Any]) -> None:
        # Bolt acked already (Events API listeners are acknowledged before they run).
        event_id = context.get(_RECEIPT)
        if event_id:
            await work.run(lambda: channel.process(str(event_id)))

    return on_event
