"""What the Slack emulator records and keeps: calls, messages, responses, uploads."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from bot.emulators.slack.render import Directory, humanize, render_text

log = logging.getLogger(__name__)

JSONDict = dict[str, Any]
EventKind = Literal[
    "post",
    "update",
    "delete",
    "ephemeral",
    "response",
    "upload",
    "reaction_added",
    "reaction_removed",
    "pin_added",
    "pin_removed",
]
Handler = Callable[[JSONDict], JSONDict]
"""An API method: its arguments in, the answer's fields (besides ``ok``) out."""

MAX_BLOCKS = 50
MAX_TEXT_CHARS = 40_000
_RESPONSE_PATH = "/response/"
_UPLOAD_PATH = "/upload/v1/"


# --------------------------------------------------------------------------------------
# Public records
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SlackUserInfo:
    """A workspace member as ``users.info`` describes it (the id is the dict key)."""

    name: str
    real_name: str = ""
    display_name: str = ""
    email: str | None = None
    title: str = ""
    tz: str = "UTC"
    is_bot: bool = False
    is_admin: bool = False
    deleted: bool = False

    def to_slack(self, user_id: str, team_id: str) -> JSONDict:
        real_name = self.real_name or self.name
        profile: JSONDict = {
            "real_name": real_name,
            "display_name": self.display_name or self.name,
            "title": self.title,
            "team": team_id,
        }
        if self.email is not None:
            profile["email"] = self.email
        return {
            "id": user_id,
            "team_id": team_id,
            "name": self.name,
            "real_name": real_name,
            "deleted": self.deleted,
            "tz": self.tz,
            "is_bot": self.is_bot,
            "is_admin": self.is_admin,
            "profile": profile,
        }


@dataclass(frozen=True)
class RecordedCall:
    """One HTTP call to ``/api/<method>`` and what the emulator answered."""

    method: str
    args: JSONDict
    status: int
    response: JSONDict | None
    http_method: str = "POST"
    fault: str | None = None
    """Why the answer was not the plain one: ``"injected"`` (``fail_next``,
    ``rate_limit_next``, ``server_error_next``), ``"rate_limit"`` (a tier exceeded), or
    the ``fail_after_storing`` kind (``"disconnect"``...); None for a plain answer."""

    @property
    def ok(self) -> bool:
        return bool(self.response and self.response.get("ok"))

    @property
    def error(self) -> str | None:
        if self.response is None:
            return None
        error = self.response.get("error")
        return error if isinstance(error, str) else None


@dataclass(frozen=True)
class MessageVersion:
    """A message's content at one point in time."""

    text: str
    blocks: list[JSONDict] | None
    attachments: list[JSONDict] | None
    edited_ts: str | None


@dataclass
class StoredMessage:
    """A message as the channel shows it now; ``edits`` are the replaced versions."""

    channel: str
    ts: str
    text: str
    blocks: list[JSONDict] | None = None
    attachments: list[JSONDict] | None = None
    thread_ts: str | None = None
    user: str | None = None
    bot_id: str | None = None
    visible_to: str | None = None
    reply_broadcast: bool = False
    files: list[JSONDict] = field(default_factory=list)
    metadata: JSONDict | None = None
    edits: list[MessageVersion] = field(default_factory=list)
    edited_ts: str | None = None
    edited_by: str | None = None
    subtype: str | None = None
    reactions: dict[str, list[str]] = field(default_factory=dict)
    """Emoji name -> the users who reacted with it, in order."""
    pinned_to: list[str] = field(default_factory=list)
    extra: JSONDict = field(default_factory=dict)
    """Fields a system message carries besides text (``inviter``, ``topic``, ``purpose``...)."""

    @property
    def is_bot(self) -> bool:
        return self.bot_id is not None

    @property
    def is_system(self) -> bool:
        """A message Slack writes itself: ``channel_join``, ``channel_topic``, a tombstone..."""
        return self.subtype is not None and self.subtype not in ("thread_broadcast", "bot_message")

    @property
    def is_ephemeral(self) -> bool:
        return self.visible_to is not None

    @property
    def is_reply(self) -> bool:
        return self.thread_ts is not None and self.thread_ts != self.ts

    @property
    def rendered(self) -> str:
        """Text and blocks flattened for a terminal (see :func:`render_text`)."""
        return render_text(self.blocks, self.text)

    @property
    def versions(self) -> list[MessageVersion]:
        """Every version, oldest first, ending with the current one."""
        current = MessageVersion(self.text, self.blocks, self.attachments, self.edited_ts)
        return [*self.edits, current]


@dataclass(frozen=True)
class RecordedResponse:
    """A JSON body POSTed to a ``response_url`` (what bolt's ``respond()`` sends)."""

    tag: str
    payload: JSONDict
    status: int

    @property
    def text(self) -> str:
        text = self.payload.get("text")
        return text if isinstance(text, str) else ""

    @property
    def blocks(self) -> list[JSONDict] | None:
        blocks = self.payload.get("blocks")
        return blocks if isinstance(blocks, list) else None

    @property
    def response_type(self) -> str:
        value = self.payload.get("response_type")
        return value if isinstance(value, str) else "ephemeral"

    @property
    def replace_original(self) -> bool:
        return _truthy(self.payload.get("replace_original"))

    @property
    def delete_original(self) -> bool:
        return _truthy(self.payload.get("delete_original"))

    @property
    def rendered(self) -> str:
        return render_text(self.blocks, self.text)


@dataclass
class StoredUpload:
    """A file from ``files.getUploadURLExternal`` through ``files.completeUploadExternal``."""

    file_id: str
    filename: str
    length: int
    upload_key: str
    alt_txt: str | None = None
    snippet_type: str | None = None
    content: bytes | None = None
    title: str | None = None
    completed: bool = False
    channels: list[str] = field(default_factory=list)
    thread_ts: str | None = None
    initial_comment: str | None = None


@dataclass(frozen=True)
class EmulatorEvent:
    """Something a Slack user would see happen, for the demo's live transcript."""

    kind: EventKind
    channel: str | None
    channel_name: str | None
    user: str | None
    is_bot: bool
    text: str
    blocks: list[JSONDict] | None
    ts: str | None
    thread_ts: str | None = None
    visible_to: str | None = None
    tag: str | None = None
    display: str = ""
    """What a person sees: mentions as ``@name``, ``#channel``, emoji as characters, and
    ``(edited)`` after an edited message; ``kind`` says what happened."""
    user_name: str | None = None
    detail: str | None = None
    """For reactions, the emoji's name."""

    @property
    def rendered(self) -> str:
        return render_text(self.blocks, self.text)

    @property
    def reaction(self) -> str | None:
        """For ``reaction_*`` events, the emoji as a person sees it (``:eyes:`` → 👀)."""
        if self.detail is None or not self.kind.startswith("reaction"):
            return None
        return humanize(f":{self.detail}:", Directory())


@dataclass
class ChannelText:
    """A channel's topic or purpose."""

    value: str = ""
    creator: str = ""
    last_set: int = 0

    def to_slack(self) -> JSONDict:
        return {"value": self.value, "creator": self.creator, "last_set": self.last_set}


@dataclass
class Pin:
    ts: str
    created: int
    created_by: str


@dataclass
class Channel:
    """A public or private channel; ``members`` in the order they joined."""

    id: str
    name: str
    is_private: bool = False
    is_archived: bool = False
    members: list[str] = field(default_factory=list)
    created: int = 0
    creator: str = ""
    topic: ChannelText = field(default_factory=ChannelText)
    purpose: ChannelText = field(default_factory=ChannelText)
    pins: list[Pin] = field(default_factory=list)
    bookmarks: list[JSONDict] = field(default_factory=list)
    everyone: bool = False
    """Declared without a member list: every workspace member is in it, present and future."""


@dataclass
class _Fault:
    status: int
    error: str | None
    retry_after: int | None = None
    extra: JSONDict = field(default_factory=dict)


@dataclass
class _ResponseTarget:
    channel: str | None
    user: str | None
    message_ts: str | None
    thread_ts: str | None


class _SlackError(Exception):
    def __init__(self, code: str, **extra: Any) -> None:
        super().__init__(code)
        self.code = code
        self.extra = extra


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes")
    return bool(value)
