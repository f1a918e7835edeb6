"""deploy/kubernetes/ as the tests read it: the files, the objects, the bot's pod.

Plain YAML dicts (what `kubectl` sends), looked up by kind and name; the typed checks
(the ``kubernetes`` client's models, JSON schemas) are in the tests themselves.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).parents[1]
KUBE = ROOT / "deploy" / "kubernetes"
KUSTOMIZATION = KUBE / "kustomization.yaml"
SECRET_TEMPLATE = KUBE / "secret.template.yaml"
#: Every manifest file (the kustomization itself is kustomize's, not an API object).
MANIFESTS = sorted(p for p in KUBE.glob("*.yaml") if p != KUSTOMIZATION)
PACKAGED_PLAYBOOK = ROOT / "bot" / "playbooks" / "queue-backlog.yml"

JSON = dict[str, Any]


def documents(path: Path) -> list[JSON]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def objects(paths: list[Path] = MANIFESTS) -> dict[tuple[str, str], JSON]:
    """Every object of ``paths`` by ``(kind, name)``."""
    found: dict[tuple[str, str], JSON] = {}
    for path in paths:
        for doc in documents(path):
            key = (doc["kind"], doc["metadata"]["name"])
            assert key not in found, f"{key} is defined twice"
            found[key] = doc
    return found


def kustomization() -> JSON:
    loaded: JSON = yaml.safe_load(KUSTOMIZATION.read_text())
    return loaded


def deployment() -> JSON:
    return objects()[("Deployment", "backlog-bot")]


def pod_spec() -> JSON:
    spec: JSON = deployment()["spec"]["template"]["spec"]
    return spec


def pod_labels() -> dict[str, str]:
    labels: dict[str, str] = deployment()["spec"]["template"]["metadata"]["labels"]
    return labels


def container() -> JSON:
    [bot] = pod_spec()["containers"]
    return bot


def plain_env() -> dict[str, str]:
    """The container's literal ``env`` values by name."""
    return {e["name"]: e["value"] for e in container()["env"] if "value" in e}


def secret_refs() -> dict[str, JSON]:
    """The container's ``secretKeyRef``s by variable name."""
    return {
        e["name"]: e["valueFrom"]["secretKeyRef"]
        for e in container()["env"]
        if "secretKeyRef" in e.get("valueFrom", {})
    }


def mount_of(path: str) -> tuple[JSON, JSON]:
    """The volumeMount whose mountPath holds ``path``, and its volume."""
    mounts = [
        m for m in container()["volumeMounts"] if (path + "/").startswith(m["mountPath"] + "/")
    ]
    assert mounts, f"{path} is on no volume"
    mount = max(mounts, key=lambda m: len(m["mountPath"]))
    [volume] = [v for v in pod_spec()["volumes"] if v["name"] == mount["name"]]
    return mount, volume


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def kubectl() -> str | None:
    return shutil.which("kubectl")


def run_kubectl(
    *args: str, env: dict[str, str], cwd: Path = ROOT
) -> subprocess.CompletedProcess[str]:
    binary = kubectl()
    assert binary is not None
    return subprocess.run(
        [binary, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def rendered(tmp: Path) -> list[JSON]:
    """``kubectl kustomize deploy/kubernetes``: what ``apply -k`` sends. Needs no cluster."""
    done = run_kubectl("kustomize", str(KUBE), env={"HOME": str(tmp), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]
