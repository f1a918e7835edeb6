"""Roll back and Re-analyse: new action requests that follow an earlier action.

Both buttons carry only the earlier request's id; everything is reloaded and checked
here, then planned by a pure planner (:func:`bot.domain.rollback.plan_rollback`,
:func:`bot.domain.recovery.plan_reanalysis`) and submitted through the same approval
flow as any action (:meth:`ActionService.submit`). Each carries ``params.once``, which
a unique index holds to one pending, running or done request at a time: two clicks,
or two replicas, make one request. Who may ask is who may ask for the same change by
command (the playbook's ``permissions``): a rollback as the original's sub-command
(``scale``, ``tune``), a re-analysis as ``requeue`` (it pushes ids onto a queue).
"""

from __future__ import annotations

from uuid import UUID

import asyncpg

from bot.adapters.kube import KubeClient
from bot.adapters.queues import recovery as recovery_keys
from bot.adapters.queues.cluster import RedisClient
from bot.adapters.store import Store
from bot.domain.actions import ActionPlan
from bot.domain.errors import Refused
from bot.domain.models import ActionRequest, Clock
from bot.domain.permissions import allowed_roles, refusal
from bot.domain.playbook import Playbook
from bot.domain.recovery import anchor_queue, plan_reanalysis
from bot.domain.rollback import plan_rollback
from bot.services.actions import ActionService
from bot.services.ports import Directory

_STATES = {
    "pending": "is waiting for approval",
    "executing": "is running",
    "succeeded": "was done",
}


class FollowUps:
    def __init__(
        self,
        *,
        store: Store,
        kube: KubeClient,
        redis: RedisClient,
        actions: ActionService,
        directory: Directory,
        playbook: Playbook,
        clock: Clock,
    ) -> None:
        self._directory = directory
        self._store = store
        self._kube = kube
        self._redis = redis
        self._actions = actions
        self._playbook = playbook
        self._clock = clock

    async def request_rollback(self, request_id: UUID, user: str, channel: str) -> ActionRequest:
        """Asks for approval to restore what ``request_id`` changed. Raises
        :class:`Refused` (incl. ``RollbackRefused``) with the reason: nothing kept, a
        rollback already asked or done, the object changed since, out of bounds."""
        original = await self._store.get_action_request(request_id)
        if original is None:
            raise Refused("That action no longer exists.")
        await self._authorize(original.kind.value, user, channel)
        change = await self._store.change_for(request_id)
        if change is None:
            raise Refused(
                "That action changed nothing the bot kept a previous state of (only scales, "
                "HPA bounds and tuned settings can be rolled back)."
            )
        once = f"rollback:{request_id}"
        await self._refuse_twice(once, "A rollback of that action")
        current = await self._kube.object_now(
            change.target, change.namespace, change.name, list(change.after)
        )
        plan = plan_rollback(self._playbook, original, change, current)
        return await self._submit(user, plan, original.channel or channel, "rollback")

    async def request_reanalysis(self, drain_id: UUID, user: str, channel: str) -> ActionRequest:
        """Asks for approval to push what the drain ``drain_id`` took back for full
        analysis. Raises :class:`Refused` with the reason (see ``plan_reanalysis``)."""
        await self._authorize("requeue", user, channel)
        drain = await self._store.get_action_request(drain_id)
        recovery = await self._store.drain_recovery(drain_id)
        if drain is None or recovery is None:
            raise Refused("That drain kept no recovery list, so there is nothing to re-analyse.")
        once = f"reanalyse:{drain_id}"
        await self._refuse_twice(once, "A re-analysis of that drain")
        waiting = await recovery_keys.waiting(self._redis, drain_id, anchor_queue(self._playbook))
        plan = plan_reanalysis(self._playbook, drain, recovery, waiting, self._clock())
        return await self._submit(user, plan, drain.channel or channel, "re-analysis")

    async def _authorize(self, command: str, user: str, channel: str) -> None:
        """Raises :class:`Refused` (and audits it) unless ``user`` may ask, by command,
        for the change this button asks for."""
        roles = allowed_roles(command, tuple(self._playbook.roles), self._playbook.permissions)
        if roles is None or user in await self._directory.members(roles):
            return
        await self._store.audit(
            at=self._clock(),
            actor=user,
            action=f"button:{command}",
            target=f"channel/{channel}",
            outcome="refused",
            details={"reason": "not in an allowed role", "roles": list(roles)},
        )
        raise Refused(refusal(command, roles))

    async def _refuse_twice(self, once: str, what: str) -> None:
        found = await self._store.once_request(once)
        if found is not None:
            _, state = found
            raise Refused(f"{what} {_STATES.get(state, state)} already; see its request above.")

    async def _submit(self, user: str, plan: ActionPlan, channel: str, what: str) -> ActionRequest:
        try:
            return await self._actions.submit(user, plan, channel)
        except asyncpg.UniqueViolationError as exc:
            # Another click (or replica) submitted the same one a moment ago.
            raise Refused(f"That {what} was asked for a moment ago; see its request.") from exc
