"""A Kubernetes API server emulator (see ``bot.emulators.kube_api``)."""

from bot.emulators.kube.emulator import DEFAULT_USER, KubeEmulator
from bot.emulators.kube.errors import ApiError
from bot.emulators.kube.pod_state import PodState
from bot.emulators.kube.rbac import (
    PolicyRule,
    RequestRecord,
    disallowed_requests,
    is_allowed,
    load_rules_from_role_yaml,
    unused_permissions,
)

__all__ = [
    "DEFAULT_USER",
    "ApiError",
    "KubeEmulator",
    "PodState",
    "PolicyRule",
    "RequestRecord",
    "disallowed_requests",
    "is_allowed",
    "load_rules_from_role_yaml",
    "unused_permissions",
]
