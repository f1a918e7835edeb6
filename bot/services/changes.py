"""What an executor changed, recorded right after the change so it can be rolled back
(see :mod:`bot.domain.rollback`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from bot.adapters.kube import KubeClient, KubeError
from bot.domain.playbook import Playbook
from bot.domain.rollback import Change, Target

# Told what an executor changed, right after the change (kept for a rollback).
ChangeHook = Callable[[Change], Awaitable[None]]
Progress = Callable[[str], Awaitable[None]]


async def record_change(
    kube: KubeClient,
    on_change: ChangeHook,
    on_progress: Progress,
    target: Target,
    name: str,
    playbook: Playbook,
    before: dict[str, Any],
    after: dict[str, Any],
) -> None:
    """Reads the object's versions right after the change and tells ``on_change``; if
    it cannot be read, says in the thread that this change cannot be rolled back.

    Read rather than taken from the write's answer, which for a scale is the Scale
    subresource (no generation); in the milliseconds between, only the controllers
    write (status), which a rollback tells apart by the generation."""
    try:
        now = await kube.object_now(target, playbook.namespace, name, list(after))
    except KubeError as exc:
        await on_progress(
            f":warning: `{name}` could not be read back after the change ({exc}); the bot "
            "cannot offer to roll this change back."
        )
        return
    await on_change(
        Change(
            target=target,
            namespace=playbook.namespace,
            name=name,
            before=before,
            after=after,
            resource_version=now.resource_version,
            generation=now.generation,
        )
    )
