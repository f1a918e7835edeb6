"""The Bolt app: thin listeners that ack, parse, call a service and answer.

Built by :func:`build_slack_app` at start-up, never at import time.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.adapters.slack.ids import ActionId

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CommandCall:
    text: str
    user: str
    channel: str


@dataclass(frozen=True)
class CommandAnswer:
    text: str
    ephemeral: bool = True


@dataclass(frozen=True)
class ButtonAnswer:
    """Shown to the clicking user only."""

    text: str


@dataclass(frozen=True)
class Handlers:
    """What the listeners call; the app wires these to the services."""

    command: Callable[[CommandCall], Awaitable[CommandAnswer]]
    approve: Callable[[uuid.UUID, str], Awaitable[ButtonAnswer]]
    deny: Callable[[uuid.UUID, str], Awaitable[ButtonAnswer]]


Runner = Callable[[str, str], Awaitable[CommandAnswer]]  # (button value, user) -> reply


def build_slack_app(*, client: AsyncWebClient, signing_secret: str, handlers: Handlers) -> AsyncApp:
    app = AsyncApp(client=client, signing_secret=signing_secret, process_before_response=False)
    app.middleware(_drop_slack_retries)
    app.command("/backlog")(_command_listener(handlers))
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
        ActionId.ALERT_SCALE: lambda body: _as_command(
            handlers, body, lambda value: "scale " + value.replace(":", " ")
        ),
    }
    for action_id, make_runner in buttons.items():
        app.action(action_id.value)(_button_listener(make_runner))
    app.error(_on_error)
    return app


def _command_listener(handlers: Handlers) -> Callable[..., Awaitable[None]]:
    async def backlog_command(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        call = CommandCall(
            text=str(body.get("text", "")),
            user=str(body["user_id"]),
            channel=str(body["channel_id"]),
        )
        try:
            answer = await handlers.command(call)
        except SlackApiError as exc:
            # e.g. the bot is not in the channel: say so rather than leave silence
            error = exc.response.get("error", "error")
            answer = CommandAnswer(
                f":warning: Slack refused the bot's message (`{error}`); if a request was "
                "being made, it was not posted and nothing will run. Is the bot in this channel?"
            )
        await respond(
            text=answer.text,
            response_type="ephemeral" if answer.ephemeral else "in_channel",
            replace_original=False,
        )

    return backlog_command


def _button_listener(
    make_runner: Callable[[dict[str, Any]], Runner],
) -> Callable[..., Awaitable[None]]:
    async def on_click(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        action = body["actions"][0]
        user = str(body["user"]["id"])
        answer = await make_runner(body)(str(action.get("value", "")), user)
        # Through the click's response_url, like a command's answer: privately to
        # the clicker, or to the channel; the clicked message itself stays.
        await respond(
            text=answer.text,
            response_type="ephemeral" if answer.ephemeral else "in_channel",
            replace_original=False,
        )

    return on_click


def _by_request_id(
    handler: Callable[[uuid.UUID, str], Awaitable[ButtonAnswer]],
) -> Runner:
    async def run(value: str, user: str) -> CommandAnswer:
        request_id = _request_id(value)
        if request_id is None:
            return CommandAnswer(_BAD_BUTTON)
        return CommandAnswer((await handler(request_id, user)).text)

    return run


async def _on_error(error: Exception, body: dict[str, Any]) -> None:
    kind = body.get("type") or body.get("command") or "request"
    if isinstance(error, SlackApiError):
        log.error("slack api error", extra={"error": error.response.get("error"), "in": kind})
    else:
        log.error("listener failed", extra={"in": kind}, exc_info=error)


_BAD_BUTTON = "That button's request id is malformed; nothing was done."


def _request_id(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def _as_command(handlers: Handlers, body: dict[str, Any], to_text: Callable[[str], str]) -> Runner:
    channel = str(body.get("channel", {}).get("id", ""))

    async def run(value: str, user: str) -> CommandAnswer:
        return await handlers.command(CommandCall(text=to_text(value), user=user, channel=channel))

    return run


async def _drop_slack_retries(
    req: Any, resp: BoltResponse, next: Callable[[], Awaitable[BoltResponse]]
) -> BoltResponse:
    """Bolt does not de-duplicate Slack's redeliveries; we ack them without acting.

    Our listeners ack within Slack's 3 s, so a retry means the first delivery
    arrived and is being handled: running it again would repeat the action.
    """
    # Socket Mode requests carry the envelope's retry_attempt here too: "0" is a first try.
    retry = req.headers.get("x-slack-retry-num")
    if retry and str(retry[0] if isinstance(retry, list) else retry) not in ("", "0"):
        log.info("ignored slack retry", extra={"reason": req.headers.get("x-slack-retry-reason")})
        return BoltResponse(status=200, body="")
    return await next()
