"""Kubernetes adapter over the official client."""

from bot.adapters.kube.client import KubeClient, KubeError

__all__ = ["KubeClient", "KubeError"]
