"""The exposition built from values already read: names, types, escaping."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from bot.adapters.store.metrics import BotCounts
from bot.domain.playbook import Queue
from bot.domain.rules import RuleBook
from bot.metrics import RedisReading, families, slack_kind


class _Fixed:
    def __init__(self, metrics):
        self._metrics = metrics

    def collect(self):
        return iter(self._metrics)


def exposition(playbook, reading, counts) -> str:
    registry = CollectorRegistry()
    registry.register(_Fixed(families(playbook, reading, counts, RuleBook(playbook.rules))))
    return generate_latest(registry).decode()


def parsed(text: str) -> dict[tuple[str, frozenset], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


COUNTS = BotCounts(
    incidents={"resolved": 4, "open": 1},
    actions={("scale", "succeeded"): 3, ("requeue", "failed"): 1, ("drain", "pending"): 1},
    approvals={"scale": 3},
    pages={1: 2, 2: 1},
)


def test_counts_become_counters_and_states_gauges(playbook):
    depths = {q: 0 for q in playbook.queue_names}
    text = exposition(playbook, RedisReading(depths=depths, processing=0), COUNTS)
    values = parsed(text)
    assert values[("backlog_bot_incidents_opened_total", frozenset())] == 5
    assert values[("backlog_bot_incidents", frozenset({("state", "acknowledged")}))] == 0
    key = frozenset({("kind", "requeue"), ("outcome", "failed")})
    assert values[("backlog_bot_actions_total", key)] == 1
    key = frozenset({("kind", "drain"), ("state", "pending")})
    assert values[("backlog_bot_actions_in_progress", key)] == 1
    assert values[("backlog_bot_pages_total", frozenset({("tier", "2")}))] == 1
    assert "# TYPE backlog_bot_pages_total counter" in text
    assert "# TYPE backlog_bot_incidents gauge" in text


def test_label_values_are_escaped(playbook):
    odd = 'jobs "urgent"\\new\nline'
    book = playbook.model_copy(
        update={"queues": (*playbook.queues, Queue(name=odd, metric="odd_queue_size"))}
    )
    depths = {q: 3 for q in book.queue_names}
    text = exposition(book, RedisReading(depths=depths, processing=0), None)
    assert 'queue="jobs \\"urgent\\"\\\\new\\nline"' in text
    values = parsed(text)  # and it reads back as the same name
    assert values[("backlog_bot_queue_depth", frozenset({("queue", odd)}))] == 3
    assert values[("backlog_bot_postgres_up", frozenset())] == 0
    assert "backlog_bot_incidents" not in {name for name, _ in values}


def test_queues_sharing_a_metric_name_are_told_apart(playbook):
    shared = tuple(q.model_copy(update={"metric": "jobs_waiting"}) for q in playbook.queues)
    book = playbook.model_copy(update={"queues": shared})
    depths = {"email_processing_queue": 5, "analysis_queue": 6, "notification_queue": 7}
    values = parsed(exposition(book, RedisReading(depths=depths, processing=0), COUNTS))
    assert values[("jobs_waiting", frozenset({("queue", "analysis_queue")}))] == 6


def test_slack_requests_are_sorted_by_kind():
    assert slack_kind({"command": "/backlog", "text": "status"}) == "command"
    assert slack_kind({"type": "block_actions"}) == "interaction"
    assert slack_kind({"type": "event_callback"}) == "event"
    assert slack_kind({"type": "url_verification"}) == "other"
    assert slack_kind({}) == "other"
