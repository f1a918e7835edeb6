"""deploy/kubernetes/ as a cluster and a pod would take it.

- ``kubectl apply --dry-run=client`` over every manifest file and over ``-k``. kubectl
  needs an API server even then (it maps each kind to a resource through discovery
  and reads the live object to compute the change), so it talks to the Kubernetes
  emulator; ``--validate=false`` because schema validation downloads the server's
  OpenAPI document, which the emulator does not serve: the schemas are checked in
  tests/unit/test_kubernetes_manifests.py instead.
- ``backlog-bot serve`` started with exactly the Deployment's environment (its
  Secrets filled with test values, its volumes as directories, the ConfigMap's
  playbook in the mounted path) answers the probes, takes Alertmanager's token, and
  stops within the grace period; with the template's placeholders it does not start.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import sys
import time
from pathlib import Path

import aiohttp
import pytest
from kubernetes import client, config, utils

from bot.emulators.kube import KubeEmulator
from bot.emulators.slack_api import SlackEmulator
from tests.kube_manifests import (
    KUBE,
    MANIFESTS,
    ROOT,
    SECRET_TEMPLATE,
    container,
    documents,
    kubectl,
    kustomization,
    pod_spec,
    run_kubectl,
)

needs_kubectl = pytest.mark.skipif(
    kubectl() is None,
    reason="kubectl is not installed (Debian: apt-get install kubernetes-client)",
)


def dry_run(tmp_path: Path, *source: str) -> set[str]:
    """``kubectl apply --dry-run=client`` against the emulator: the objects it would
    create, as ``kind/name`` the way kubectl prints them."""
    with KubeEmulator() as kube:
        kubeconfig = kube.write_kubeconfig(tmp_path / "kubeconfig")
        env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "KUBECONFIG": str(kubeconfig)}
        done = run_kubectl(
            "apply",
            "--dry-run=client",
            "--validate=false",
            f"--cache-dir={tmp_path / 'cache'}",
            *source,
            env=env,
        )
        writes = [r for r in kube.gate.records if r.verb not in ("get", "list", "watch")]
    assert done.returncode == 0, done.stderr
    assert writes == []  # a client dry run changes nothing
    printed = set()
    for line in done.stdout.splitlines():
        assert line.endswith(" created (dry run)"), line
        printed.add(line.removesuffix(" created (dry run)"))
    return printed


def kubectl_names(docs: list[dict]) -> set[str]:
    """How kubectl names objects: ``deployment.apps/backlog-bot``, ``service/x``."""
    names = set()
    for doc in docs:
        group = doc["apiVersion"].rpartition("/")[0]
        kind = doc["kind"].lower() + (f".{group}" if group else "")
        names.add(f"{kind}/{doc['metadata']['name']}")
    return names


@needs_kubectl
@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_kubectl_accepts_every_manifest_file(path: Path, tmp_path: Path):
    assert dry_run(tmp_path, "-f", str(path)) == kubectl_names(documents(path))


@needs_kubectl
def test_kubectl_accepts_the_kustomization(tmp_path: Path):
    printed = dry_run(tmp_path, "-k", str(KUBE))
    applied = [p for p in MANIFESTS if p != SECRET_TEMPLATE]
    [config_map] = [name for name in printed if name.startswith("configmap/")]
    assert config_map.startswith("configmap/backlog-bot-playbooks-")  # generated, hashed
    assert printed - {config_map} == kubectl_names([d for p in applied for d in documents(p)])


def test_the_services_and_the_budget_select_the_pods_the_deployment_makes(tmp_path: Path):
    """Through the ``kubernetes`` client (no kubectl needed): every object is created on
    the emulator, whose controller starts the Deployment's pods; each Service's and the
    budget's selector, asked of the API server, finds exactly those pods."""
    applied = [d for p in MANIFESTS if p != SECRET_TEMPLATE for d in documents(p)]
    with KubeEmulator(namespaces=("default", "phishnet")) as kube:
        api = config.new_client_from_config(str(kube.write_kubeconfig(tmp_path / "kubeconfig")))
        with api:
            utils.create_from_yaml(api, yaml_objects=applied)
            core = client.CoreV1Api(api)
            pods = core.list_namespaced_pod("phishnet").items
            selectors = {
                f"service/{s.metadata.name}": s.spec.selector
                for s in core.list_namespaced_service("phishnet").items
            }
            for budget in (
                client.PolicyV1Api(api).list_namespaced_pod_disruption_budget("phishnet").items
            ):
                selectors[f"pdb/{budget.metadata.name}"] = budget.spec.selector.match_labels
            selected = {
                name: {
                    p.metadata.name
                    for p in core.list_namespaced_pod(
                        "phishnet", label_selector=",".join(f"{k}={v}" for k, v in sel.items())
                    ).items
                }
                for name, sel in selectors.items()
            }
    bot_pods = {p.metadata.name for p in pods if p.metadata.name.startswith("backlog-bot-")}
    assert len(bot_pods) == 2
    assert set(selected) == {
        "service/backlog-bot", "service/backlog-bot-headless", "pdb/backlog-bot"
    }  # fmt: skip
    for name, found in selected.items():
        assert found == bot_pods, name


# --- the pod's environment ------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pod_environment(
    root: Path, secrets_data: dict[str, dict[str, str]], port: int
) -> dict[str, str]:
    """The container's environment, its volumes as directories under ``root``.

    ``secrets_data`` stands for the Secrets (name -> key -> value): ``envFrom`` takes a
    whole Secret, ``secretKeyRef`` one key (optional ones may be absent), and ``env``
    wins over ``envFrom`` as in Kubernetes. Literal values as written (``PORT`` moved
    to ``port``: 3000 may be taken here), paths under a volume mount moved under
    ``root``, and the playbook ConfigMap's file written where the mount puts it.
    """
    moved = {m["mountPath"]: root / m["mountPath"].lstrip("/") for m in container()["volumeMounts"]}
    for path in moved.values():
        path.mkdir(parents=True)
    [generator] = kustomization()["configMapGenerator"]
    [config_volume] = [v for v in pod_spec()["volumes"] if "configMap" in v]
    [config_mount] = [m for m in container()["volumeMounts"] if m["name"] == config_volume["name"]]
    for file in generator["files"]:
        source = KUBE / file
        (moved[config_mount["mountPath"]] / source.name).write_bytes(source.read_bytes())

    (root / "home").mkdir()
    env = {"PATH": os.environ["PATH"], "HOME": str(root / "home")}
    for source in container()["envFrom"]:
        ref = source["secretRef"]
        assert ref["name"] in secrets_data or ref.get("optional"), ref["name"]
        env.update(secrets_data.get(ref["name"], {}))
    for variable in container()["env"]:
        name = variable["name"]
        if "value" in variable:
            value = variable["value"]
            under = [m for m in moved if (value + "/").startswith(m + "/")]
            if under:
                mount_path = max(under, key=len)
                value = str(moved[mount_path]) + value.removeprefix(mount_path)
            env[name] = value
            continue
        ref = variable["valueFrom"]["secretKeyRef"]
        data = secrets_data.get(ref["name"], {})
        if ref["key"] in data:
            env[name] = data[ref["key"]]
        else:
            assert ref.get("optional"), f"no value for {ref['name']}'s key {ref['key']}"
    env["PORT"] = str(port)
    return env


def written(env: dict[str, str]) -> tuple[list[Path], list[Path]]:
    """matplotlib's font caches in MPLCONFIGDIR, and whatever is in HOME."""
    fonts = list(Path(env["MPLCONFIGDIR"]).glob("fontlist-*.json"))
    return fonts, list(Path(env["HOME"]).iterdir())


async def wait_healthy(http: aiohttp.ClientSession, base: str, proc) -> None:
    path = container()["startupProbe"]["httpGet"]["path"]
    for _ in range(600):
        if proc.returncode is not None:
            err = await proc.stderr.read()
            raise AssertionError(f"the bot exited during start-up: {err.decode()[-2000:]}")
        try:
            async with http.get(base + path) as resp:
                if resp.status == 200:
                    return
        except aiohttp.ClientConnectionError:
            pass
        await asyncio.sleep(0.1)
    raise AssertionError("the start-up probe never succeeded")


async def test_the_pod_environment_starts_a_bot_that_answers_its_probes_and_stops_in_time(
    redis_url, migrated_database, tmp_path
):
    token, signing, alert_token = "xoxb-pod-test", secrets.token_hex(8), secrets.token_hex(16)
    slack = SlackEmulator(bot_token=token, channels={"C1": "phishnet-incidents"})
    kube = KubeEmulator()
    await slack.start()
    await kube.start()
    port = free_port()
    env = pod_environment(
        tmp_path / "pod",
        {
            "backlog-bot": {
                "SLACK_BOT_TOKEN": token,
                "SLACK_SIGNING_SECRET": signing,
                "DATABASE_URL": migrated_database,
                "REDIS_URL": redis_url,
                "ALERTMANAGER_TOKEN": alert_token,
            }
        },
        port,
    )
    # What the cluster gives a pod rather than the manifest: where Slack is (here the
    # emulator) and the Kubernetes credentials (here a kubeconfig, there the token).
    env["SLACK_API_URL"] = slack.api_url
    env["KUBECONFIG"] = str(kube.write_kubeconfig(tmp_path / "kubeconfig", namespace="phishnet"))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", *container()["args"], env=env, cwd=ROOT,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            await wait_healthy(http, base, proc)
            async with http.get(base + container()["livenessProbe"]["httpGet"]["path"]) as resp:
                assert resp.status == 200
            async with http.get(base + container()["readinessProbe"]["httpGet"]["path"]) as resp:
                assert resp.status == 200
                checks = (await resp.json())["checks"]
            # Ready means Slack, PostgreSQL and Redis all answered, whatever the shape.
            assert {"slack", "postgres", "redis"} <= set(checks)
            # Alertmanager's bearer token comes from the Secret: without it, refused.
            async with http.post(f"{base}/alertmanager", json={}) as resp:
                assert resp.status == 401
            async with http.post(
                f"{base}/alertmanager",
                data=b"{}",
                headers={"Authorization": f"Bearer {alert_token}"},
            ) as resp:
                assert resp.status == 400  # past the token, to the payload's check
        started = time.monotonic()
        proc.terminate()  # what the kubelet does after the preStop pause
        _, err = await asyncio.wait_for(proc.communicate(), 60)
        stopped_in = time.monotonic() - started
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await kube.stop()
        await slack.stop()
    # The root is read-only in the pod: the bot's writes (matplotlib's font cache) land
    # on the volumes, none in HOME.
    font_cache, in_home = written(env)
    assert font_cache and in_home == []
    pause = int(container()["lifecycle"]["preStop"]["exec"]["command"][1])
    assert stopped_in < pod_spec()["terminationGracePeriodSeconds"] - pause
    assert token.encode() not in err and signing.encode() not in err
    assert alert_token.encode() not in err


async def test_the_secret_template_s_placeholders_do_not_start_a_bot(tmp_path):
    placeholders = {s["metadata"]["name"]: s["stringData"] for s in documents(SECRET_TEMPLATE)}
    env = pod_environment(tmp_path / "pod", placeholders, free_port())
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", *container()["args"], env=env, cwd=ROOT,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        _, err = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    # It stops at start-up with its reason on stderr, never serving Slack with junk
    # credentials (a Pod in CrashLoopBackOff, its log saying why).
    assert proc.returncode != 0
    assert err.strip()
