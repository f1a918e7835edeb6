"""The resource types the emulator serves, and the discovery documents."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

JSON = dict[str, Any]

_RW = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
_RO = ("get", "list")


@dataclass(frozen=True)
class Subresource:
    name: str
    kind: str
    verbs: tuple[str, ...]
    group: str | None = None
    version: str | None = None


@dataclass(frozen=True)
class ResourceType:
    group: str
    version: str
    resource: str
    kind: str
    namespaced: bool = True
    verbs: tuple[str, ...] = _RW
    subresources: tuple[Subresource, ...] = ()
    short_names: tuple[str, ...] = ()
    has_generation: bool = False
    status_is_subresource: bool = False
    metrics: bool = False
    default_propagation: str = "Background"
    categories: tuple[str, ...] = field(default=())

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def qualified(self) -> str:
        return f"{self.resource}.{self.group}" if self.group else self.resource

    def subresource(self, name: str) -> Subresource | None:
        for sub in self.subresources:
            if sub.name == name:
                return sub
        return None


_STATUS = Subresource("status", "", ("get", "patch", "update"))

PODS = ResourceType(
    "",
    "v1",
    "pods",
    "Pod",
    subresources=(
        Subresource("log", "Pod", ("get",)),
        Subresource("status", "Pod", ("get", "patch", "update")),
    ),
    short_names=("po",),
    status_is_subresource=True,
    categories=("all",),
)
CONFIGMAPS = ResourceType("", "v1", "configmaps", "ConfigMap", short_names=("cm",))
NODES = ResourceType(
    "",
    "v1",
    "nodes",
    "Node",
    namespaced=False,
    subresources=(Subresource("status", "Node", ("get", "patch", "update")),),
    short_names=("no",),
    status_is_subresource=True,
)
EVENTS = ResourceType("", "v1", "events", "Event", short_names=("ev",))
NAMESPACES = ResourceType(
    "",
    "v1",
    "namespaces",
    "Namespace",
    namespaced=False,
    verbs=("create", "delete", "get", "list", "patch", "update", "watch"),
    short_names=("ns",),
)
DEPLOYMENTS = ResourceType(
    "apps",
    "v1",
    "deployments",
    "Deployment",
    subresources=(
        Subresource("scale", "Scale", ("get", "patch", "update"), "autoscaling", "v1"),
        Subresource("status", "Deployment", ("get", "patch", "update")),
    ),
    short_names=("deploy",),
    has_generation=True,
    status_is_subresource=True,
    categories=("all",),
)
REPLICASETS = ResourceType(
    "apps",
    "v1",
    "replicasets",
    "ReplicaSet",
    subresources=(
        Subresource("scale", "Scale", ("get", "patch", "update"), "autoscaling", "v1"),
        Subresource("status", "ReplicaSet", ("get", "patch", "update")),
    ),
    short_names=("rs",),
    has_generation=True,
    status_is_subresource=True,
    categories=("all",),
)
JOBS = ResourceType(
    "batch",
    "v1",
    "jobs",
    "Job",
    subresources=(Subresource("status", "Job", ("get", "patch", "update")),),
    has_generation=True,
    status_is_subresource=True,
    default_propagation="Orphan",
    categories=("all",),
)
HPAS = ResourceType(
    "autoscaling",
    "v2",
    "horizontalpodautoscalers",
    "HorizontalPodAutoscaler",
    subresources=(Subresource("status", "HorizontalPodAutoscaler", ("get", "patch", "update")),),
    short_names=("hpa",),
    has_generation=True,
    status_is_subresource=True,
    categories=("all",),
)
POD_METRICS = ResourceType(
    "metrics.k8s.io", "v1beta1", "pods", "PodMetrics", verbs=_RO, metrics=True
)
NODE_METRICS = ResourceType(
    "metrics.k8s.io", "v1beta1", "nodes", "NodeMetrics", namespaced=False, verbs=_RO, metrics=True
)

# What deploy/kubernetes/ creates for the bot itself, so `kubectl apply` (dry runs in
# tests/integration/test_kubectl_apply.py) finds every kind it maps. Kept and served
# like any object; the emulator gives them no behaviour of their own.
SERVICES = ResourceType(
    "",
    "v1",
    "services",
    "Service",
    subresources=(Subresource("status", "Service", ("get", "patch", "update")),),
    short_names=("svc",),
    status_is_subresource=True,
    categories=("all",),
)
SERVICE_ACCOUNTS = ResourceType("", "v1", "serviceaccounts", "ServiceAccount", short_names=("sa",))
SECRETS = ResourceType("", "v1", "secrets", "Secret")
PDBS = ResourceType(
    "policy",
    "v1",
    "poddisruptionbudgets",
    "PodDisruptionBudget",
    subresources=(Subresource("status", "PodDisruptionBudget", ("get", "patch", "update")),),
    short_names=("pdb",),
    has_generation=True,
    status_is_subresource=True,
)
_RBAC = "rbac.authorization.k8s.io"
ROLES = ResourceType(_RBAC, "v1", "roles", "Role")
ROLE_BINDINGS = ResourceType(_RBAC, "v1", "rolebindings", "RoleBinding")
CLUSTER_ROLES = ResourceType(_RBAC, "v1", "clusterroles", "ClusterRole", namespaced=False)
CLUSTER_ROLE_BINDINGS = ResourceType(
    _RBAC, "v1", "clusterrolebindings", "ClusterRoleBinding", namespaced=False
)

RESOURCES: tuple[ResourceType, ...] = (
    PODS,
    CONFIGMAPS,
    NODES,
    EVENTS,
    NAMESPACES,
    SERVICES,
    SERVICE_ACCOUNTS,
    SECRETS,
    DEPLOYMENTS,
    REPLICASETS,
    JOBS,
    HPAS,
    PDBS,
    ROLES,
    ROLE_BINDINGS,
    CLUSTER_ROLES,
    CLUSTER_ROLE_BINDINGS,
    POD_METRICS,
    NODE_METRICS,
)

GROUP_ORDER = ("apps", "autoscaling", "batch", "policy", _RBAC, "metrics.k8s.io")


def lookup(group: str, version: str, resource: str) -> ResourceType | None:
    for rtype in RESOURCES:
        if (rtype.group, rtype.version, rtype.resource) == (group, version, resource):
            return rtype
    return None


def find(name: str) -> ResourceType:
    """A resource type from a name a person would type: ``deployments``, ``deploy``,
    ``deployments.apps``, ``Deployment``, ``hpa``. Metrics types need ``pods.metrics.k8s.io``."""
    wanted = name.strip()
    for rtype in RESOURCES:
        if wanted in (rtype.qualified, f"{rtype.resource}.{rtype.group}"):
            return rtype
    lowered = wanted.lower()
    for rtype in RESOURCES:
        if rtype.metrics:
            continue
        names = {rtype.resource, rtype.singular, *rtype.short_names}
        if lowered in names:
            return rtype
    raise KeyError(f"unknown resource {name!r}")


def _resource_doc(rtype: ResourceType) -> list[JSON]:
    docs: list[JSON] = []
    main: JSON = {
        "name": rtype.resource,
        "singularName": rtype.singular,
        "namespaced": rtype.namespaced,
        "kind": rtype.kind,
        "verbs": list(rtype.verbs),
    }
    if rtype.short_names:
        main["shortNames"] = list(rtype.short_names)
    if rtype.categories:
        main["categories"] = list(rtype.categories)
    docs.append(main)
    for sub in rtype.subresources:
        doc: JSON = {
            "name": f"{rtype.resource}/{sub.name}",
            "singularName": "",
            "namespaced": rtype.namespaced,
            "kind": sub.kind or rtype.kind,
            "verbs": list(sub.verbs),
        }
        if sub.group is not None:
            doc["group"] = sub.group
            doc["version"] = sub.version
        docs.append(doc)
    return docs


def resource_list(group: str, version: str, *, metrics_enabled: bool) -> JSON | None:
    types = [r for r in RESOURCES if (r.group, r.version) == (group, version)]
    if not types or (types[0].metrics and not metrics_enabled):
        return None
    resources: list[JSON] = []
    for rtype in types:
        resources.extend(_resource_doc(rtype))
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": resources,
    }


def api_versions(server_address: str) -> JSON:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ],
    }


def api_group(group: str, *, metrics_enabled: bool) -> JSON | None:
    if group == "metrics.k8s.io" and not metrics_enabled:
        return None
    versions = sorted({r.version for r in RESOURCES if r.group == group and r.group})
    if not versions:
        return None
    entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": group,
        "versions": entries,
        "preferredVersion": entries[0],
    }


def api_group_list(*, metrics_enabled: bool) -> JSON:
    groups = []
    for name in GROUP_ORDER:
        doc = api_group(name, metrics_enabled=metrics_enabled)
        if doc is not None:
            doc = dict(doc)
            doc.pop("kind")
            doc.pop("apiVersion")
            groups.append(doc)
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


VERSION_INFO: JSON = {
    "major": "1",
    "minor": "33",
    "emulationMajor": "1",
    "emulationMinor": "33",
    "minCompatibilityMajor": "1",
    "minCompatibilityMinor": "32",
    "gitVersion": "v1.33.0-backlog-bot-emulator",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2025-04-23T00:00:00Z",
    "goVersion": "go1.24.2",
    "compiler": "gc",
    "platform": "linux/amd64",
}
