"""Access on the Kubernetes emulator: RBAC with the real messages, recorded requests for
role checks, injected failures and delays, API priority and fairness throttling."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from bot.emulators.kube_api import (
    KubeEmulator,
    PolicyRule,
    RequestRecord,
    disallowed_requests,
    load_rules_from_role_yaml,
    unused_permissions,
)
from tests.emulators.kube.support import (
    NS,
    apps_api,
    core_api,
    replicas_of,
    seed_worker,
    status_of,
)

# --- RBAC, recording, faults ------------------------------------------------------------------


ROLE_YAML = """\
apiVersion: v1
kind: ServiceAccount
metadata: {name: backlog-bot, namespace: phishnet}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: backlog-bot, namespace: phishnet}
rules:
  - apiGroups: ["apps"]
    resources: ["deployments"]
    verbs: ["get", "list"]
  - apiGroups: ["apps"]
    resources: ["deployments/scale"]
    verbs: ["get"]
  - apiGroups: [""]
    resources: ["pods", "pods/log"]
    verbs: ["get", "list"]
"""


def test_rbac_forbids_with_the_real_message(
    emulator: KubeEmulator, api: client.ApiClient, tmp_path: Path
) -> None:
    seed_worker(emulator)
    role = tmp_path / "role.yaml"
    role.write_text(ROLE_YAML)
    rules = load_rules_from_role_yaml(role)
    assert rules[1] == PolicyRule(("apps",), ("deployments/scale",), ("get",))
    emulator.rbac_rules = rules
    emulator.user = "system:serviceaccount:phishnet:backlog-bot"
    apps = apps_api(api)

    assert apps.read_namespaced_deployment_scale("phishnet-worker-email", NS).spec.replicas == 2
    with pytest.raises(ApiException) as info:
        apps.patch_namespaced_deployment_scale(
            "phishnet-worker-email", NS, {"spec": {"replicas": 4}}
        )
    assert info.value.status == 403
    status = status_of(info.value)
    assert status["reason"] == "Forbidden"
    assert status["message"] == (
        'deployments.apps "phishnet-worker-email" is forbidden: User '
        '"system:serviceaccount:phishnet:backlog-bot" cannot patch resource "deployments/scale" '
        'in API group "apps" in the namespace "phishnet"'
    )
    assert status["details"] == {
        "name": "phishnet-worker-email",
        "group": "apps",
        "kind": "deployments",
    }
    with pytest.raises(ApiException) as info:
        core_api(api).list_node()
    assert status_of(info.value)["message"] == (
        'nodes is forbidden: User "system:serviceaccount:phishnet:backlog-bot" cannot list '
        'resource "nodes" in API group "" at the cluster scope'
    )
    assert replicas_of(emulator) == 2


def test_requests_are_recorded_for_role_checks(
    emulator: KubeEmulator, api: client.ApiClient, tmp_path: Path
) -> None:
    seed_worker(emulator)
    emulator.clear_requests()
    apps = apps_api(api)
    core = core_api(api)
    apps.list_namespaced_deployment(NS, label_selector="component=worker")
    apps.read_namespaced_deployment_scale("phishnet-worker-email", NS)
    pod = core.list_namespaced_pod(NS).items[0].metadata.name
    core.read_namespaced_pod_log(pod, NS, tail_lines=10)
    with pytest.raises(ApiException):
        apps.read_namespaced_deployment("missing", NS)

    assert emulator.requests == [
        RequestRecord("list", "apps", "deployments", None, NS, None),
        RequestRecord("get", "apps", "deployments", "scale", NS, "phishnet-worker-email"),
        RequestRecord("list", "", "pods", None, NS, None),
        RequestRecord("get", "", "pods", "log", NS, pod),
        RequestRecord("get", "apps", "deployments", None, NS, "missing"),
    ]
    assert [r.code for r in emulator.requests] == [200, 200, 200, 200, 404]

    role = tmp_path / "role.yaml"
    role.write_text(ROLE_YAML)
    rules = load_rules_from_role_yaml(role)
    assert disallowed_requests(rules, emulator.requests) == []
    assert unused_permissions(rules, emulator.requests) == [
        ("", "pods", "get"),
        ("", "pods/log", "list"),
    ]
    assert (
        disallowed_requests(
            rules, [RequestRecord("patch", "apps", "deployments", "scale", NS, "x")]
        )
        != []
    )


def test_injected_failures_and_delays(emulator: KubeEmulator, api: client.ApiClient) -> None:
    seed_worker(emulator)
    apps = apps_api(api)
    emulator.fail_next("patch", "deployments/scale", status=500)
    with pytest.raises(ApiException) as info:
        apps.patch_namespaced_deployment_scale(
            "phishnet-worker-email", NS, {"spec": {"replicas": 3}}
        )
    assert info.value.status == 500
    assert status_of(info.value)["reason"] == "InternalError"
    assert replicas_of(emulator) == 2
    # only once: the retry goes through
    assert (
        apps.patch_namespaced_deployment_scale(
            "phishnet-worker-email", NS, {"spec": {"replicas": 3}}
        ).spec.replicas
        == 3
    )

    emulator.fail_next("GET", "deployments", status=503, times=2)
    for _ in range(2):
        with pytest.raises(ApiException) as info:
            apps.read_namespaced_deployment("phishnet-worker-email", NS)
        assert info.value.status == 503
        assert status_of(info.value)["reason"] == "ServiceUnavailable"
    assert apps.read_namespaced_deployment("phishnet-worker-email", NS).spec.replicas == 3

    emulator.fail_next("patch", "deployments/scale", status=409)
    with pytest.raises(ApiException) as info:
        apps.patch_namespaced_deployment_scale(
            "phishnet-worker-email", NS, {"spec": {"replicas": 4}}
        )
    assert status_of(info.value)["reason"] == "Conflict"

    # urllib3 retries a read timeout 3 times on its own, then gives up
    emulator.clear_requests()
    emulator.delay_next("get", "deployments/scale", seconds=0.5, times=4)
    with pytest.raises(urllib3.exceptions.MaxRetryError) as timeout:
        apps.read_namespaced_deployment_scale("phishnet-worker-email", NS, _request_timeout=0.2)
    assert isinstance(timeout.value.reason, urllib3.exceptions.ReadTimeoutError)
    assert len(emulator.requests) == 4
    assert (
        apps.read_namespaced_deployment_scale(
            "phishnet-worker-email", NS, _request_timeout=2
        ).spec.replicas
        == 3
    )


# --- the API server under load, paused deployments, pods that never become Ready -------------


def test_throttled_requests_are_answered_like_api_priority_and_fairness(
    emulator: KubeEmulator, tmp_path: Path
) -> None:
    seed_worker(emulator)
    path = emulator.write_kubeconfig(tmp_path / "kubeconfig", namespace=NS)
    cfg = client.Configuration()
    load: Any = config.load_kube_config
    load(config_file=str(path), client_configuration=cfg)
    cfg.retries = False  # urllib3 would otherwise honour Retry-After by itself
    with client.ApiClient(cfg) as api:
        apps = apps_api(api)
        emulator.throttle_next("patch", "deployments/scale", retry_after=7)
        with pytest.raises(ApiException) as info:
            apps.patch_namespaced_deployment_scale(
                "phishnet-worker-email", NS, {"spec": {"replicas": 5}}
            )
        assert info.value.status == 429
        assert info.value.headers["Retry-After"] == "7"
        status = status_of(info.value)
        assert status["kind"] == "Status" and status["reason"] == "TooManyRequests"
        assert status["message"] == "Too many requests, please try again later."
        assert status["details"] == {"retryAfterSeconds": 7}
        assert replicas_of(emulator) == 2  # a throttled request is not executed
        # per verb and resource: a read of the same deployment still goes through
        emulator.throttle_next("patch", "deployments/scale")
        assert apps.read_namespaced_deployment_scale("phishnet-worker-email", NS).spec.replicas == 2
        with pytest.raises(ApiException) as info:
            apps.patch_namespaced_deployment_scale(
                "phishnet-worker-email", NS, {"spec": {"replicas": 5}}
            )
        assert info.value.headers["Retry-After"] == "1"  # the API server's usual wait
        assert (
            apps.patch_namespaced_deployment_scale(
                "phishnet-worker-email", NS, {"spec": {"replicas": 5}}
            ).spec.replicas
            == 5
        )
    codes = [r.code for r in emulator.requests if r.resource == "deployments"]
    assert codes.count(429) == 2
