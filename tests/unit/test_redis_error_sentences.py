"""Redis error replies that need a cluster, a loading server or a broken proxy to
provoke, read by redis-py's own parser and put into words (the others are provoked
for real in tests/integration/test_redis_errors.py)."""

from __future__ import annotations

import pytest
from redis._parsers.base import BaseParser
from redis.exceptions import InvalidResponse, MaxConnectionsError
from redis.sentinel import MasterNotFoundError

from bot.adapters.queues.errors import RedisFault, describe


@pytest.mark.parametrize(
    ("reply", "fault", "said"),
    [
        ("LOADING Redis is loading the dataset in memory", RedisFault.LOADING, "loading its data"),
        ("ERR max number of clients reached", RedisFault.MAX_CLIENTS, "`maxclients`"),
        ("MASTERDOWN Link with MASTER is down", RedisFault.MASTER_DOWN, "lost its link"),
        ("TRYAGAIN Multiple keys request during rehashing", RedisFault.CLUSTER_DOWN, "TRYAGAIN"),
        ("CLUSTERDOWN The cluster is down", RedisFault.CLUSTER_DOWN, "Cluster is down"),
        ("ASK 3999 127.0.0.1:6381", RedisFault.REDIRECTED, "(ASK 3999 127.0.0.1:6381)"),
        ("ERR invalid password", RedisFault.WRONGPASS, "login: invalid password"),
        (
            "WRONGTYPE Operation against a key holding the wrong kind of value",
            RedisFault.WRONGTYPE,
            "a key holds the wrong kind of value",
        ),
        (
            "ERR Error running script (call to f_ab12): @user_script:9: @user_script: 9: "
            "-OOM command not allowed when used memory > 'maxmemory'.",
            RedisFault.OOM,
            "out of memory",
        ),
        ("EXECABORT Transaction discarded", RedisFault.REFUSED_COMMAND, "Transaction discarded"),
        ("ERR <odd> & text", RedisFault.REFUSED_COMMAND, "refused the command: &lt;odd&gt; &amp;"),
    ],
)
def test_error_replies_become_sentences(reply: str, fault: RedisFault, said: str) -> None:
    failure = describe(BaseParser.parse_error(reply))
    assert failure.fault is fault
    assert said in str(failure) and str(failure).endswith(".")
    assert failure.reason == str(failure)[:-1]


def test_client_side_failures_become_sentences() -> None:
    assert describe(MaxConnectionsError("Too many connections")).fault is RedisFault.POOL_EXHAUSTED
    protocol = describe(InvalidResponse("Protocol Error: b'HTTP/1.1 400 Bad Request'"))
    assert protocol.fault is RedisFault.PROTOCOL and "`REDIS_URL`" in str(protocol)
    no_primary = describe(MasterNotFoundError("No master found for 'phishnet'"))
    assert no_primary.fault.unreachable and "Sentinel knows no reachable primary" in str(no_primary)


def test_a_bug_is_still_a_sentence_and_names_no_internals() -> None:
    failure = describe(KeyError("secret-key-name"))
    assert failure.fault is RedisFault.UNEXPECTED
    assert str(failure) == (
        "Talking to Redis failed unexpectedly (KeyError); the bot's log has the details."
    )
