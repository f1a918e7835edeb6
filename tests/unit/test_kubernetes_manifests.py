"""deploy/kubernetes/ holds API objects a cluster accepts, and `-k` renders them all.

Two schema checks, because each misses something the other catches:
- the ``kubernetes`` client's models (pydantic, strict types, required fields), read
  back with ``ApiClient.sanitize_for_serialization`` and compared with the file: the
  models drop a field they do not know instead of refusing it, so a typo only shows as
  a difference;
- ``kubernetes-validate``'s strict JSON schemas of a given Kubernetes version (no
  unknown fields), for the oldest version the manifests claim (``MIN_KUBERNETES``) and
  the newest it ships, so a field too new for an older cluster is caught too.
Neither checks enumerated values or quantities; those the wiring tests check where the
bot depends on them (tests/unit/test_kubernetes_wiring.py).
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import textwrap
from importlib.metadata import version
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from kubernetes.client import ApiClient
from pydantic import ValidationError

from bot.domain.playbook import load_playbook
from tests.kube_manifests import (
    JSON,
    KUBE,
    MANIFESTS,
    PACKAGED_PLAYBOOK,
    ROOT,
    SECRET_TEMPLATE,
    container,
    deployment,
    documents,
    kubectl,
    kustomization,
    objects,
    pod_spec,
    rendered,
    run_kubectl,
)

#: The oldest Kubernetes the manifests are for: `matchLabelKeys` (topology spread) and
#: the PDB's `unhealthyPodEvictionPolicy` are beta and on by default from 1.27.
MIN_KUBERNETES = "1.27"
NAMESPACE = "phishnet"
CLUSTER_SCOPED = {"ClusterRole", "ClusterRoleBinding"}

needs_kubectl = pytest.mark.skipif(
    kubectl() is None,
    reason="kubectl is not installed (Debian: apt-get install kubernetes-client)",
)

ALL_DOCUMENTS = [
    pytest.param(doc, id=f"{path.name}:{doc['kind']}/{doc['metadata']['name']}")
    for path in MANIFESTS
    for doc in documents(path)
]


def model_round_trip(doc: JSON) -> JSON:
    """``doc`` read into the client's model for its kind and written back."""
    api = ApiClient()
    group_version = doc["apiVersion"].split("/")[-1]
    model = api.deserialize(json.dumps(doc), f"{group_version.capitalize()}{doc['kind']}", None)
    written: JSON = api.sanitize_for_serialization(model)
    return written


@pytest.mark.parametrize("doc", ALL_DOCUMENTS)
def test_the_client_models_read_every_object_back_unchanged(doc):
    assert model_round_trip(doc) == doc


@pytest.mark.parametrize("doc", ALL_DOCUMENTS)
@pytest.mark.parametrize("kube_version", [MIN_KUBERNETES, kubernetes_validate.latest_version()])
def test_every_object_meets_the_strict_schema_of_each_supported_version(doc, kube_version):
    kubernetes_validate.validate(doc, kube_version, strict=True)


def the_container(doc: JSON) -> JSON:
    first: JSON = doc["spec"]["template"]["spec"]["containers"][0]
    return first


def broken(change) -> JSON:
    doc = copy.deepcopy(deployment())
    change(doc)
    return doc


def test_the_schema_checks_refuse_typos_wrong_types_and_missing_fields():
    typo = broken(lambda d: the_container(d).update(readinesProbe={"httpGet": {"port": 1}}))
    assert model_round_trip(typo) != typo  # the models drop it silently...
    with pytest.raises(kubernetes_validate.ValidationError, match="readinesProbe"):
        kubernetes_validate.validate(typo, MIN_KUBERNETES, strict=True)  # ...the schema not

    quoted = broken(lambda d: d["spec"].update(replicas="2"))
    with pytest.raises(ValidationError, match="replicas"):
        model_round_trip(quoted)
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(quoted, MIN_KUBERNETES, strict=True)

    no_selector = broken(lambda d: d["spec"].pop("selector"))
    with pytest.raises(ValidationError, match="selector"):
        model_round_trip(no_selector)

    # A field newer than the oldest supported version: the pod-level `resources`
    # (Kubernetes 1.32) is unknown to 1.27's schema.
    too_new = broken(lambda d: d["spec"]["template"]["spec"].update(resources={}))
    kubernetes_validate.validate(too_new, kubernetes_validate.latest_version(), strict=True)
    with pytest.raises(kubernetes_validate.ValidationError, match="resources"):
        kubernetes_validate.validate(too_new, MIN_KUBERNETES, strict=True)


def test_every_object_lives_in_the_playbook_namespace():
    namespace = load_playbook(PACKAGED_PLAYBOOK).namespace
    assert namespace == NAMESPACE
    for (kind, name), doc in objects().items():
        expected = None if kind in CLUSTER_SCOPED else NAMESPACE
        assert doc["metadata"].get("namespace") == expected, (kind, name)
        assert doc["metadata"]["labels"]["app.kubernetes.io/name"] == "backlog-bot", (kind, name)


def test_the_kustomization_lists_every_manifest_but_the_secret_template():
    listed = kustomization()["resources"]
    assert sorted(listed) == sorted(p.name for p in MANIFESTS if p != SECRET_TEMPLATE)
    # Applying placeholders over real credentials would take the bot down.
    assert SECRET_TEMPLATE.name not in listed
    assert "secretGenerator" not in kustomization()


def test_the_playbook_config_map_is_the_packaged_playbook():
    [generator] = kustomization()["configMapGenerator"]
    [file] = generator["files"]
    assert (KUBE / file).read_bytes() == PACKAGED_PLAYBOOK.read_bytes(), (
        f"deploy/kubernetes/{file} differs from bot/playbooks/queue-backlog.yml: copy it over"
    )
    assert generator["namespace"] == NAMESPACE  # else it lands in kubectl's current one
    [volume] = [v for v in pod_spec()["volumes"] if "configMap" in v]
    assert volume["configMap"]["name"] == generator["name"]


def test_the_image_is_a_placeholder_of_this_version():
    image = container()["image"]
    name, tag = image.rsplit(":", 1)
    # .invalid never resolves (RFC 2606): an unedited manifest pulls nothing.
    assert name.split("/")[0].endswith(".invalid")
    assert tag == version("backlog-bot")
    [entry] = kustomization()["images"]
    assert (entry["name"], entry["newName"], entry["newTag"]) == (name, name, tag)


@needs_kubectl
def test_apply_k_renders_every_object_with_the_playbook_and_its_hashed_name(tmp_path: Path):
    docs = rendered(tmp_path)
    [config_map] = [d for d in docs if d["kind"] == "ConfigMap"]
    applied = objects([p for p in MANIFESTS if p != SECRET_TEMPLATE])
    assert {(d["kind"], d["metadata"]["name"]) for d in docs} == {
        *applied,
        ("ConfigMap", config_map["metadata"]["name"]),
    }
    assert config_map["data"] == {"queue-backlog.yml": PACKAGED_PLAYBOOK.read_text()}
    assert config_map["metadata"]["namespace"] == NAMESPACE
    [bot] = [d for d in docs if d["kind"] == "Deployment"]
    volumes = bot["spec"]["template"]["spec"]["volumes"]
    [mounted] = [v["configMap"]["name"] for v in volumes if "configMap" in v]
    # The content hash in the name: a changed playbook is a new pod template.
    assert mounted == config_map["metadata"]["name"] != "backlog-bot-playbooks"
    assert mounted.startswith("backlog-bot-playbooks-")
    for doc in docs:
        assert model_round_trip(doc) == doc
        kubernetes_validate.validate(doc, MIN_KUBERNETES, strict=True)


@needs_kubectl
def test_the_overlay_in_the_docs_replaces_the_playbook_and_the_image(tmp_path: Path):
    docs = (ROOT / "docs" / "deploy.md").read_text()
    block = re.search(r"^ {6}# my-bot/kustomization\.yaml.*\n((?: {6}.*\n|\n)+)", docs, re.M)
    assert block, "docs/deploy.md has no overlay example"
    overlay = textwrap.dedent(block.group(1))
    overlay = overlay.replace("<your image>", "ghcr.io/acme/backlog-bot").replace("<tag>", "9.9")
    shutil.copytree(KUBE, tmp_path / "deploy" / "kubernetes")
    (tmp_path / "my-bot").mkdir()
    (tmp_path / "my-bot" / "kustomization.yaml").write_text(overlay)
    own = PACKAGED_PLAYBOOK.read_text().replace("threshold: 1000", "threshold: 3000")
    (tmp_path / "my-bot" / "queue-backlog.yml").write_text(own)
    done = run_kubectl("kustomize", "my-bot", env={"HOME": str(tmp_path)}, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    docs_out = [d for d in yaml.safe_load_all(done.stdout) if d]
    [config_map] = [d for d in docs_out if d["kind"] == "ConfigMap"]
    assert config_map["data"] == {"queue-backlog.yml": own}
    [bot] = [d for d in docs_out if d["kind"] == "Deployment"]
    assert bot["spec"]["template"]["spec"]["containers"][0]["image"] == (
        "ghcr.io/acme/backlog-bot:9.9"
    )
