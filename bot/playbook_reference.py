"""docs/playbook.md, generated from the playbook model's JSON schema.

``python -m bot.playbook_reference > docs/playbook.md`` writes it; a test fails
when the committed file differs from what the model generates now, so the
reference cannot drift from the code. Each section lists a model's fields with
type, default and the constraints pydantic enforces, then its description.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Mapping
from typing import Any

from bot.domain.playbook import Playbook

Schema = Mapping[str, Any]

INTRO = """\
# Playbook reference

A playbook is one YAML file holding every name and number of the worker
system Backlog Bot watches: its queues, deployments, alert rules, remediation
bounds, approval policy, escalation tiers and report. It is validated at
start-up and by `backlog-bot check-playbook PATH`, which names the file, the
field and the reason for every problem. The PhishNet playbook,
[`playbooks/queue-backlog.yml`](../playbooks/queue-backlog.yml), is the worked
example: every number in it comes from the runbook.

Durations are written `600s`, `10m`, `2h`, `1d` (or a number of seconds).

_This file is generated from the code (`python -m bot.playbook_reference`);
do not edit it by hand._
"""


def render(schema: Schema) -> str:
    """The whole reference as Markdown."""
    definitions: Mapping[str, Schema] = schema.get("$defs", {})
    lines = [INTRO, "## Top level", ""]
    lines += _fields(schema, definitions)
    for name in sorted(definitions):
        definition = definitions[name]
        if "properties" not in definition:
            continue
        lines += ["", f"## `{name}`", ""]
        description = _clean(definition.get("description", ""))
        if description:
            lines += [description, ""]
        lines += _fields(definition, definitions)
    enums = {n: d for n, d in definitions.items() if "enum" in d}
    if enums:
        lines += ["", "## Enumerations", ""]
        for name, definition in sorted(enums.items()):
            values = ", ".join(f"`{v}`" for v in definition["enum"])
            lines.append(f"- `{name}`: {values}")
    return "\n".join(lines).rstrip() + "\n"


def _fields(model: Schema, definitions: Mapping[str, Schema]) -> list[str]:
    required = set(model.get("required", ()))
    rows = [
        "| field | type | required | default | constraints and meaning |",
        "|---|---|---|---|---|",
    ]
    for name, field in model.get("properties", {}).items():
        kind = _type(field, definitions)
        default = _default(field)
        notes = "; ".join(filter(None, [_constraints(field), _clean(field.get("description", ""))]))
        rows.append(
            f"| `{name}` | {kind} | {'yes' if name in required else 'no'} | {default} | {notes} |"
        )
    return rows


def _default(field: Schema) -> str:
    if "default" not in field:
        return ""
    value = field["default"]
    if isinstance(value, dict):
        return "see its section"
    if isinstance(value, str) and value.startswith("P"):
        return f"`{_duration(value)}`"
    return f"`{json.dumps(value)}`"


_ISO = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$")


def _duration(iso: str) -> str:
    """pydantic's ISO 8601 form (``PT10M``) as the playbook writes it (``10m``)."""
    match = _ISO.match(iso)
    if not match:
        return iso
    days, hours, minutes, secs = (float(g) if g else 0.0 for g in match.groups())
    seconds = int(days * 86400 + hours * 3600 + minutes * 60 + secs)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _type(field: Schema, definitions: Mapping[str, Schema]) -> str:
    if "$ref" in field:
        target = field["$ref"].rsplit("/", 1)[-1]
        return f"[`{target}`](#{target.lower()})"
    if "anyOf" in field:
        options = [_type(o, definitions) for o in field["anyOf"] if o.get("type") != "null"]
        return " or ".join(options) + (" or null" if len(options) < len(field["anyOf"]) else "")
    kind = field.get("type", "any")
    if kind == "array":
        items = field.get("items") or (field.get("prefixItems") or [{}])[0]
        return f"list of {_type(items, definitions)}"
    if kind == "object" and "additionalProperties" in field:
        values = field["additionalProperties"]
        inner = _type(values, definitions) if isinstance(values, dict) else "any"
        return f"map of name → {inner}"
    if field.get("format") == "duration":
        return "duration"
    return str(kind)


def _constraints(field: Schema) -> str:
    found = []
    for key, label in (
        ("minimum", "≥"),
        ("exclusiveMinimum", ">"),
        ("maximum", "≤"),
        ("minLength", "length ≥"),
        ("maxLength", "length ≤"),
        ("minItems", "items ≥"),
        ("minProperties", "entries ≥"),
    ):
        if key in field:
            found.append(f"{label} {field[key]}")
    if "pattern" in field:
        found.append(f"matches `{field['pattern']}`")
    return ", ".join(found)


def _clean(text: str) -> str:
    return " ".join(text.replace("``", "`").split()).replace("|", "\\|")


def main() -> int:
    sys.stdout.write(render(Playbook.model_json_schema(by_alias=True)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
