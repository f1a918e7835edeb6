"""Kubernetes API server emulator for tests and ``backlog-bot demo``.

The real ``kubernetes`` client talks to it over HTTP on loopback through a kubeconfig
(``KubeEmulator.write_kubeconfig``). It keeps objects with resourceVersions and
generations, serves the scale subresource, strategic-merge / JSON-merge / JSON patches,
label and field selectors, pod logs, metrics.k8s.io, discovery, and answers errors with
the API server's ``Status`` objects (404, 409, 422, 403, and 429 with ``Retry-After``
as API priority and fairness sends it ...). A tiny controller makes deployments' pods
follow ``spec.replicas`` and template changes (not while ``spec.paused``), runs jobs and
keeps HPA status; tests can stall a rollout or hold a deployment's new pods not Ready
(unschedulable, crash-looping, unable to pull their image). RBAC rules, request
recording and fault injection let tests check what the bot asks for and how it copes.

The implementation lives in the ``bot.emulators.kube`` package; this module is its
public face.
"""

from bot.emulators.kube import (
    DEFAULT_USER,
    ApiError,
    KubeEmulator,
    PodState,
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
