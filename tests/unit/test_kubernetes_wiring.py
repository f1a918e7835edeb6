"""deploy/kubernetes/ agrees with itself, with the bot and with deploy/prometheus/.

Services and the PodDisruptionBudget select the Deployment's pods on the port the bot
listens on; the environment names only variables the bot (or matplotlib) reads; every
Secret key it references is in the template, whose values are all placeholders; the
pod can run on a read-only root; the stop fits in the grace period. That the probes'
paths answer, and how, is checked on a running bot (tests/integration/test_kubernetes_pod.py).
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import yaml
from kubernetes.utils import parse_quantity
from pydantic import BaseModel

from bot.domain.playbook import load_playbook
from bot.lifecycle import stop_bound_seconds
from bot.settings import Settings
from tests.kube_manifests import (
    JSON,
    PACKAGED_PLAYBOOK,
    ROOT,
    SECRET_TEMPLATE,
    container,
    deployment,
    documents,
    mount_of,
    objects,
    plain_env,
    pod_labels,
    pod_spec,
    secret_refs,
    selects,
)

PROMETHEUS = ROOT / "deploy" / "prometheus"

#: How long `backlog-bot serve` may take to stop after SIGTERM, from its own bounded
#: steps (bot/lifecycle.py) and the default BACKLOG_BOT_SHUTDOWN_GRACE.
BOT_STOP_SECONDS = stop_bound_seconds(Settings.model_fields["shutdown_grace_seconds"].default)
#: Read by a library, not by bot/settings.py.
LIBRARY_ENV = {"MPLCONFIGDIR": "matplotlib's config and cache directory"}


def settings_env_names() -> set[str]:
    """The environment variables bot/settings.py reads (case as documented)."""
    return {
        field.validation_alias if isinstance(field.validation_alias, str) else name.upper()
        for name, field in Settings.model_fields.items()
    }


def playbook_env_names(node: Any) -> Iterator[str]:
    """Every value of a playbook field named ``*_env`` (variables the playbook names)."""
    if isinstance(node, BaseModel):
        for name in type(node).model_fields:
            value = getattr(node, name)
            if name.endswith("_env") and isinstance(value, str):
                yield value
            else:
                yield from playbook_env_names(value)
    elif isinstance(node, dict):
        for value in node.values():
            yield from playbook_env_names(value)
    elif isinstance(node, list | tuple | set | frozenset):
        for value in node:
            yield from playbook_env_names(value)


def template() -> dict[str, JSON]:
    return {doc["metadata"]["name"]: doc for doc in documents(SECRET_TEMPLATE)}


def service(name: str) -> JSON:
    return objects()[("Service", name)]


def container_port(name_or_number: str | int) -> int:
    for port in container()["ports"]:
        if name_or_number in (port["name"], port["containerPort"]):
            number: int = port["containerPort"]
            return number
    raise AssertionError(f"the container has no port {name_or_number!r}")


def test_the_deployment_runs_two_replicas_of_its_own_pods():
    spec = deployment()["spec"]
    assert spec["replicas"] == 2
    assert spec["selector"]["matchLabels"] == pod_labels()
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0  # two serve throughout


def test_both_services_send_to_the_bot_port():
    listening = int(plain_env()["PORT"])
    assert container_port("http") == listening
    for name in ("backlog-bot", "backlog-bot-headless"):
        spec = service(name)["spec"]
        assert selects(spec["selector"], pod_labels()), name
        [port] = spec["ports"]
        assert container_port(port["targetPort"]) == listening, name


def test_alertmanager_posts_to_the_service_and_prometheus_finds_every_pod():
    hook = urlsplit(
        yaml.safe_load((PROMETHEUS / "alertmanager.yml").read_text())["receivers"][0][
            "webhook_configs"
        ][0]["url"]
    )
    assert hook.hostname is not None
    name, namespace = hook.hostname.split(".")[:2]
    bot = service(name)
    assert bot["metadata"]["namespace"] == namespace
    [port] = bot["spec"]["ports"]
    assert port["port"] == hook.port  # 3000 -> 3000: one port in every URL

    scrape = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())["scrape_configs"]
    [sd] = next(j for j in scrape if j["job_name"] == "backlog-bot")["dns_sd_configs"]
    [dns_name] = sd["names"]
    headless = service(dns_name.split(".")[0])
    assert headless["metadata"]["namespace"] == dns_name.split(".")[1]
    assert headless["spec"]["clusterIP"] == "None"  # A records of the pods themselves
    # ...so the scrape goes to the container's port, and reaches pods that are not Ready.
    assert sd["port"] == container_port("http")
    assert headless["spec"]["publishNotReadyAddresses"] is True


def test_the_disruption_budget_keeps_one_of_the_pods():
    budget = objects()[("PodDisruptionBudget", "backlog-bot")]["spec"]
    assert selects(budget["selector"]["matchLabels"], pod_labels())
    assert budget["minAvailable"] == 1 < deployment()["spec"]["replicas"]


def test_replicas_spread_across_nodes():
    [by_node] = [
        c
        for c in pod_spec()["topologySpreadConstraints"]
        if c["topologyKey"] == "kubernetes.io/hostname"
    ]
    assert by_node["whenUnsatisfiable"] == "DoNotSchedule" and by_node["maxSkew"] == 1
    assert selects(by_node["labelSelector"]["matchLabels"], pod_labels())


def test_probes_ask_the_bot_s_health_and_readiness_paths():
    bot = container()
    assert bot["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert bot["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert bot["readinessProbe"]["httpGet"]["path"] == "/readyz"
    for probe in ("livenessProbe", "startupProbe", "readinessProbe"):
        assert container_port(bot[probe]["httpGet"]["port"]) == int(plain_env()["PORT"])
    if importlib.util.find_spec("bot.readiness") is not None:  # the bounded checks
        from bot.readiness import CHECK_TIMEOUT_SECONDS

        assert bot["readinessProbe"]["timeoutSeconds"] > CHECK_TIMEOUT_SECONDS


def test_the_environment_names_only_variables_something_reads():
    playbook_names = set(playbook_env_names(load_playbook(PACKAGED_PLAYBOOK)))
    known = settings_env_names() | set(LIBRARY_ENV)
    for variable in container()["env"]:
        assert variable["name"] in known, f"nothing reads {variable['name']}"
    # The playbook's own variables come whole from one Secret (envFrom).
    [source] = container()["envFrom"]
    named = template()[source["secretRef"]["name"]]
    assert set(named["stringData"]) <= playbook_names
    assert "PHISHNET_DATABASE_URL" in playbook_names


def test_the_playbook_variable_points_at_the_mounted_config_map():
    path = plain_env()["PLAYBOOK"]
    mount, volume = mount_of(path)
    assert mount["readOnly"] is True
    assert path.removeprefix(mount["mountPath"] + "/") == PACKAGED_PLAYBOOK.name
    assert volume["configMap"]["name"] == "backlog-bot-playbooks"


def test_every_secret_key_referenced_is_in_the_template():
    secrets = template()
    text = SECRET_TEMPLATE.read_text()
    for variable, ref in secret_refs().items():
        assert ref["key"] == variable  # one name for the variable and its key
        data = secrets[ref["name"]]["stringData"]
        if ref.get("optional"):
            # Optional keys are there to uncomment, not set to a placeholder the bot
            # would try to use (a bogus app token would stop the start-up).
            assert variable not in data
            assert re.search(rf"^  # {variable}: \"REPLACE-ME", text, re.MULTILINE), variable
        else:
            assert variable in data, variable
    [source] = container()["envFrom"]
    assert source["secretRef"]["name"] in secrets and source["secretRef"]["optional"] is True


def test_the_secret_template_holds_only_placeholders():
    for secret in template().values():
        assert "data" not in secret  # base64 would hide what a value is
        for key, value in secret["stringData"].items():
            assert value.startswith("REPLACE-ME"), key
    text = SECRET_TEMPLATE.read_text()
    real_looking = [
        r"xox[a-z]-[0-9A-Za-z]",  # Slack bot/user tokens
        r"xapp-[0-9]",  # Slack app-level tokens
        r"\b[0-9a-f]{32}\b",  # signing secrets, PagerDuty routing keys
        r"://[^<\s\"]*:[^<\s\"]*@",  # URL credentials not written as <placeholders>
    ]
    for pattern in real_looking:
        assert not re.search(pattern, text), pattern


def test_the_pod_runs_unprivileged_on_a_read_only_root():
    pod = pod_spec()["securityContext"]
    assert pod["runAsNonRoot"] is True and pod["runAsUser"] > 0
    assert pod["seccompProfile"] == {"type": "RuntimeDefault"}
    bot = container()["securityContext"]
    assert bot["readOnlyRootFilesystem"] is True
    assert bot["allowPrivilegeEscalation"] is False
    assert bot["capabilities"] == {"drop": ["ALL"]}
    # What the bot writes goes to emptyDirs of bounded size.
    for path in ("/tmp", plain_env()["MPLCONFIGDIR"]):
        _, volume = mount_of(path)
        assert parse_quantity(volume["emptyDir"]["sizeLimit"]) > 0, path


def test_requests_and_limits_are_set_and_consistent():
    resources = container()["resources"]
    for kind in ("cpu", "memory"):
        request = parse_quantity(resources["requests"][kind])
        limit = parse_quantity(resources["limits"][kind])
        assert 0 < request <= limit, kind
    # Measured: ~165 MB resident with a chart drawn (see deployment.yaml).
    assert parse_quantity(resources["requests"]["memory"]) >= 200 * 2**20


def test_the_grace_period_covers_the_pre_stop_pause_and_the_bot_s_own_stop():
    command = container()["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep"
    pause = int(command[1])
    grace = pod_spec()["terminationGracePeriodSeconds"]
    assert pause + BOT_STOP_SECONDS <= grace <= pause + BOT_STOP_SECONDS + 10
