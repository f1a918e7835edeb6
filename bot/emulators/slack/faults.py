"""Failures injected on demand: Slack's error answers, ``429``, ``5xx``."""

from __future__ import annotations

from collections import deque

from bot.emulators.slack.records import _Fault


class Faults:
    """Queues of one-shot faults per API method (or ``"*"``, ``"response_url"``, ``"upload"``)."""

    def __init__(self) -> None:
        self._queues: dict[str, deque[_Fault]] = {}

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
