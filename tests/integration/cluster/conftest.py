"""A real three-master Redis Cluster for the tests in this folder, started once.

``redis-server --cluster-enabled yes`` three times on free loopback ports, each in a
directory of its own, joined by ``redis-cli --cluster create``; stopped (each server
by its own pid) when the last test here has run. Tests use keys of their own, so
they never see each other's data.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.adapters.queues.cluster import RedisClient
from bot.adapters.queues.depths import connect
from tests.redis_servers import PrivateCluster


@pytest.fixture(scope="package")
async def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[PrivateCluster]:
    cluster = await PrivateCluster(tmp_path_factory.mktemp("redis-cluster")).start()
    yield cluster
    await cluster.stop()


@pytest.fixture
async def cluster_client(redis_cluster: PrivateCluster) -> AsyncIterator[RedisClient]:
    """A client built as the bot builds its own, from a ``redis+cluster://`` URL."""
    client = connect(redis_cluster.url())
    yield client
    await client.aclose()
