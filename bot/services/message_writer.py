"""The part of :class:`~bot.services.messages.Messages` every kind of message uses:
a plain (or long, then filed) message, and a keyed message in a request's thread."""

from __future__ import annotations

from bot.adapters.slack import blocks
from bot.adapters.slack.fit import INLINE_LIMIT, shorten, split_sections
from bot.adapters.store import Store
from bot.domain.models import ActionRequest, Clock


class MessageWriter:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    async def say(
        self,
        tx: Store,
        key: str,
        channel: str,
        text: str,
        *,
        thread_key: str | None = None,
        incident_id: int | None = None,
        file_name: str | None = None,
        title: str = "",
        file_text: str | None = None,
        force_file: bool = False,
    ) -> None:
        """A message; text longer than Slack shows inline goes into a file (named
        ``file_name``, holding ``file_text`` or else ``text``) with its start as the
        file's comment."""
        name = file_name or f"{key.replace('/', '-')}.txt"
        long = shorten(text, file_name=name, limit=INLINE_LIMIT)
        if long.whole is None and not force_file:
            await tx.enqueue_message(
                key,
                channel,
                blocks.payload(text, [blocks.section(chunk) for chunk in split_sections(text)]),
                at=self._clock(),
                thread_key=thread_key,
                incident_id=incident_id,
            )
            return
        await tx.enqueue_message(
            key,
            channel,
            {"filename": name, "title": title or name, "text": long.summary},
            at=self._clock(),
            thread_key=thread_key,
            incident_id=incident_id,
            kind="file",
            content=(file_text or long.whole or text).encode("utf-8"),
        )

    async def _in_thread(
        self, tx: Store, key: str, thread_key: str, request: ActionRequest, body: blocks.Payload
    ) -> None:
        if not await tx.update_message(key, body):
            await tx.enqueue_message(
                key,
                request.channel or "",
                body,
                at=self._clock(),
                thread_key=thread_key,
                incident_id=request.incident_id,
            )
