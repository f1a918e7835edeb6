"""The demo's transcript: Slack as the people in it see it, stamped with simulated time.

Each line comes from the Slack emulator's observer (what a person would see happen)
or from the story (what someone typed or clicked, what happens in the world).
Mentions read ``@alice``, channels ``#inc-…``, emoji are characters; an edited message
is shown as an edit with only the lines that changed; private answers say who sees
them.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TextIO

from bot.emulators.slack_api import EmulatorEvent

_WIDTH = 100
_SHOWN = ("post", "update", "ephemeral", "response", "upload", "pin_added")


class Transcript:
    def __init__(
        self,
        clock: Callable[[], datetime],
        out: TextIO,
        enabled: bool,
        names: Mapping[str, str] | None = None,
    ) -> None:
        self._names = dict(names or {})
        self._clock = clock
        self._out = out
        self._enabled = enabled
        self._where: str | None = None
        self._seen: dict[str, list[str]] = {}
        self.edits = 0
        """How many edits of the bot's messages were shown (the living alert's included)."""

    # ---- the story ---------------------------------------------------------

    def world(self, text: str) -> None:
        """Something that happens outside Slack (PhishNet, the clock)."""
        self._where = None
        self._print(f"\n[{self._clock():%H:%M:%S}] ── {text}")

    def typed(self, who: str, channel: str, text: str) -> None:
        """What a person typed in a channel (slash commands never reach the channel's
        history, so the emulator cannot show them)."""
        self._header(channel)
        self._line(f"{who}:", text)

    def clicked(self, who: str, channel: str, button: str) -> None:
        self._header(channel)
        self._line(f"{who}", f"clicks [{button}]")

    # ---- what Slack shows --------------------------------------------------

    def on_event(self, event: EmulatorEvent) -> None:
        if not self._enabled or event.kind not in _SHOWN:
            return
        who = event.user_name or event.user or "someone"
        display = event.display.removesuffix(" (edited)").strip()
        place = event.channel_name or event.channel or "?"
        if event.kind == "pin_added":
            self._header(place)
            first = display.splitlines()[0] if display else ""
            self._line(f"📌 {who}", f"pinned: {first}")
            return
        if event.kind == "update":
            self._edited(place, who, event.ts or "", display)
            return
        if event.ts:
            self._seen[event.ts] = display.splitlines()
        self._header(place)
        if display.endswith("has joined the channel"):
            self._line("→", display)
            return
        if event.kind in ("ephemeral", "response") and event.visible_to:
            seer = self._names.get(event.visible_to, event.visible_to)
            who = f"{who} (only {seer} sees this)"
        elif event.kind == "response":
            who = f"{who} (reply)"
        thread = " ↳ in thread" if event.thread_ts and event.thread_ts != event.ts else ""
        self._line(f"{who}{thread}:", display)

    def _edited(self, place: str, who: str, ts: str, display: str) -> None:
        lines = display.splitlines()
        before = self._seen.get(ts, [])
        self._seen[ts] = lines
        changed = [line for line in lines if line not in before and line.strip()]
        if not changed:
            return
        self.edits += 1
        self._header(place)
        shown = "\n".join(textwrap.shorten(line, _WIDTH - 8, placeholder=" …") for line in changed)
        self._line(f"✎ {who} edited its message:", shown)

    # ---- printing ----------------------------------------------------------

    def _header(self, place: str) -> None:
        if place == self._where:
            return
        self._where = place
        where = f"DM with {place}" if place.startswith("@") else f"#{place.lstrip('#')}"
        self._print(f"\n[{self._clock():%H:%M:%S}] {where}")

    def _line(self, who: str, text: str) -> None:
        body = "\n".join("      " + line for line in text.splitlines())
        if len(text.splitlines()) <= 1 and len(who) + len(text) < _WIDTH:
            self._print(f"  {who} {text}")
        else:
            self._print(f"  {who}\n{body}")

    def _print(self, text: str) -> None:
        if self._enabled:
            print(text, file=self._out, flush=True)
