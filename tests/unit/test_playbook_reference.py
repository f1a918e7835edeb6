"""docs/playbook.md is what bot/playbook_reference.py generates from the model now."""

from __future__ import annotations

from pathlib import Path

from bot.domain.playbook import Playbook
from bot.playbook_reference import duration_bounds, generate, render

DOC = Path(__file__).resolve().parents[2] / "docs" / "playbook.md"


def test_the_committed_reference_is_what_the_model_generates_now() -> None:
    committed = DOC.read_text(encoding="utf-8")
    assert committed == generate(), (
        "docs/playbook.md is out of date with the playbook model; regenerate it with:\n"
        "    python -m bot.playbook_reference > docs/playbook.md"
    )


def test_every_field_of_every_section_is_listed_with_phishnets_value() -> None:
    schema = Playbook.model_json_schema(by_alias=True)
    text = generate()
    for name, definition in schema["$defs"].items():
        if "properties" in definition:
            assert f"## `{name}`" in text
    row = next(line for line in text.splitlines() if line.startswith("| `approvals_required`"))
    assert row.endswith("| `1` |")
    stuck = next(line for line in text.splitlines() if line.startswith("| `stuck_after`"))
    assert "`600s`" in stuck


def test_duration_bounds_the_json_schema_leaves_out_are_read_from_the_model() -> None:
    bounds = duration_bounds(Playbook)
    assert bounds[("Capacity", "trend_window")] == "≥ 2m, ≤ 48h"
    assert bounds[("DrainRecovery", "ttl")] == "≥ 10m"
    assert "| `ttl` | duration | no | `7d` | ≥ 10m |" in generate()


def test_a_section_phishnet_does_not_use_says_so_and_shows_no_value() -> None:
    schema = Playbook.model_json_schema(by_alias=True)
    example = {"name": "x", "roles": {"oncall": {"users": ["U123"]}}}
    text = render(schema, example, {})
    section = text.split("## `PagerDutyTarget`", 1)[1].split("## ", 1)[0]
    assert "_Not in PhishNet's playbook._" in section
    assert "| `routing_key_env` | string | yes |  |  |  |" in section
