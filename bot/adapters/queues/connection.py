"""``REDIS_URL`` as operators write it: plain, TLS, ACL user, unix socket, Sentinel.

Accepted forms:

- ``redis://[[user]:password@]host[:port][/db]`` and ``unix://[[user]:password@]/path?db=N``
  — redis-py's own URL forms (``redis.from_url``).
- ``rediss://…`` — TLS, same form. Query options as redis-py reads them:
  ``ssl_ca_certs=/path/ca.pem`` (a private CA), ``ssl_cert_reqs=required|optional|none``,
  ``ssl_certfile`` / ``ssl_keyfile`` (client certificate), ``ssl_check_hostname=false``.
- ``redis+cluster://[[user]:password@]host:port[,host:port…]`` — a Redis Cluster
  (:mod:`bot.adapters.queues.cluster`).
- ``redis+sentinel://[[user]:password@]host[:port][,host[:port]…]/service_name[/db]`` —
  a Sentinel-managed primary. redis-py has no URL form for Sentinel (redis/redis-py#3084);
  this is the one other Python tools converged on (redis-sentinel-url, LangChain,
  RedisVL, Prefect). Sentinels default to port 26379; the user and password are the
  primary's; Sentinels that require a password of their own take
  ``?sentinel_username=…&sentinel_password=…``. ``rediss+sentinel://`` uses TLS to the
  Sentinels and the primary. The client asks the Sentinels for the primary on every
  new connection, so after a failover it follows the new one (redis-py's
  ``SentinelConnectionPool``).

Errors are :class:`RedisUrlInvalid`, a sentence naming what is wrong and never the
password.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import redis.asyncio as aioredis
from redis.asyncio.sentinel import Sentinel
from redis.connection import URL_QUERY_ARGUMENT_PARSERS, parse_url

from bot.adapters.queues.cluster import (
    BadClusterUrl,
    RedisClient,
    cluster_nodes,
    connect_cluster,
    is_cluster_url,
)

SENTINEL_SCHEMES = {"redis+sentinel": False, "rediss+sentinel": True}
PLAIN_SCHEMES = ("redis", "rediss", "unix")
DEFAULT_SENTINEL_PORT = 26379
# Query options redis-py understands beyond its typed parsers (passed to the connection).
_TLS_OPTIONS = {
    "ssl_cert_reqs",
    "ssl_ca_certs",
    "ssl_ca_path",
    "ssl_ca_data",
    "ssl_certfile",
    "ssl_keyfile",
    "ssl_password",
    "ssl_min_version",
    "ssl_ciphers",
}
_OPTIONS = set(URL_QUERY_ARGUMENT_PARSERS) | _TLS_OPTIONS | {"client_name", "protocol"}
_SENTINEL_OPTIONS = {"sentinel_username", "sentinel_password"}


class RedisUrlInvalid(ValueError):
    """``REDIS_URL`` cannot be used; ``str()`` says why without the password."""


@dataclass(frozen=True)
class SentinelTarget:
    """Where a Sentinel-managed primary is found."""

    sentinels: tuple[tuple[str, int], ...]
    service_name: str
    db: int
    tls: bool
    options: dict[str, Any] = field(default_factory=dict)  # username, password, ssl_*…
    sentinel_options: dict[str, Any] = field(default_factory=dict)


def parse_sentinel_url(url: str) -> SentinelTarget:
    """Parses ``redis+sentinel://…`` (see the module docstring); raises RedisUrlInvalid."""
    scheme, _, rest = url.partition("://")
    if scheme not in SENTINEL_SCHEMES:
        raise RedisUrlInvalid(f"a Sentinel URL starts with redis+sentinel://, not {scheme}://")
    rest, _, query = rest.partition("?")
    netloc, _, path = rest.partition("/")
    userinfo, at, hosts = netloc.rpartition("@")
    options: dict[str, Any] = {}
    if at:
        user, colon, password = userinfo.partition(":")
        if user:
            options["username"] = unquote(user)
        if colon and password:
            options["password"] = unquote(password)
    sentinels = tuple(_host_port(part) for part in hosts.split(",") if part)
    if not sentinels:
        raise RedisUrlInvalid("the Sentinel URL names no Sentinel (host:port)")
    parts = [unquote(p) for p in path.split("/") if p]
    if not parts or len(parts) > 2:
        raise RedisUrlInvalid(
            "the Sentinel URL must end with /service_name or /service_name/db "
            "(the name given to the primary in the Sentinels' configuration)"
        )
    db = _db(parts[1]) if len(parts) == 2 else 0
    sentinel_options: dict[str, Any] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name in _SENTINEL_OPTIONS:
            sentinel_options[name.removeprefix("sentinel_")] = value
        else:
            options[name] = _option(name, value)
    tls = SENTINEL_SCHEMES[scheme]
    return SentinelTarget(sentinels, parts[0], db, tls, options, sentinel_options)


def check_url(url: str) -> None:
    """Raises :class:`RedisUrlInvalid` unless ``url`` is one of the accepted forms."""
    if is_cluster_url(url):
        try:
            cluster_nodes(url)
        except (BadClusterUrl, ValueError) as exc:
            raise RedisUrlInvalid(str(exc)) from exc  # its sentences name REDIS_URL
        return
    if url.split("://", 1)[0] in SENTINEL_SCHEMES:
        parse_sentinel_url(url)
        return
    _plain_options(url)


def connect(url: str, *, timeout_seconds: float = 5.0) -> RedisClient:
    """A client for ``url`` (no I/O yet: the first command connects).

    ``timeout_seconds`` bounds each connect and each reply; responses are decoded
    to ``str``. Raises :class:`RedisUrlInvalid` for a URL of no accepted form.
    """
    if is_cluster_url(url):
        return connect_cluster(url, timeout_seconds=timeout_seconds)
    common: dict[str, Any] = {
        "socket_timeout": timeout_seconds,
        "socket_connect_timeout": timeout_seconds,
    }
    if url.split("://", 1)[0] in SENTINEL_SCHEMES:
        target = parse_sentinel_url(url)
        tls = {"ssl": True} if target.tls else {}
        tls_options = {k: v for k, v in target.options.items() if k in _TLS_OPTIONS}
        sentinel = Sentinel(  # type: ignore[no-untyped-call]
            list(target.sentinels),
            sentinel_kwargs={**common, **tls, **tls_options, **target.sentinel_options},
            **common,
            **tls,
            **target.options,
        )
        primary: aioredis.Redis = sentinel.master_for(
            target.service_name, db=target.db, decode_responses=True
        )
        return primary
    _plain_options(url)
    client: aioredis.Redis = aioredis.from_url(
        url, decode_responses=True, health_check_interval=30, **common
    )
    return client


def passwords(url: str) -> list[str]:
    """The passwords ``url`` carries (for the log redactor); empty when it has none."""
    if url.split("://", 1)[0] in SENTINEL_SCHEMES:
        try:
            target = parse_sentinel_url(url)
        except RedisUrlInvalid:
            return []
        found = [target.options.get("password"), target.sentinel_options.get("password")]
        return [str(p) for p in found if p]
    try:
        password = urlsplit(url).password
    except ValueError:
        return []
    return [unquote(password)] if password else []


def describe(url: str) -> str:
    """``url`` with its password masked, for messages (``redis://user:***@host:6379/0``)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return "(not a URL)"
    netloc, slash, tail = rest.partition("/")
    userinfo, at, hosts = netloc.rpartition("@")
    if at:
        user, colon, _ = userinfo.partition(":")
        netloc = f"{user}{':***' if colon else ''}@{hosts}"
    tail = tail.split("?", 1)[0]
    return f"{scheme}://{netloc}{slash}{tail}"


def _plain_options(url: str) -> dict[str, Any]:
    scheme = url.split("://", 1)[0] if "://" in url else ""
    if scheme not in PLAIN_SCHEMES:
        raise RedisUrlInvalid(
            "it must start with redis://, rediss:// (TLS), unix://, redis+sentinel:// or "
            "redis+cluster://" + (f", not {scheme}://" if scheme else "")
        )
    split = urlsplit(url)
    try:
        split.port  # noqa: B018 - raises ValueError for a port that is not a number
        kwargs: dict[str, Any] = parse_url(url)  # type: ignore[no-untyped-call]
    except ValueError as exc:
        raise RedisUrlInvalid(str(exc).replace("connection URL", "the URL")) from exc
    if scheme != "unix" and not split.hostname:
        raise RedisUrlInvalid("it names no host")
    if scheme != "unix" and split.path not in ("", "/"):
        _db(split.path.strip("/"))
    for name in dict(parse_qsl(split.query)):
        if name not in _OPTIONS:
            raise RedisUrlInvalid(f"it has an unknown option `{name}`")
    return kwargs


def _option(name: str, value: str) -> Any:
    if name not in _OPTIONS:
        raise RedisUrlInvalid(f"it has an unknown option `{name}`")
    parser: Any = URL_QUERY_ARGUMENT_PARSERS.get(name)
    if parser is None:
        return value
    try:
        return parser(value)
    except (TypeError, ValueError) as exc:
        raise RedisUrlInvalid(f"its option `{name}` has an invalid value") from exc


def _host_port(part: str) -> tuple[str, int]:
    if part.startswith("["):  # [IPv6]:port
        host, _, after = part[1:].partition("]")
        port = after.removeprefix(":")
    else:
        host, _, port = part.partition(":")
    if not port:
        return host, DEFAULT_SENTINEL_PORT
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise RedisUrlInvalid(f"the Sentinel address `{part}` has no valid port")
    return host, int(port)


def _db(text: str) -> int:
    if not text.isdigit():
        raise RedisUrlInvalid(f"the database `{text}` is not a number")
    return int(text)
