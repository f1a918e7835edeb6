"""Failures injected on demand: Slack's error answers, ``429``, ``5xx``, and the ambiguous
ones where Slack did the work and the client never learns it (``fail_after_storing``)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Literal

from bot.emulators.slack.records import _Fault

AfterKind = Literal["server_error", "fatal_error", "disconnect", "timeout"]
AFTER_KINDS: tuple[AfterKind, ...] = ("server_error", "fatal_error", "disconnect", "timeout")


@dataclass(frozen=True)
class AfterFault:
    """How the answer to a call that already took effect goes wrong.

    ``server_error``: an HTML page with HTTP ``status``; ``fatal_error``: Slack's
    ``{"ok": false, "error": "fatal_error"}`` (documented as "it's possible some aspect of
    the operation succeeded"); ``disconnect``: the connection is closed without an answer;
    ``timeout``: the real answer, ``delay`` seconds late (longer than the client's timeout).
    """

    kind: AfterKind
    status: int = 500
    delay: float = 30.0


class Faults:
    """Queues of one-shot faults per API method (or ``"*"``, ``"response_url"``, ``"upload"``)."""

    def __init__(self) -> None:
        self._queues: dict[str, deque[_Fault]] = {}
        self._after: dict[str, deque[AfterFault]] = {}

    def add(self, method: str, fault: _Fault, times: int) -> None:
        queue = self._queues.setdefault(method, deque())
        queue.extend(
            _Fault(fault.status, fault.error, fault.retry_after, dict(fault.extra))
            for _ in range(times)
        )

    def take(self, method: str, *, api: bool) -> _Fault | None:
        """The next fault for ``method``; API methods also take the ``"*"`` queue's."""
        for key in (method, "*") if api else (method,):
            queue = self._queues.get(key)
            if queue:
                return queue.popleft()
        return None

    def add_after(self, method: str, fault: AfterFault, times: int) -> None:
        if fault.kind not in AFTER_KINDS:
            raise ValueError(f"unknown fault kind {fault.kind!r}; one of {AFTER_KINDS}")
        self._after.setdefault(method, deque()).extend(fault for _ in range(times))

    def take_after(self, method: str) -> AfterFault | None:
        for key in (method, "*"):
            queue = self._after.get(key)
            if queue:
                return queue.popleft()
        return None
