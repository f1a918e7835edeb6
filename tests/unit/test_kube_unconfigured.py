"""Without a Kubernetes configuration every call says so, in one sentence."""

from __future__ import annotations

import inspect
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.adapters.kube import KubeClient, KubeError
from bot.adapters.kube.unconfigured import (
    NOT_CONFIGURED,
    KubeConfigInvalid,
    KubeNotConfigured,
    UnconfiguredKube,
    kube_from_environment,
)
from bot.domain.errors import DependencyError
from bot.domain.rollback import Change, Target

# A plausible argument for each parameter name the client's methods use (any other
# parameter gets "x", or 1 for a count): each call must reach the API, and refuse.
_CHANGE = Change(
    target=Target.DEPLOYMENT,
    namespace="phishnet",
    name="phishnet-worker-email",
    before={"replicas": 2},
    after={"replicas": 4},
    resource_version="1",
    generation=1,
)
_ARGUMENTS = {
    "at": datetime(2026, 1, 1, tzinfo=UTC),
    "manifest": {"metadata": {"name": "j"}},
    "data": {"k": "v"},
    "change": _CHANGE,
    "values": {"replicas": 2},
}


def _public_calls() -> list[str]:
    return [
        name
        for name, member in inspect.getmembers(KubeClient, inspect.iscoroutinefunction)
        if not name.startswith("_") and name != "ping"
    ]


def test_the_sentence():
    assert (
        NOT_CONFIGURED == "Kubernetes is not configured (no KUBECONFIG and not running in a pod)."
    )
    assert isinstance(KubeNotConfigured(), KubeError)  # existing `except KubeError` answer it
    assert isinstance(KubeNotConfigured(), DependencyError)


@pytest.mark.parametrize("name", _public_calls())
async def test_every_call_raises_it(name):
    kube = UnconfiguredKube()
    method = getattr(kube, name)
    arguments = {
        parameter.name: _ARGUMENTS.get(parameter.name, 1 if "replicas" in parameter.name else "x")
        for parameter in inspect.signature(method).parameters.values()
        if parameter.default is inspect.Parameter.empty
    }
    with pytest.raises(KubeNotConfigured) as raised:
        await method(**arguments)
    assert str(raised.value) == NOT_CONFIGURED


async def test_ping_is_false_and_close_is_harmless():
    kube = UnconfiguredKube()
    assert await kube.ping() is False
    kube.close()


def test_nothing_configured_gives_the_stand_in(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert isinstance(kube_from_environment(None, environ={}), UnconfiguredKube)
    # In a pod whose service account token is not mounted: not configured either.
    in_pod = {"KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"}
    missing = tmp_path / "no-token"
    assert isinstance(
        kube_from_environment(None, environ=in_pod, token_file=missing), UnconfiguredKube
    )


def test_a_given_but_unusable_configuration_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(KubeConfigInvalid) as refused:
        kube_from_environment(Path("/nonexistent/kubeconfig"), environ={})
    assert str(refused.value).startswith("KUBECONFIG: cannot load the kubeconfig /nonexistent")
    broken = tmp_path / "kubeconfig"
    broken.write_text("apiVersion: v1\nclusters: 3\n")
    with pytest.raises(KubeConfigInvalid):
        kube_from_environment(broken, environ={})


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"apiVersion: v1\nclusters: [\n", "not valid YAML at line 3, column 1"),
        (b"just some text, not a kubeconfig\n", "not a kubeconfig (expected a mapping"),
        (b"- a\n- list\n", "not a kubeconfig (expected a mapping"),
    ],
    ids=["yaml-syntax-error", "plain-text", "a-list"],
)
def test_a_kubeconfig_that_is_not_one_is_said_in_words(tmp_path, monkeypatch, content, reason):
    monkeypatch.setenv("HOME", str(tmp_path))
    path = tmp_path / "kubeconfig"
    path.write_bytes(content)
    with pytest.raises(KubeConfigInvalid) as refused:
        kube_from_environment(path, environ={})
    assert str(refused.value).startswith(f"KUBECONFIG: cannot load the kubeconfig {path}: ")
    assert reason in str(refused.value)


def test_a_kubeconfig_gives_the_real_client(tmp_path, monkeypatch):
    from bot.emulators.kube import KubeEmulator

    monkeypatch.setenv("HOME", str(tmp_path))
    emulator = KubeEmulator()
    emulator.start_in_thread()
    try:
        config = emulator.write_kubeconfig(tmp_path / "kubeconfig", namespace="phishnet")
        kube = kube_from_environment(config, environ={})
        assert type(kube) is KubeClient
        kube.close()
        (tmp_path / ".kube").mkdir()
        (tmp_path / ".kube" / "config").write_text(config.read_text())
        home = kube_from_environment(None, environ={})
        assert type(home) is KubeClient
        home.close()
    finally:
        emulator.stop_thread()
