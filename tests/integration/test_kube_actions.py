"""The remediation executors and the Kubernetes adapter, through the real client
against the Kubernetes API emulator: what the channel would read, success and failure."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from bot.adapters.kube import KubeClient, KubeError
from bot.adapters.kube.follow import Polling
from bot.domain.actions import plan_drain
from bot.emulators.kube_api import KubeEmulator, PolicyRule
from bot.services import remediation
from bot.services.remediation import ActionFailed

NS = "phishnet"
EMAIL, ANALYSIS = "phishnet-worker-email", "phishnet-worker-analysis"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
AT = datetime(2026, 11, 28, 9, 30, tzinfo=UTC)


@pytest.fixture
def emulator() -> Iterator[KubeEmulator]:
    emu = KubeEmulator(seed=11)
    emu.start_in_thread()
    for name in (EMAIL, ANALYSIS):
        emu.add_deployment(NS, name, replicas=2, pod_labels={"app": name, "component": "worker"})
    emu.add_configmap(NS, "phishnet-config", {"WORKER_CONCURRENCY": "4", "LOG_LEVEL": "info"})
    try:
        yield emu
    finally:
        emu.stop_thread()


@pytest.fixture
def configuration(emulator: KubeEmulator, tmp_path: Path) -> k8s.Configuration:
    path = emulator.write_kubeconfig(tmp_path / "kubeconfig", namespace=NS)
    configuration = k8s.Configuration()
    load: Any = k8s_config.load_kube_config
    load(config_file=str(path), client_configuration=configuration)
    configuration.retries = False  # as KubeClient.from_config does
    return configuration


@pytest.fixture
def kube(configuration: k8s.Configuration) -> Iterator[KubeClient]:
    # A short backoff: the retries are what is under test, not their spacing.
    client = KubeClient(k8s.ApiClient(configuration), backoff_seconds=0.01)
    yield client
    client.close()


class Progress:
    """Collects the lines the channel would see."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    async def __call__(self, line: str) -> None:
        self.lines.append(line)

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


class FakeTime:
    """Injected into :class:`Polling`: sleeping only advances this clock, and may run
    ``on_sleep`` (the world moving on while the bot waits)."""

    def __init__(self, on_sleep: Callable[[int], None] | None = None) -> None:
        self.now = 0.0
        self.sleeps = 0
        self._on_sleep = on_sleep

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.sleeps += 1
        if self._on_sleep:
            self._on_sleep(self.sleeps)

    def monotonic(self) -> float:
        return self.now

    def polling(self, timeout: float = 60.0) -> Polling:
        return Polling(
            poll_seconds=5, timeout_seconds=timeout, sleep=self.sleep, monotonic=self.monotonic
        )


# ---- restart --------------------------------------------------------------------


async def test_restart_stamps_the_template_like_kubectl_and_follows_the_rollout(
    emulator, kube, playbook
):
    before = {p["metadata"]["name"] for p in emulator.pods_of(NS, EMAIL)}
    progress = Progress()
    result = await remediation.execute_restart(
        kube, playbook, {"deployments": [EMAIL]}, progress, now=AT, polling=FakeTime().polling()
    )
    template = emulator.get_deployment(NS, EMAIL)["spec"]["template"]["metadata"]
    assert template["annotations"][RESTARTED_AT] == "2026-11-28T09:30:00Z"
    assert result == {
        "deployments": [EMAIL],
        "rollouts": {EMAIL: f"`{EMAIL}` rollout complete (2/2 updated, 2 ready)"},
    }
    assert progress.lines[-1] == (
        f":arrows_counterclockwise: `{EMAIL}` rollout complete (2/2 updated, 2 ready)"
    )
    after = {p["metadata"]["name"] for p in emulator.pods_of(NS, EMAIL)}
    assert after and not after & before


async def test_a_rollout_that_never_finishes_times_out_without_waiting(emulator, kube, playbook):
    emulator.auto_reconcile = False  # nothing replaces the pods: it stays in progress
    fake = FakeTime()
    with pytest.raises(ActionFailed) as failed:
        await remediation.execute_restart(
            kube, playbook, {"deployments": [EMAIL]}, Progress(), now=AT, polling=fake.polling()
        )
    assert str(failed.value) == (
        f"`{EMAIL}` rolling out: waiting for the controller to observe the change — "
        "still not done after 60s"
    )
    assert fake.now == 60 and fake.sleeps == 12


async def test_a_stuck_rollout_is_reported(emulator, kube, playbook):
    emulator.stall_rollout(NS, EMAIL)
    progress = Progress()
    with pytest.raises(ActionFailed) as failed:
        await remediation.execute_restart(
            kube, playbook, {"deployments": [EMAIL]}, progress, now=AT, polling=FakeTime().polling()
        )
    assert f"`{EMAIL}` rollout is stuck: progress deadline exceeded" in str(failed.value)
    assert "stuck" in progress.lines[-1]


async def test_restart_of_a_deployment_missing_from_the_cluster(configuration, kube, playbook):
    # The cluster lost the deployment after the playbook was written. (The emulator
    # serves from its own thread, so a blocking call is fine here.)
    with k8s.ApiClient(configuration) as api:
        apps: Any = k8s.AppsV1Api(api)
        apps.delete_namespaced_deployment(ANALYSIS, NS)
    with pytest.raises(KubeError) as failed:
        await remediation.execute_restart(
            kube, playbook, {"deployments": [ANALYSIS]}, Progress(), now=AT
        )
    assert failed.value.status == 404
    assert str(failed.value).startswith("Not found in Kubernetes")
    assert ANALYSIS in str(failed.value)


async def test_restart_refuses_a_deployment_the_playbook_does_not_name(kube, playbook):
    with pytest.raises(ActionFailed, match="`postgres` is no longer a deployment of the playbook"):
        await remediation.execute_restart(kube, playbook, {"deployments": ["postgres"]}, Progress())


# ---- tune -----------------------------------------------------------------------


async def test_tune_conflict_is_retried_on_a_fresh_read_then_readers_restart(
    emulator, kube, playbook
):
    emulator.fail_next("patch", "configmaps", 409)  # someone edited it between read and write
    emulator.clear_requests()
    progress = Progress()
    result = await remediation.execute_tune(
        kube,
        playbook,
        {"changes": {"WORKER_CONCURRENCY": "8", "WORKER_BATCH_SIZE": "50"}},
        progress,
        now=AT,
        polling=FakeTime().polling(),
    )
    data = emulator.get_object("configmaps", NS, "phishnet-config")["data"]
    assert data == {"WORKER_CONCURRENCY": "8", "WORKER_BATCH_SIZE": "50", "LOG_LEVEL": "info"}
    reads = [r for r in emulator.requests if r.resource == "configmaps" and r.verb == "get"]
    assert len(reads) == 2  # the retry re-read before writing again
    assert progress.lines[0] == (
        ":gear: ConfigMap `phishnet-config` updated "
        "(WORKER_CONCURRENCY: 4 → 8, WORKER_BATCH_SIZE: (unset) → 50)"
    )
    assert result["before"] == {"WORKER_CONCURRENCY": "4", "WORKER_BATCH_SIZE": ""}
    assert set(result["rollouts"]) == {EMAIL, ANALYSIS}
    for name in (EMAIL, ANALYSIS):
        template = emulator.get_deployment(NS, name)["spec"]["template"]["metadata"]
        assert template["annotations"][RESTARTED_AT] == "2026-11-28T09:30:00Z"


@pytest.mark.parametrize(
    "changes", [{"DEBUG": "1"}, {"WORKER_CONCURRENCY": "64"}, {"WORKER_TIMEOUT": "soon"}]
)
async def test_tune_outside_the_playbook_is_refused_at_execution(emulator, kube, playbook, changes):
    with pytest.raises(ActionFailed, match="is no longer allowed by the playbook"):
        await remediation.execute_tune(kube, playbook, {"changes": changes}, Progress())
    data = emulator.get_object("configmaps", NS, "phishnet-config")["data"]
    assert data == {"WORKER_CONCURRENCY": "4", "LOG_LEVEL": "info"}


# ---- drain ----------------------------------------------------------------------


def _drain_params(playbook, suffix: str = "20261128-093000-abcd") -> dict[str, Any]:
    return plan_drain(playbook, suffix).params


async def test_drain_job_is_followed_to_success(emulator, kube, playbook):
    params = _drain_params(playbook)
    fake = FakeTime(lambda n: emulator.complete_job(NS, params["job"]) if n == 2 else None)
    progress = Progress()
    result = await remediation.execute_drain(
        kube, playbook, params, progress, polling=fake.polling()
    )
    assert result == {"job": params["job"], "succeeded": 1, "failed": 0}
    job = f"Job `{params['job']}`"
    assert progress.lines == [
        f":rotating_light: {job} created",
        f":rotating_light: {job}: running (active 1, succeeded 0, failed 0)",
        f":rotating_light: {job}: succeeded (active 0, succeeded 1, failed 0)",
    ]


async def test_failed_drain_job_is_reported(emulator, kube, playbook):
    params = _drain_params(playbook)
    fake = FakeTime(lambda n: emulator.fail_job(NS, params["job"]))
    with pytest.raises(ActionFailed) as failed:
        await remediation.execute_drain(kube, playbook, params, Progress(), polling=fake.polling())
    assert str(failed.value).startswith(f"Job `{params['job']}` failed: ")


async def test_drain_job_still_running_at_the_limit_is_reported(emulator, kube, playbook):
    params = _drain_params(playbook)
    with pytest.raises(ActionFailed) as failed:
        await remediation.execute_drain(
            kube, playbook, params, Progress(), polling=FakeTime().polling(timeout=30)
        )
    assert str(failed.value) == (
        f"Job `{params['job']}`: running (active 1, succeeded 0, failed 0) — "
        "still running after 30s"
    )


async def test_drain_adopts_its_own_job_when_the_create_answer_was_lost(emulator, kube, playbook):
    # The first create reached the API server but its answer never came back; the
    # retry meets 409 AlreadyExists for the bot's own Job and follows that one.
    params = _drain_params(playbook)
    await kube.create_job(NS, params["manifest"])
    fake = FakeTime(lambda n: emulator.complete_job(NS, params["job"]))
    result = await remediation.execute_drain(
        kube, playbook, params, Progress(), polling=fake.polling()
    )
    assert result["succeeded"] == 1
    assert [j["metadata"]["name"] for j in emulator.list_objects("jobs", NS)] == [params["job"]]


async def test_drain_never_touches_someone_elses_job_of_the_same_name(emulator, kube, playbook):
    params = _drain_params(playbook)
    foreign = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": params["job"], "labels": {"team": "data"}},
        "spec": params["manifest"]["spec"],
    }
    await kube.create_job(NS, foreign)
    with pytest.raises(KubeError) as failed:
        await remediation.execute_drain(kube, playbook, params, Progress())
    assert str(failed.value) == (
        f"A Job named `{params['job']}` already exists in `phishnet` and was not created by "
        "this bot; it was left alone."
    )


async def test_each_drain_is_its_own_job(emulator, kube, playbook):
    for suffix in ("20261128-093000-aaaa", "20261128-093000-bbbb"):
        params = _drain_params(playbook, suffix)
        fake = FakeTime(lambda n, name=params["job"]: emulator.complete_job(NS, name))
        await remediation.execute_drain(kube, playbook, params, Progress(), polling=fake.polling())
    names = sorted(j["metadata"]["name"] for j in emulator.list_objects("jobs", NS))
    assert names == [
        "emergency-queue-drain-20261128-093000-aaaa",
        "emergency-queue-drain-20261128-093000-bbbb",
    ]


# ---- scale and HPA ----------------------------------------------------------------


async def test_scale_server_errors_are_retried_then_reported(emulator, kube, playbook):
    params = {"deployment": EMAIL, "replicas": 5}
    emulator.fail_next("patch", "deployments/scale", 503)
    polling = FakeTime().polling()
    assert await remediation.execute_scale(kube, playbook, params, Progress(), polling=polling) == {
        "deployment": EMAIL,
        "replicas_before": 2,
        "replicas": 5,
        "ready": 5,
    }
    emulator.fail_next("patch", "deployments/scale", 500, times=3)
    with pytest.raises(KubeError) as failed:
        await remediation.execute_scale(kube, playbook, {**params, "replicas": 7}, Progress())
    assert str(failed.value).startswith("The Kubernetes API failed (500")
    assert "after retries" in str(failed.value)
    assert emulator.get_deployment(NS, EMAIL)["spec"]["replicas"] == 5


class Waits:
    """Injected as the client's ``sleep``: records each wait instead of sleeping."""

    def __init__(self) -> None:
        self.seconds: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.seconds.append(seconds)


@pytest.fixture
def waits(kube: KubeClient) -> Waits:
    recorder = Waits()
    kube.sleep = recorder
    return recorder


async def test_a_throttled_scale_waits_as_asked_then_goes_through(emulator, kube, playbook, waits):
    # API priority and fairness sheds the write twice, asking for 3 s, then takes it.
    emulator.throttle_next("patch", "deployments/scale", times=2, retry_after=3)
    emulator.clear_requests()
    result = await remediation.execute_scale(
        kube,
        playbook,
        {"deployment": EMAIL, "replicas": 4},
        Progress(),
        polling=FakeTime().polling(),
    )
    assert result["replicas"] == 4 and result["ready"] == 4
    assert waits.seconds == [3, 3]  # Retry-After, not the 0.01 s backoff of 5xx retries
    patches = [r.code for r in emulator.requests if r.verb == "patch"]
    assert patches == [429, 429, 200]


async def test_throttling_on_reads_is_waited_out_too(emulator, kube, waits):
    emulator.throttle_next("get", "deployments", times=3)
    status = await kube.deployment_status(NS, EMAIL)
    assert status.ready == 2
    assert waits.seconds == [1, 1, 1]


@pytest.mark.parametrize(
    ("times", "retry_after", "message"),
    [
        (
            1,
            3600,
            "The Kubernetes API is throttling the bot (429 Too Many Requests) and asked it to "
            "wait 3600 s, more than the 60 s the bot waits for one call. Try again in a few "
            "minutes.",
        ),
        (
            3,
            25,
            "The Kubernetes API is throttling the bot (429 Too Many Requests) and asked it to "
            "wait 25 s after 50 s of waiting, more than the 60 s the bot waits for one call. "
            "Try again in a few minutes.",
        ),
        (
            50,
            0,
            "The Kubernetes API is throttling the bot: it answered 429 Too Many Requests 11 "
            "times in a row (API priority and fairness sheds load this way). Try again in a "
            "few minutes.",
        ),
    ],
)
async def test_throttling_beyond_the_bounds_is_said_plainly(
    emulator, kube, playbook, waits, times, retry_after, message
):
    emulator.throttle_next("patch", "deployments/scale", times=times, retry_after=retry_after)
    with pytest.raises(KubeError) as failed:
        await remediation.execute_scale(
            kube, playbook, {"deployment": EMAIL, "replicas": 4}, Progress()
        )
    assert str(failed.value) == message
    assert failed.value.status == 429
    assert sum(waits.seconds) <= 60
    assert emulator.get_deployment(NS, EMAIL)["spec"]["replicas"] == 2


async def test_scale_is_followed_until_the_new_pods_are_ready(emulator, kube, playbook):
    progress = Progress()
    result = await remediation.execute_scale(
        kube, playbook, {"deployment": EMAIL, "replicas": 4}, progress, polling=FakeTime().polling()
    )
    assert result == {"deployment": EMAIL, "replicas_before": 2, "replicas": 4, "ready": 4}
    assert progress.lines == [
        f":arrows_counterclockwise: `{EMAIL}` scaled from 2 to 4 replicas; waiting for its pods "
        "to be Ready",
        f":arrows_counterclockwise: `{EMAIL}` runs 4 replicas, all ready (4/4 ready)",
    ]


async def test_scale_waits_for_pods_that_become_ready_later(emulator, kube, playbook):
    emulator.hold_pods(NS, EMAIL, "ImagePullBackOff")
    fake = FakeTime(lambda n: emulator.release_pods(NS, EMAIL) if n == 3 else None)
    progress = Progress()
    result = await remediation.execute_scale(
        kube, playbook, {"deployment": EMAIL, "replicas": 5}, progress, polling=fake.polling()
    )
    assert result["ready"] == 5 and fake.sleeps == 3
    assert progress.lines[1:] == [
        f":arrows_counterclockwise: `{EMAIL}` scaling to 5: 2/5 ready",
        f":arrows_counterclockwise: `{EMAIL}` runs 5 replicas, all ready (5/5 ready)",
    ]


@pytest.mark.parametrize(
    ("reason", "why"),
    [
        ("Unschedulable", "Pending, not scheduled: 0/3 nodes are available: 3 Insufficient cpu."),
        ("CrashLoopBackOff", "CrashLoopBackOff (5 restarts, last exit: Error)"),
        ("ImagePullBackOff", 'ImagePullBackOff: Back-off pulling image "registry.example.com/'),
        ("OOMKilled", "CrashLoopBackOff (3 restarts, last exit: OOMKilled)"),
    ],
)
async def test_a_scale_whose_pods_never_become_ready_fails_naming_them(
    emulator, kube, playbook, reason, why
):
    emulator.hold_pods(NS, EMAIL, reason)
    fake = FakeTime()
    with pytest.raises(ActionFailed) as failed:
        await remediation.execute_scale(
            kube, playbook, {"deployment": EMAIL, "replicas": 4}, Progress(), polling=fake.polling()
        )
    message = str(failed.value)
    assert message.startswith(
        f"`{EMAIL}` scaled from 2 to 4 replicas, but only 2 of 4 pods are Ready after 60s — "
        "pods not Ready: `"
    )
    held = sorted(p["metadata"]["name"] for p in emulator.pods_of(NS, EMAIL) if _unready(p))
    assert len(held) == 2
    assert f"pods not Ready: `{held[0]}`, `{held[1]}`: {why}" in message
    assert fake.now == 60  # the polling timeout, on the injected clock


def _unready(pod: dict[str, Any]) -> bool:
    return not any(
        c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", [])
    )


async def test_a_scale_past_its_progress_deadline_fails_at_once(emulator, kube, playbook):
    emulator.hold_pods(
        NS,
        EMAIL,
        "Unschedulable",
        message="0/5 nodes are available: 5 node(s) had untolerated taint {dedicated: batch}.",
        deadline_exceeded=True,
    )
    fake = FakeTime()
    with pytest.raises(ActionFailed) as failed:
        await remediation.execute_scale(
            kube, playbook, {"deployment": EMAIL, "replicas": 3}, Progress(), polling=fake.polling()
        )
    message = str(failed.value)
    assert message.startswith(
        f"`{EMAIL}` scaled from 2 to 3 replicas, but `{EMAIL}` is stuck scaling to 3: progress "
        "deadline exceeded (2/3 ready): ReplicaSet"
    )
    assert "Pending, not scheduled: 0/5 nodes are available: 5 node(s) had untolerated" in message
    assert fake.sleeps == 0


# ---- paused deployments ------------------------------------------------------------


async def test_a_paused_deployment_is_not_restarted(emulator, kube, playbook):
    emulator.set_paused(NS, EMAIL)
    emulator.clear_requests()
    with pytest.raises(ActionFailed) as failed:
        await remediation.execute_restart(
            kube, playbook, {"deployments": [EMAIL]}, Progress(), now=AT
        )
    assert str(failed.value) == (
        f"`{EMAIL}` is paused, and a paused deployment cannot be restarted (kubectl: "
        '"can\'t restart paused deployment (run rollout resume first)"). Resume it first with '
        f"`kubectl rollout resume deployment/{EMAIL} -n phishnet`, then ask again."
    )
    assert [r.verb for r in emulator.requests] == ["get"]  # read, never patched
    template = emulator.get_deployment(NS, EMAIL)["spec"]["template"]["metadata"]
    assert RESTARTED_AT not in (template.get("annotations") or {})


async def test_a_rollout_paused_while_followed_is_reported(emulator, kube, playbook):
    # Someone pauses it while its new pods crash-loop: nothing more rolls out, and
    # the bot says so instead of waiting out its timeout.
    emulator.hold_pods(NS, EMAIL, "CrashLoopBackOff")
    fake = FakeTime()

    async def pause_then_wait(seconds: float) -> None:
        emulator.set_paused(NS, EMAIL)
        await fake.sleep(seconds)

    polling = Polling(5, 60, sleep=pause_then_wait, monotonic=fake.monotonic)
    with pytest.raises(ActionFailed) as failed:
        await remediation.execute_restart(
            kube, playbook, {"deployments": [EMAIL]}, Progress(), now=AT, polling=polling
        )
    assert str(failed.value).startswith(
        f"`{EMAIL}` is paused: nothing rolls out until it is resumed"
    )
    assert fake.sleeps == 1


async def test_tune_refuses_before_changing_the_configmap_when_a_reader_is_paused(
    emulator, kube, playbook
):
    emulator.set_paused(NS, ANALYSIS)
    with pytest.raises(ActionFailed) as failed:
        await remediation.execute_tune(
            kube, playbook, {"changes": {"WORKER_CONCURRENCY": "8"}}, Progress(), now=AT
        )
    assert str(failed.value).startswith(
        f"Nothing was changed. The new settings take effect only when `{EMAIL}` and "
        f"`{ANALYSIS}` restart, but `{ANALYSIS}` is paused, and a paused deployment cannot be "
        "restarted"
    )
    data = emulator.get_object("configmaps", NS, "phishnet-config")["data"]
    assert data["WORKER_CONCURRENCY"] == "4"


@pytest.mark.parametrize(
    ("text", "paused", "message"),
    [
        ("restart phishnet-worker-email", [EMAIL], f"`{EMAIL}` is paused, and a paused"),
        (
            "tune phishnet-worker-email WORKER_CONCURRENCY=8",
            [EMAIL, ANALYSIS],
            f"The new settings take effect only when `{EMAIL}` and `{ANALYSIS}` restart, but "
            f"`{EMAIL}` and `{ANALYSIS}` are paused, and a paused deployment cannot be "
            "restarted",
        ),
    ],
)
async def test_plans_that_restart_a_paused_deployment_are_refused(
    emulator, kube, playbook, text, paused, message
):
    from bot.domain import commands
    from bot.domain.actions import DeploymentPaused, plan_restart, plan_tune

    command = commands.parse(text)
    plan = (
        plan_restart(playbook, command)
        if isinstance(command, commands.Restart)
        else plan_tune(playbook, command, {"WORKER_CONCURRENCY": "4"})
    )
    await remediation.refuse_paused_restarts(kube, plan)  # nothing paused yet: passes
    for name in paused:
        emulator.set_paused(NS, name)
    with pytest.raises(DeploymentPaused) as refused:
        await remediation.refuse_paused_restarts(kube, plan)
    assert str(refused.value).startswith(message)
    assert refused.value.deployments == tuple(paused)


async def test_a_missing_permission_is_named_with_verb_resource_and_namespace(
    emulator, kube, playbook
):
    emulator.rbac_rules = [
        PolicyRule(api_groups=("apps",), resources=("deployments/scale",), verbs=("get",))
    ]
    with pytest.raises(KubeError) as failed:
        await remediation.execute_scale(
            kube, playbook, {"deployment": EMAIL, "replicas": 6}, Progress()
        )
    message = str(failed.value)
    assert failed.value.status == 403
    assert message.startswith("The bot lacks a Kubernetes permission")
    assert 'cannot patch resource "deployments/scale" in API group "apps"' in message
    assert 'in the namespace "phishnet"' in message


async def test_hpa_bounds_are_raised_and_the_deployment_followed_to_ready(emulator, kube, playbook):
    emulator.enforce_hpa = True  # the HPA controller acts on the new bounds
    emulator.add_hpa(NS, "email-hpa", EMAIL, 2, 10, 2, 2)
    assert await kube.hpa_for(NS, ANALYSIS) is None
    params = {"deployment": EMAIL, "replicas": 6, "hpa": "email-hpa"}
    progress = Progress()
    result = await remediation.execute_scale(
        kube,
        playbook,
        {**params, "min_replicas": 6, "max_replicas": 12},
        progress,
        polling=FakeTime().polling(),
    )
    assert result == {
        "hpa": "email-hpa",
        "min_replicas": 6,
        "max_replicas": 12,
        "min_before": 2,
        "max_before": 10,
        "replicas_before": 2,
        "replicas": 6,
        "ready": 6,
    }
    spec = emulator.get_object("horizontalpodautoscalers", NS, "email-hpa")["spec"]
    assert (spec["minReplicas"], spec["maxReplicas"]) == (6, 12)
    assert progress.lines[-1] == (
        f":arrows_counterclockwise: `{EMAIL}` runs 6 replicas, all ready (6/6 ready)"
    )


async def test_an_hpa_that_never_acts_on_its_new_bounds_is_reported(emulator, kube, playbook):
    emulator.add_hpa(NS, "email-hpa", EMAIL, 2, 10, 2, 2)  # its controller never syncs
    progress = Progress()
    params = {"deployment": EMAIL, "replicas": 6, "hpa": "email-hpa"}
    with pytest.raises(ActionFailed) as failed:
        await remediation.execute_scale(
            kube,
            playbook,
            {**params, "min_replicas": 6, "max_replicas": 10},
            progress,
            polling=FakeTime().polling(),
        )
    assert str(failed.value) == (
        "HPA `email-hpa` set to minReplicas 6, maxReplicas 10, but after 60s "
        f"`{EMAIL}` still runs 2 replicas: the HPA has not scaled it (see `kubectl describe "
        "hpa -n phishnet`)"
    )
    assert progress.lines[-1] == (
        f":arrows_counterclockwise: `{EMAIL}` runs 2 replicas: waiting for HPA `email-hpa` to "
        "scale it to 6 to 10 (it acts at its next sync)"
    )


async def test_hpa_bounds_only_on_the_hpa_in_charge_and_within_bounds(emulator, kube, playbook):
    emulator.add_hpa(NS, "email-hpa", EMAIL, 2, 10, 2, 2)
    other = {"deployment": EMAIL, "hpa": "other-hpa", "min_replicas": 3, "max_replicas": 10}
    with pytest.raises(ActionFailed, match="HPA `other-hpa` no longer manages"):
        await remediation.execute_hpa_bounds(kube, playbook, other, Progress())
    too_many = {"deployment": EMAIL, "hpa": "email-hpa", "min_replicas": 3, "max_replicas": 50}
    with pytest.raises(
        ActionFailed, match=r"no longer within the playbook's bounds .* \(1 to 20\)"
    ):
        await remediation.execute_hpa_bounds(kube, playbook, too_many, Progress())
    spec = emulator.get_object("horizontalpodautoscalers", NS, "email-hpa")["spec"]
    assert (spec["minReplicas"], spec["maxReplicas"]) == (2, 10)


# ---- reads ------------------------------------------------------------------------


async def test_usage_is_none_when_no_metrics_server_answers(emulator, kube):
    emulator.add_node("node-1")
    emulator.set_metrics(nodes={"node-1": {"cpu": "1500m", "memory": "2Gi"}})
    usage = await kube.node_usage()
    assert usage is not None and usage["node-1"].cpu_m == 1500
    assert usage["node-1"].memory == 2 * 1024**3
    emulator.metrics_enabled = False
    assert await kube.node_usage() is None
    assert await kube.pod_usage(NS) is None


async def test_quantities_in_every_form_the_api_accepts_are_read(emulator, kube):
    # parse_quantity from the client itself: decimal and binary suffixes, millis of
    # anything, exponents. Units stay explicit: millicores and bytes.
    emulator.add_node("node-big", allocatable={"cpu": "2k", "memory": "1Pi"})
    emulator.add_node("node-odd", allocatable={"cpu": "1.5", "memory": "12e3"})
    emulator.add_pod(
        NS,
        "odd-limits",
        labels={"app": "odd"},
        resources={
            "requests": {"cpu": "1500000n", "memory": "100m"},
            "limits": {"cpu": "250m", "memory": "1E"},
        },
    )
    emulator.set_metrics(
        pods={f"{NS}/odd-limits": {"cpu": "1u", "memory": "64Ki"}},
        nodes={"node-big": {"cpu": "1", "memory": "2Ei"}},
    )
    nodes = {n.name: n.allocatable for n in await kube.nodes()}
    assert (nodes["node-big"].cpu_m, nodes["node-big"].memory) == (2_000_000, 1024**5)
    assert (nodes["node-odd"].cpu_m, nodes["node-odd"].memory) == (1500, 12_000)
    [pod] = await kube.pods(NS, "app=odd")
    [container] = pod.containers
    assert (container.requests.cpu_m, container.requests.memory) == (2, 1)  # rounded up
    assert (container.limits.cpu_m, container.limits.memory) == (250, 10**18)
    usage = await kube.pod_usage(NS)
    assert usage is not None and (usage["odd-limits"].cpu_m, usage["odd-limits"].memory) == (
        1,
        65536,
    )
    node_usage = await kube.node_usage()
    assert node_usage is not None and node_usage["node-big"].memory == 2 * 1024**6
