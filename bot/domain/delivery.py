"""Delivering messages to Slack: outcomes, retry policy and refusals, as plain values.

The Slack transport classifies every answer into one of three outcomes; the
sender (bot/services/delivery.py) acts on them. Which of Slack's error codes
are transient and which are permanent follows Slack's Web API docs
("Rate limits", and each method's "Errors" table, e.g. chat.postMessage):
``fatal_error`` is documented as "it's possible some aspect of the operation
succeeded before the error was raised", so it is retried as *ambiguous*.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True)
class Delivered:
    """Slack accepted it: the message's channel id and ts. ``permalink``: the message's
    link when it was asked for; ``note``: what Slack accepted only in part (e.g. an
    invitation some people could not get), in words for the channel."""

    channel: str
    ts: str
    permalink: str | None = None
    note: str = ""


@dataclass(frozen=True)
class RetryLater:
    """Not delivered this time. ``ambiguous``: Slack may nevertheless hold it (a
    timeout, a dropped connection, a 5xx, ``fatal_error``), so look before posting
    again. ``retry_after``: Slack's ``Retry-After`` (seconds) when it sent one."""

    error: str
    ambiguous: bool
    retry_after: float | None = None


@dataclass(frozen=True)
class Refused:
    """A permanent refusal (``not_in_channel``, ``channel_not_found``…): retrying the
    same message cannot succeed; a person must be told."""

    error: str
    detail: str = ""


Delivery = Delivered | RetryLater | Refused

# Error codes Slack answers with HTTP 200 and ok:false that are worth retrying.
TRANSIENT_ERRORS = frozenset(
    {"ratelimited", "internal_error", "service_unavailable", "request_timeout", "fatal_error"}
)
AMBIGUOUS_ERRORS = frozenset({"fatal_error", "request_timeout", "internal_error"})

MAX_BACKOFF = timedelta(seconds=60)


def retry_delay(attempts: int, retry_after: float | None = None) -> timedelta:
    """How long to wait before attempt ``attempts + 1``.

    Slack's ``Retry-After`` is honoured as given; otherwise 1 s, 2 s, 4 s … capped
    at 60 s. There is no last attempt: what the bot must say is retried until Slack
    takes it (the outbox keeps it meanwhile).
    """
    if retry_after is not None and retry_after >= 0:
        return timedelta(seconds=retry_after)
    exponent = max(0, min(attempts - 1, 6))
    return min(timedelta(seconds=2**exponent), MAX_BACKOFF)


def classify_error(code: str, detail: str = "") -> RetryLater | Refused:
    """An ``ok: false`` answer's error code as an outcome."""
    if code in TRANSIENT_ERRORS:
        return RetryLater(code, ambiguous=code in AMBIGUOUS_ERRORS)
    return Refused(code, detail)


_REFUSALS = {
    "not_in_channel": "Backlog Bot is not a member of {channel}; invite it with `/invite @Backlog "
    "Bot` (or add it in the channel's settings)",
    "channel_not_found": "the channel {channel} does not exist, or it is private and Backlog Bot "
    "was not added to it",
    "is_archived": "{channel} is archived",
    "restricted_action": "the workspace's settings do not let Backlog Bot post in {channel} "
    "(restricted_action)",
    "missing_scope": "the Slack app lacks a permission it needs{detail}; reinstall it from "
    "manifest.yml",
    "invalid_auth": "Slack refused the bot token (invalid_auth): check SLACK_BOT_TOKEN",
    "token_revoked": "the bot token was revoked: reinstall the app and update SLACK_BOT_TOKEN",
    "account_inactive": "the bot's token belongs to a deactivated app or user",
    "not_authed": "no bot token was sent: check SLACK_BOT_TOKEN",
    "msg_too_long": "the message was too long for Slack (a Backlog Bot bug: please report it)",
    "invalid_blocks": "Slack rejected the message's layout (a Backlog Bot bug: please report it)",
    "no_text": "the message was empty (a Backlog Bot bug: please report it)",
    "message_not_found": "the message to update no longer exists (deleted in Slack?)",
    "cant_update_message": "Slack does not let the bot edit that message",
    "name_taken": "every name tried for the channel is taken",
    "user_not_found": "a user named in the playbook does not exist in this workspace",
    "no_such_subteam": "a user group named in the playbook does not exist in this workspace",
    "not_pinnable": "Slack does not let that message be pinned",
    "too_long": "the text was too long for Slack (a Backlog Bot bug: please report it)",
}


def explain_refusal(refused: Refused, channel: str) -> str:
    """A sentence fragment saying why Slack refused, for the people who must fix it."""
    template = _REFUSALS.get(refused.error)
    if template is None:
        return f"Slack refused it (`{refused.error}`)"
    detail = f" ({refused.detail})" if refused.detail else ""
    return template.format(channel=channel, detail=detail)
