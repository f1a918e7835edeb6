"""Seeding helpers and accessors of ``KubeEmulator``: objects in the states tests
and the demo need, written straight into the store (no RBAC, not recorded).
Workloads are seeded by :mod:`seed_workloads`, the rest of the cluster by
:mod:`seed_cluster`."""

from __future__ import annotations

from bot.emulators.kube.seed_cluster import ClusterSeeding
from bot.emulators.kube.seed_workloads import WorkloadSeeding


class SeedingMixin(WorkloadSeeding, ClusterSeeding):
    """Every seeding helper and accessor, for ``KubeEmulator`` (via ``TroubleMixin``)."""
