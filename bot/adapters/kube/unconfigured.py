"""Choosing the Kubernetes configuration, and the stand-in when there is none.

The bot must run without Kubernetes (a laptop trial, a team that only wants the
alerts): then :func:`kube_from_environment` returns :class:`UnconfiguredKube`, a
:class:`KubeClient` whose every call raises :class:`KubeNotConfigured`. That error
is a :class:`KubeError` (status 0) on purpose: every ``except KubeError`` the
services already have (refusing a scale, marking a diagnosis check "not checked")
answers it with its sentence, and no caller needs to know which client it holds.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import NoReturn, TypeVar

import yaml
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from bot.adapters.kube.client import KubeClient, KubeError

T = TypeVar("T")

NOT_CONFIGURED = "Kubernetes is not configured (no KUBECONFIG and not running in a pod)."
# Where a pod's service account is mounted (kubernetes.config.incluster_config).
SERVICE_ACCOUNT_TOKEN = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")


class KubeNotConfigured(KubeError):
    """Raised by every call of :class:`UnconfiguredKube`."""

    def __init__(self) -> None:
        super().__init__(0, "NotConfigured", NOT_CONFIGURED)


class KubeConfigInvalid(ValueError):
    """A Kubernetes configuration was given but cannot be used; ``str()`` names it."""


class UnconfiguredKube(KubeClient):
    """Stands in for the client when there is no cluster to talk to."""

    def __init__(self) -> None:
        # No API client at all: nothing here may ever open a connection.
        self._attempts = 1
        self._backoff = 0.0
        self.request_timeout = (0.0, 0.0)

    async def _call(self, fn: Callable[[], T], *, conflicts: bool = False) -> NoReturn:
        raise KubeNotConfigured()

    async def ping(self) -> bool:
        return False

    def close(self) -> None:
        return None


def kube_from_environment(
    kubeconfig: Path | None,
    *,
    environ: Mapping[str, str] | None = None,
    token_file: Path = SERVICE_ACCOUNT_TOKEN,
) -> KubeClient:
    """The client for the configured cluster, or :class:`UnconfiguredKube`.

    Looked for in the order ``kubectl`` uses: ``kubeconfig`` (the ``KUBECONFIG``
    setting, colon-separated paths allowed), then ``~/.kube/config``, then the pod's
    service account (``KUBERNETES_SERVICE_HOST`` set, as the kubelet does, and its
    token mounted at ``token_file``). None of them: the stand-in.

    Raises :class:`KubeConfigInvalid` when one is present but unusable (a missing or
    malformed file, a broken service account): ignoring it would hide a deployment
    mistake.
    """
    env = os.environ if environ is None else environ
    home_config = Path(os.path.expanduser("~/.kube/config"))
    if kubeconfig is not None:
        return _from_file(str(kubeconfig), "KUBECONFIG")
    if home_config.exists():
        return _from_file(str(home_config), str(home_config))
    # A pod whose service account token is not mounted (automountServiceAccountToken:
    # false) has chosen not to talk to the API: that is "not configured" too.
    if env.get("KUBERNETES_SERVICE_HOST") and token_file.exists():
        configuration = k8s.Configuration()
        try:
            k8s_config.load_incluster_config(client_configuration=configuration)
        except k8s_config.ConfigException as exc:
            raise KubeConfigInvalid(
                f"running in a pod (KUBERNETES_SERVICE_HOST is set) but its service account "
                f"cannot be used: {exc}"
            ) from exc
        return _client(configuration)
    return UnconfiguredKube()


def _from_file(path: str, setting: str) -> KubeClient:
    configuration = k8s.Configuration()
    try:
        k8s_config.load_kube_config(config_file=path, client_configuration=configuration)
    except yaml.YAMLError as exc:  # the client lets the parser's error through
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise KubeConfigInvalid(
            f"{setting}: cannot load the kubeconfig {path}: not valid YAML{where} ({problem})"
        ) from exc
    except (TypeError, AttributeError) as exc:  # YAML, but not a kubeconfig's shape
        raise KubeConfigInvalid(
            f"{setting}: cannot load the kubeconfig {path}: not a kubeconfig (expected a "
            "mapping with clusters, contexts and users)"
        ) from exc
    except (k8s_config.ConfigException, OSError, ValueError) as exc:
        raise KubeConfigInvalid(f"{setting}: cannot load the kubeconfig {path}: {exc}") from exc
    return _client(configuration)


def _client(configuration: k8s.Configuration) -> KubeClient:
    # The client's own urllib3 retries would hide our backoff and double timeouts.
    configuration.retries = False
    return KubeClient(k8s.ApiClient(configuration))
