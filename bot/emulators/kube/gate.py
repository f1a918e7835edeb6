"""What stands in front of every request: authentication, RBAC, recording and faults."""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass

from bot.emulators.kube import errors
from bot.emulators.kube.rbac import PolicyRule, RequestRecord, is_allowed

HTTP_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})


@dataclass
class Fault:
    """One armed fault: matched against requests by verb (a Kubernetes verb such as
    ``patch``, an HTTP method in capitals such as ``PATCH``, or ``*``) and resource
    (``deployments``, ``deployments/scale``, ``deployments/*`` or ``*``)."""

    verb: str
    resource: str
    remaining: int
    status: int = 500
    message: str | None = None
    seconds: float = 0.0
    retry_after: int | None = None
    namespace: str | None = None
    name: str | None = None

    def matches(self, record: RequestRecord) -> bool:
        if self.verb != "*":
            if self.verb in HTTP_METHODS:
                if record.method != self.verb:
                    return False
            elif record.verb != self.verb.lower():
                return False
        resource = self.resource.split(".", 1)[0] if "/" not in self.resource else self.resource
        if resource != "*":
            base, _, sub = resource.partition("/")
            if base.split(".", 1)[0] != record.resource:
                return False
            if sub != "*" and (sub or None) != record.subresource:
                return False
        if self.namespace is not None and record.namespace != self.namespace:
            return False
        return self.name is None or record.name == self.name


class Gate:
    def __init__(
        self,
        *,
        user: str,
        rbac_rules: list[PolicyRule] | None,
        require_auth: bool,
    ) -> None:
        self.lock = threading.Lock()
        self.user = user
        self.rbac_rules = rbac_rules
        self.require_auth = require_auth
        self.tokens: dict[str, str | None] = {}  # None: the emulator's user
        self.records: list[RequestRecord] = []
        self.faults: list[Fault] = []
        self.delays: list[Fault] = []

    def authenticate(self, authorization: str | None) -> str:
        token = ""
        if authorization and authorization.lower().startswith("bearer "):
            token = authorization[7:].strip()
        with self.lock:
            known = token in self.tokens
            user = self.tokens.get(token)
        if not known and self.require_auth:
            raise errors.unauthorized()
        return user or self.user

    def record(self, record: RequestRecord) -> int:
        with self.lock:
            self.records.append(record)
            return len(self.records) - 1

    def set_code(self, index: int, code: int) -> None:
        with self.lock:
            if 0 <= index < len(self.records):
                self.records[index] = dataclasses.replace(self.records[index], code=code)

    def _take(self, armed: list[Fault], record: RequestRecord) -> Fault | None:
        with self.lock:
            for fault in armed:
                if fault.remaining > 0 and fault.matches(record):
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        armed.remove(fault)
                    return fault
        return None

    def take_delay(self, record: RequestRecord) -> float:
        fault = self._take(self.delays, record)
        return fault.seconds if fault else 0.0

    def take_fault(self, record: RequestRecord) -> errors.ApiError | None:
        fault = self._take(self.faults, record)
        if fault is None:
            return None
        return errors.injected(
            fault.status,
            fault.message,
            group=record.api_group,
            resource=record.resource,
            name=record.name,
            retry_after=fault.retry_after,
        )

    def authorize(self, record: RequestRecord) -> None:
        rules = self.rbac_rules
        if rules is None or is_allowed(rules, record):
            return
        raise errors.forbidden(
            user=record.user,
            verb=record.verb,
            group=record.api_group,
            resource=record.resource,
            subresource=record.subresource,
            namespace=record.namespace,
            name=record.name,
        )
