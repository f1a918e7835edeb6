"""The one error boundary every Slack listener passes through.

A listener acks first (Slack wants an answer within 3 s), then does its work;
whatever goes wrong after the ack becomes an answer to the person who acted, in
their terms, plus one log line with an error id. Expected failures are
:class:`~bot.domain.errors.BotError` (their text is the answer); anything else
is a bug, answered with the error id so it can be found in the logs. The answer
goes through the request's ``response_url``; if that fails (expired, or Slack
refuses it), through ``chat.postEphemeral``; if that fails too, the log has it.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from slack_bolt.async_app import AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.adapters.slack.fit import INLINE_LIMIT, clip
from bot.domain.errors import BotError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Answer:
    """What the person who acted sees: privately (ephemeral) or in the channel."""

    text: str
    ephemeral: bool = True


@dataclass(frozen=True)
class Actor:
    """Who acted, where, and on what (for the answer's fallback route and the log)."""

    user: str
    channel: str
    what: str


Work = Callable[[], Awaitable[Answer]]


def answer_for(error: BaseException, actor: Actor) -> Answer:
    """The sentence a person sees for ``error``."""
    if isinstance(error, BotError):
        return Answer(f"{error.icon} {error}")
    if isinstance(error, SlackApiError):
        code = error.response.get("error", "error")
        return Answer(
            f":warning: Slack refused the bot's call (`{code}`) while handling {actor.what}. "
            "If it was a request, nothing will run; is the bot a member of this channel?"
        )
    error_id = secrets.token_hex(4)
    log.error(
        "listener failed",
        extra={"error_id": error_id, "user": actor.user, "what": actor.what},
        exc_info=error,
    )
    return Answer(
        f":boom: Backlog Bot failed while handling {actor.what} (error id `{error_id}` in its "
        "logs). If you asked for a change, check `/backlog status` before asking again."
    )


async def guarded(actor: Actor, work: Work) -> Answer:
    """Runs ``work``; any exception becomes the answer for it."""
    try:
        return await work()
    except Exception as exc:  # the boundary: every failure becomes an answer, none is lost
        if isinstance(exc, BotError):
            log.info("refused", extra={"user": actor.user, "what": actor.what, "why": str(exc)})
        return answer_for(exc, actor)


async def reply(
    respond: AsyncRespond, client: AsyncWebClient, actor: Actor, answer: Answer
) -> None:
    """Delivers ``answer`` to the actor: response_url, else an ephemeral message."""
    text = clip(answer.text, INLINE_LIMIT, "ask again in a smaller piece")
    try:
        result: Any = await respond(
            text=text,
            response_type="ephemeral" if answer.ephemeral else "in_channel",
            replace_original=False,
        )
        if getattr(result, "status_code", 200) < 300:
            return
        log.warning("response_url refused the answer", extra={"status": result.status_code})
    except Exception as exc:  # fall back below; the answer must still reach the person
        log.warning("response_url failed", extra={"error": repr(exc)})
    try:
        await client.chat_postEphemeral(channel=actor.channel, user=actor.user, text=text)
    except Exception as exc:  # last resort: the log (with who and what), never silence
        log.error(
            "could not answer the user",
            extra={"user": actor.user, "what": actor.what, "error": repr(exc), "answer": text},
        )
