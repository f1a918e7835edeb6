"""Every Redis failure, as a sentence a person can act on.

The one place that knows redis-py's exceptions and Redis's error codes. Every path
that talks to Redis (queue depths, the stuck-job scan, the requeue, and any later
one) hands what it caught to :func:`explain` and raises the :class:`RedisFailure` it
gets back, adding what it knows of its own state. ``str()`` is one or more full
sentences, safe in Slack mrkdwn (key names and Redis's own words escaped), with no
URL, host or password in it.

Error codes and their meaning: https://redis.io/docs/latest/develop/reference/protocol-spec/
(simple errors), and the messages of redis-server 7 (``WRONGTYPE``, ``BUSY``,
``CROSSSLOT``...). redis-py maps some codes to exception classes and strips the code
from the message (``redis/_parsers/base.py``, ``EXCEPTION_CLASSES``); the others
arrive as a plain ``ResponseError`` whose message starts with the code.
"""

from __future__ import annotations

import logging
import re
import socket
import ssl
from collections.abc import Iterator, Mapping
from enum import StrEnum

from redis import exceptions as rx
from redis.sentinel import MasterNotFoundError, SlaveNotFoundError

from bot.adapters.queues.cluster import RedisClient
from bot.adapters.queues.key_types import KeyKind, wrong_types
from bot.domain.errors import DependencyError
from bot.domain.text import mrkdwn_escape, show_bytes

log = logging.getLogger(__name__)


class RedisFault(StrEnum):
    """What kind of failure it was; ``unreachable`` ones mean Redis did not answer."""

    REFUSED = "refused"
    TIMEOUT = "timeout"
    RESET = "reset"
    UNRESOLVED = "unresolved"
    TLS = "tls"
    UNREACHABLE = "unreachable"
    POOL_EXHAUSTED = "pool-exhausted"
    MAX_CLIENTS = "max-clients"
    LOADING = "loading"
    NOAUTH = "noauth"
    WRONGPASS = "wrongpass"
    NOPERM = "noperm"
    WRONGTYPE = "wrongtype"
    NOSCRIPT = "noscript"
    READONLY = "readonly"
    OOM = "oom"
    BUSY = "busy"
    CROSSSLOT = "crossslot"
    REDIRECTED = "redirected"
    CLUSTER_DOWN = "cluster-down"
    MASTER_DOWN = "master-down"
    PROTOCOL = "protocol"
    REFUSED_COMMAND = "refused-command"
    UNEXPECTED = "unexpected"
    # A journaled requeue (bot/adapters/queues/journaled.py) stopped on its own account.
    JOURNAL = "journal"
    REQUEUE_RUNNING = "requeue-running"

    @property
    def unreachable(self) -> bool:
        """No reply came: a command in flight may or may not have run."""
        return self in _NO_REPLY


_NO_REPLY = frozenset(
    {
        RedisFault.REFUSED,
        RedisFault.TIMEOUT,
        RedisFault.RESET,
        RedisFault.UNRESOLVED,
        RedisFault.TLS,
        RedisFault.UNREACHABLE,
    }
)


class RedisFailure(DependencyError, RuntimeError):
    """Redis failed or refused. ``str()`` is fit to show a user (no URL, no password).

    ``fault`` says which kind; ``reason`` is the same text without its final full
    stop, for putting inside another sentence.
    """

    def __init__(self, message: str, *, fault: RedisFault) -> None:
        super().__init__(message)
        self.fault = fault

    @property
    def reason(self) -> str:
        return str(self).removesuffix(".")


async def explain(
    client: RedisClient, exc: BaseException, *, expected: Mapping[str, KeyKind] | None = None
) -> RedisFailure:
    """The :class:`RedisFailure` for ``exc``, whatever it is.

    ``expected`` names the keys the failed commands used and the type each must have
    (``{"email_processing_queue": "list"}``). On ``WRONGTYPE`` their types are read
    with ``TYPE`` (one round trip), so the sentence names the key and what it holds:
    "Redis refused the command: `email_processing_queue` holds a string, not a list."
    Anything that is not a Redis or network error is logged with its traceback and
    still becomes a sentence, so a caller never has to catch anything else.
    """
    if isinstance(exc, RedisFailure):
        return exc
    failure = describe(exc)
    if failure.fault is RedisFault.WRONGTYPE and expected:
        named = await wrong_types(client, expected)
        if named:
            return RedisFailure(f"Redis refused the command: {named}.", fault=failure.fault)
    return failure


def describe(exc: BaseException) -> RedisFailure:
    """:func:`explain` without the ``TYPE`` look-up (for when no client is at hand)."""
    if isinstance(exc, RedisFailure):
        return exc
    if isinstance(exc, rx.ResponseError):
        return _response_error(exc)
    if isinstance(exc, rx.ConnectionError | rx.TimeoutError | OSError | TimeoutError):
        return _connection_error(exc)
    if isinstance(exc, rx.RedisClusterException):
        return _cluster_client_error(exc)
    if isinstance(exc, rx.InvalidResponse):
        return RedisFailure(
            "Redis answered with something that is not the Redis protocol: does `REDIS_URL` "
            "point at a Redis server?",
            fault=RedisFault.PROTOCOL,
        )
    if isinstance(exc, rx.RedisError):
        return RedisFailure(
            f"The Redis client refused the command: {_words(str(exc))}.",
            fault=RedisFault.REFUSED_COMMAND,
        )
    log.error("unexpected failure talking to Redis", exc_info=exc)
    return RedisFailure(
        f"Talking to Redis failed unexpectedly ({type(exc).__name__}); the bot's log has "
        "the details.",
        fault=RedisFault.UNEXPECTED,
    )


# --- replies that are errors ---------------------------------------------------------------------

_FIRST_WORD = re.compile(r"[A-Z]+(?= |$)")
# Redis 7 appends where in a script an error happened; it only adds noise here.
_SCRIPT_SUFFIX = re.compile(r"\s*script: [0-9a-f]{40}, on @\w+:\d+\.?$")
# Redis 6 wraps an error raised inside a script as "Error running script (call to
# f_<sha>): @user_script:117: @user_script: 117: -READONLY You can't write…".
_IN_SCRIPT = re.compile(r"@user_script:\s*\d+:\s*-?([A-Z]+) (.*)$", re.DOTALL)
# redis-py wraps a pipeline's error (unless ``raise_on_error=False``) as
# "Command # 2 (LLEN q) of pipeline caused error: ('WRONGTYPE Operation…',)".
_IN_PIPELINE = re.compile(r"of pipeline caused error: \(?['\"]?(.*?)['\"]?,?\)?$", re.DOTALL)


def _response_error(exc: rx.ResponseError) -> RedisFailure:
    error_code, text = _code_and_text(exc)
    fault, sentence = _RESPONSES.get(error_code, (RedisFault.REFUSED_COMMAND, ""))
    if not sentence:
        sentence = "Redis refused the command: {text}."
    return RedisFailure(sentence.format(text=_words(text), code=error_code), fault=fault)


def _code_and_text(exc: rx.RedisError) -> tuple[str, str]:
    """``("WRONGTYPE", "Operation against…")``: the error code and the rest."""
    message = str(exc.args[0]) if exc.args else ""
    wrapped = _IN_PIPELINE.search(message)
    if wrapped:
        message = wrapped.group(1)
    message = _SCRIPT_SUFFIX.sub("", message)
    inner = _IN_SCRIPT.search(message)
    if inner:
        return inner.group(1), inner.group(2).strip()
    status = getattr(exc, "status_code", None)
    if status:
        return str(status), message
    match = _FIRST_WORD.match(message)
    if match:
        return match.group(0), message[match.end() :].strip()
    return "", message


_RESPONSES: dict[str, tuple[RedisFault, str]] = {
    "WRONGTYPE": (
        RedisFault.WRONGTYPE,
        "Redis refused the command: a key holds the wrong kind of value (WRONGTYPE: {text}).",
    ),
    "NOSCRIPT": (
        RedisFault.NOSCRIPT,
        "Redis does not know the bot's Lua script even right after it was loaded again "
        "(NOSCRIPT): something keeps flushing the script cache (`SCRIPT FLUSH`), or the "
        "bot's commands are spread over several servers.",
    ),
    "READONLY": (
        RedisFault.READONLY,
        "Redis refused to write: the bot is connected to a read-only replica, not the "
        "primary (READONLY). Point `REDIS_URL` at the primary, or use Sentinel.",
    ),
    "OOM": (
        RedisFault.OOM,
        "Redis refused to write: it is out of memory (used memory is above `maxmemory`; "
        "OOM). Free memory or raise `maxmemory`; nothing was written.",
    ),
    "BUSY": (
        RedisFault.BUSY,
        "Redis is busy running a script and answers nothing else until it ends (BUSY); "
        "`SCRIPT KILL` stops a script that has not written anything yet.",
    ),
    "CROSSSLOT": (
        RedisFault.CROSSSLOT,
        "Redis Cluster refused the command: its keys are in different hash slots "
        "(CROSSSLOT). Write `REDIS_URL` as `redis+cluster://host:port` so the bot sends "
        "each key to its own node, and give the keys used together one hash tag (the same "
        "`{{…}}` part in their names, e.g. `{{phishnet}}:processing_jobs` and "
        "`{{phishnet}}:heartbeat:{{job_id}}`) so they share a slot and a requeue stays atomic.",
    ),
    "MOVED": (
        RedisFault.REDIRECTED,
        "Redis answered with a cluster redirection (MOVED {text}): `REDIS_URL` points at "
        "one node of a Redis Cluster as if it were a single server. Write it as "
        "`redis+cluster://host:port[,host:port…]` so the bot talks to the whole cluster.",
    ),
    "ASK": (
        RedisFault.REDIRECTED,
        "Redis answered with a cluster redirection (ASK {text}): `REDIS_URL` points at "
        "one node of a Redis Cluster as if it were a single server. Write it as "
        "`redis+cluster://host:port[,host:port…]` so the bot talks to the whole cluster.",
    ),
    "TRYAGAIN": (
        RedisFault.CLUSTER_DOWN,
        "Redis Cluster is moving the keys of this command between nodes (TRYAGAIN); try "
        "again in a moment.",
    ),
    "CLUSTERDOWN": (
        RedisFault.CLUSTER_DOWN,
        "Redis Cluster is down and serves nothing (CLUSTERDOWN: {text}).",
    ),
    "MASTERDOWN": (
        RedisFault.MASTER_DOWN,
        "Redis refused the command: it is a replica that lost its link to the primary "
        "(MASTERDOWN).",
    ),
    "NOPERM": (
        RedisFault.NOPERM,
        "Redis refused the command: the bot's Redis user is not allowed to run it "
        "(NOPERM: {text}). Grant it in the Redis ACL.",
    ),
    "NOAUTH": (
        RedisFault.NOAUTH,
        "Redis refused the command: it requires a password and the bot gave none "
        "(NOAUTH). Put the user and password in `REDIS_URL`.",
    ),
    "WRONGPASS": (
        RedisFault.WRONGPASS,
        "Redis refused the bot's login: the user name or password in `REDIS_URL` is wrong, "
        "or the user is disabled (WRONGPASS).",
    ),
    "LOADING": (
        RedisFault.LOADING,
        "Redis is loading its data into memory and answers nothing else until it is done "
        "(LOADING); try again in a moment.",
    ),
}


def _cluster_client_error(exc: rx.RedisClusterException) -> RedisFailure:
    """redis-py's own Redis Cluster errors (raised by the client, not replies): no node
    reachable, slots not covered, one command's keys in several slots."""
    causes = list(_chain(exc))[1:]
    if "cannot be connected" in str(exc) or any(
        isinstance(cause, rx.ConnectionError | rx.TimeoutError | OSError) for cause in causes
    ):
        fault, detail = _network_fault(exc)
        return RedisFailure(
            f"Redis Cluster did not answer: {detail}, at every node `REDIS_URL` names.",
            fault=fault,
        )
    if isinstance(exc, rx.SlotNotCoveredError):
        return RedisFailure(
            "Redis Cluster does not serve every hash slot: a node is down or slots are being "
            "moved; try again in a moment.",
            fault=RedisFault.CLUSTER_DOWN,
        )
    if "same key slot" in str(exc):
        fault, sentence = _RESPONSES["CROSSSLOT"]
        return RedisFailure(sentence, fault=fault)
    return RedisFailure(
        f"The Redis Cluster client refused the command: {_words(str(exc))}.",
        fault=RedisFault.REFUSED_COMMAND,
    )


# --- no reply ------------------------------------------------------------------------------------


def _connection_error(exc: BaseException) -> RedisFailure:
    """Refused, timed out, reset, unresolved, TLS, or a login refused at connect time."""
    if isinstance(exc, rx.RedisError):
        error_code, text = _code_and_text(exc)
        if error_code in _RESPONSES:  # NOAUTH, WRONGPASS, LOADING
            fault, sentence = _RESPONSES[error_code]
            return RedisFailure(sentence.format(text=_words(text)), fault=fault)
        if isinstance(exc, rx.AuthenticationError):
            return RedisFailure(
                f"Redis refused the bot's login: {_words(text)}.", fault=RedisFault.WRONGPASS
            )
        if "max number of clients" in text:
            return RedisFailure(
                "Redis refused the connection: it already serves its maximum number of "
                "clients (`maxclients`).",
                fault=RedisFault.MAX_CLIENTS,
            )
    if isinstance(exc, MasterNotFoundError | SlaveNotFoundError):
        return RedisFailure(
            "Redis did not answer: Sentinel knows no reachable primary for the bot's service "
            "(a failover may be in progress, or the service name in `REDIS_URL` is wrong).",
            fault=RedisFault.UNREACHABLE,
        )
    if isinstance(exc, rx.MaxConnectionsError):
        return RedisFailure(
            "The bot has used up its Redis connection pool (too many commands at once); "
            "try again in a moment.",
            fault=RedisFault.POOL_EXHAUSTED,
        )
    fault, detail = _network_fault(exc)
    return RedisFailure(f"Redis did not answer: {detail}.", fault=fault)


_DETAILS = {
    RedisFault.REFUSED: "the connection was refused (is Redis running there?)",
    RedisFault.TIMEOUT: "the connection timed out (Redis is overloaded or unreachable)",
    RedisFault.RESET: "the connection was reset while the bot waited for a reply",
    RedisFault.UNRESOLVED: "the host name in `REDIS_URL` could not be resolved",
}
# What the exceptions in the chain are, most telling first.
_CAUSES: tuple[tuple[type[BaseException] | tuple[type[BaseException], ...], RedisFault], ...] = (
    (socket.gaierror, RedisFault.UNRESOLVED),
    (ConnectionRefusedError, RedisFault.REFUSED),
    ((ConnectionResetError, BrokenPipeError, ConnectionAbortedError), RedisFault.RESET),
    ((rx.TimeoutError, TimeoutError), RedisFault.TIMEOUT),
)
# When redis-py kept only the words (e.g. "Connection closed by server.").
_WORDS: tuple[tuple[tuple[str, ...], RedisFault], ...] = (
    (("refused", "errno 111"), RedisFault.REFUSED),
    (("timeout", "timed out"), RedisFault.TIMEOUT),
    (("reset by peer", "closed by server", "connection closed", "broken pipe"), RedisFault.RESET),
)


def _network_fault(exc: BaseException) -> tuple[RedisFault, str]:
    causes = list(_chain(exc))
    for cause in causes:
        if isinstance(cause, ssl.SSLError):
            why = _words(str(cause.reason or type(cause).__name__).lower())
            return RedisFault.TLS, f"the TLS connection failed ({why})"
        for kinds, fault in _CAUSES:
            if isinstance(cause, kinds):
                return fault, _DETAILS[fault]
    message = " ".join(str(cause) for cause in causes).lower()
    for words, fault in _WORDS:
        if any(word in message for word in words):
            return fault, _DETAILS[fault]
    for cause in causes:
        if isinstance(cause, OSError) and cause.strerror:
            return RedisFault.UNREACHABLE, _words(cause.strerror.lower())
    return RedisFault.UNREACHABLE, f"the connection failed ({type(exc).__name__})"


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _words(text: str) -> str:
    """Redis's own words, safe to show: printable, escaped for mrkdwn, no final stop."""
    return mrkdwn_escape(show_bytes(text.strip()).rstrip("."))
