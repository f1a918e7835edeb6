"""Which OAuth scope each emulated method needs, per kind of conversation.

Source: the "Required scopes" of each method's page in Slack's reference
(docs.slack.dev/reference/methods/<method>), bot tokens. A method that works on a
conversation needs the scope of that conversation's kind: ``channels:*`` for public
channels, ``groups:*`` for private ones, ``im:*`` for DMs. Where Slack accepts one of
several scopes (``channels:manage`` or the granular ``channels:write.topic``) any one is
enough; the first is the one ``missing_scope`` names as ``needed``.
"""

from __future__ import annotations

from typing import Literal

ConversationKind = Literal["public", "private", "im"]

_BY_KIND: dict[str, dict[ConversationKind, tuple[str, ...]]] = {
    "conversations.history": {
        "public": ("channels:history",),
        "private": ("groups:history",),
        "im": ("im:history",),
    },
    "conversations.info": {
        "public": ("channels:read",),
        "private": ("groups:read",),
        "im": ("im:read",),
    },
    "conversations.create": {"public": ("channels:manage",), "private": ("groups:write",)},
    "conversations.setTopic": {
        "public": ("channels:manage", "channels:write.topic"),
        "private": ("groups:write", "groups:write.topic"),
        "im": ("im:write", "im:write.topic"),
    },
    "conversations.setPurpose": {
        "public": ("channels:manage",),
        "private": ("groups:write",),
        "im": ("im:write",),
    },
    "conversations.invite": {
        "public": ("channels:manage", "channels:write.invites"),
        "private": ("groups:write", "groups:write.invites"),
    },
    "conversations.archive": {"public": ("channels:manage",), "private": ("groups:write",)},
    "conversations.join": {"public": ("channels:join",)},
}
_BY_KIND["conversations.replies"] = _BY_KIND["conversations.history"]
_BY_KIND["conversations.members"] = _BY_KIND["conversations.info"]
_BY_KIND["conversations.unarchive"] = _BY_KIND["conversations.archive"]

_FLAT: dict[str, tuple[str, ...]] = {
    "chat.postMessage": ("chat:write",),
    "chat.update": ("chat:write",),
    "chat.delete": ("chat:write",),
    "chat.postEphemeral": ("chat:write",),
    "conversations.open": ("im:write",),
    "pins.add": ("pins:write",),
    "pins.remove": ("pins:write",),
    "pins.list": ("pins:read",),
    "bookmarks.add": ("bookmarks:write",),
    "bookmarks.list": ("bookmarks:read",),
    "reactions.add": ("reactions:write",),
    "reactions.remove": ("reactions:write",),
    "reactions.get": ("reactions:read",),
    "users.info": ("users:read",),
    "usergroups.users.list": ("usergroups:read",),
    "files.getUploadURLExternal": ("files:write",),
    "files.completeUploadExternal": ("files:write",),
}

POST_TO_PUBLIC_WITHOUT_JOINING = "chat:write.public"
"""Lets ``chat.postMessage`` post into a public channel the bot is not a member of."""


def needed_scopes(method: str, kind: ConversationKind | None = None) -> tuple[str, ...]:
    """The scopes of which ``method`` needs one (empty: none needed) for ``kind``."""
    if method in _BY_KIND:
        return _BY_KIND[method].get(kind or "public", ())
    return _FLAT.get(method, ())


def all_scopes() -> frozenset[str]:
    """Every scope the emulated methods can ask for, plus ``chat:write.public``."""
    scopes = {POST_TO_PUBLIC_WITHOUT_JOINING, "commands"}
    for by_kind in _BY_KIND.values():
        for alternatives in by_kind.values():
            scopes.update(alternatives)
    for alternatives in _FLAT.values():
        scopes.update(alternatives)
    return frozenset(scopes)
