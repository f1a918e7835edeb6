"""The Lua scripts' text, read once from the files beside this module."""

from __future__ import annotations

from pathlib import Path

_HERE = Path(__file__).parent

#: Read-only steps: one SSCAN step, classifying one batch's heartbeats.
SCAN_LUA = (_HERE / "scan.lua").read_text(encoding="utf-8")
#: One atomic batch: re-check heartbeats, SREM, DEL, LPUSH (keys in one slot).
REQUEUE_LUA = (_HERE / "requeue.lua").read_text(encoding="utf-8")
#: The journaled requeue's single-slot steps: claim heartbeats, push, abandon.
JOURNALED_LUA = (_HERE / "journaled.lua").read_text(encoding="utf-8")
