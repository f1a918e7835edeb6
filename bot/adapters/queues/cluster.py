"""Talking to a Redis Cluster: the ``redis+cluster://`` URL and the client it builds.

``REDIS_URL=redis+cluster://[user:password@]host:port[,host:port…]`` (or
``rediss+cluster://`` for TLS) names some of the cluster's nodes; redis-py's asyncio
:class:`~redis.asyncio.cluster.RedisCluster` asks them for the slot map
(``CLUSTER SLOTS``) and sends each command to the node owning its key's slot, following
``MOVED``/``ASK`` redirections. Query options are redis-py's URL options
(``?ssl_cert_reqs=none``, ``?socket_timeout=2``…); a database number other than 0 is
refused (a cluster has only database 0).

A non-transactional pipeline on this client groups its commands by node and sends
each node's commands in one write, all nodes at once (redis-py's
``PipelineStrategy._execute``): one round trip per node, which is what depth
sampling and the heartbeat reads rely on.
"""

from __future__ import annotations

import re
from typing import Any, TypeGuard

import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.connection import SSLConnection, parse_url

#: Either kind of client the bot talks to Redis with.
RedisClient = aioredis.Redis | RedisCluster

#: Cluster URL scheme → the plain scheme redis-py parses the rest with.
CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}

_URL = re.compile(
    r"^(?P<scheme>[A-Za-z0-9+.-]+)://(?:(?P<userinfo>[^@/?#]*)@)?(?P<hosts>[^/?#]*)(?P<rest>.*)$",
    re.DOTALL,
)
_HOST = re.compile(r"^(?:\[(?P<ipv6>[^\]]+)\]|(?P<name>[^:\[\]]+))(?::(?P<port>\d{1,5}))?$")


class BadClusterUrl(ValueError):
    """``REDIS_URL`` is a cluster URL that cannot be used; ``str()`` says why, without
    the URL (it may hold a password)."""


def is_cluster_url(url: str) -> bool:
    """True for ``redis+cluster://…`` and ``rediss+cluster://…``."""
    return url.partition("://")[0].lower() in CLUSTER_SCHEMES


def is_cluster(client: RedisClient) -> TypeGuard[RedisCluster]:
    return isinstance(client, RedisCluster)


def cluster_nodes(url: str) -> tuple[list[tuple[str, int]], dict[str, Any]]:
    """The seed nodes ``[(host, port)…]`` of a cluster URL and the client options
    (user, password, TLS, timeouts…) from the rest of it. Raises :class:`BadClusterUrl`."""
    match = _URL.match(url.strip())
    scheme = match.group("scheme").lower() if match else ""
    if match is None or scheme not in CLUSTER_SCHEMES:
        raise BadClusterUrl(
            "`REDIS_URL` is not a Redis Cluster URL: write it as "
            "`redis+cluster://host:port[,host:port…]` (or `rediss+cluster://` for TLS)."
        )
    nodes = [_node(part) for part in match.group("hosts").split(",") if part.strip()]
    if not nodes:
        raise BadClusterUrl("`REDIS_URL` names no Redis Cluster node: give at least one host:port.")
    userinfo = match.group("userinfo")
    login = f"{userinfo}@" if userinfo is not None else ""
    host, port = nodes[0]
    shown = f"[{host}]" if ":" in host else host
    # redis-py parses everything but the host list (credentials are percent-decoded,
    # query options typed) from an equivalent single-host URL.
    options: dict[str, Any] = dict(
        parse_url(f"{CLUSTER_SCHEMES[scheme]}://{login}{shown}:{port}{match.group('rest')}")
    )
    options.pop("host", None)
    options.pop("port", None)
    if options.pop("connection_class", None) is SSLConnection:
        options["ssl"] = True
    if options.pop("db", 0) not in (0, None):
        raise BadClusterUrl(
            "A Redis Cluster has only database 0: remove the database number from `REDIS_URL`."
        )
    return nodes, options


def connect_cluster(url: str, *, timeout_seconds: float = 5.0) -> RedisCluster:
    """A :class:`RedisCluster` client for a ``redis+cluster://`` URL (see the module
    docstring). Connects lazily, on the first command. Raises :class:`BadClusterUrl`."""
    nodes, options = cluster_nodes(url)
    settings: dict[str, Any] = {
        "decode_responses": True,
        "socket_timeout": timeout_seconds,
        "socket_connect_timeout": timeout_seconds,
        "health_check_interval": 30,
        **options,
    }
    return RedisCluster(startup_nodes=[ClusterNode(host, port) for host, port in nodes], **settings)


def _node(text: str) -> tuple[str, int]:
    match = _HOST.match(text.strip())
    port = int(match.group("port") or 6379) if match else 0
    if match is None or not 0 < port < 65536:
        raise BadClusterUrl(
            "`REDIS_URL` lists a Redis Cluster node that is not `host:port`; separate the "
            "nodes with commas: `redis+cluster://10.0.0.1:6379,10.0.0.2:6379`."
        )
    return match.group("ipv6") or match.group("name"), port
