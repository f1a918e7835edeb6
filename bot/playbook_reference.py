"""docs/playbook.md, generated from the playbook model's JSON schema.

``python -m bot.playbook_reference > docs/playbook.md`` writes it; a test fails
when the committed file differs from what the model generates now, so the
reference cannot drift from the code. Each section lists a model's fields with
type, default and the constraints pydantic enforces, its description, and the
value PhishNet's playbook (``playbooks/queue-backlog.yml``) gives it.

The JSON schema leaves out the bounds of durations (pydantic does not express a
``timedelta`` bound in JSON schema), so those are read from the models' own
field metadata (``annotated_types.Ge`` and friends).
"""

from __future__ import annotations

import json
import re
import sys
import types
import typing
from collections.abc import Iterator, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import annotated_types
import yaml
from pydantic import BaseModel

from bot.domain.playbook import Playbook
from bot.domain.playbook_slack import format_seconds

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
Each table's last column is the value PhishNet's playbook gives the field
(empty: not set there, so the default applies); where a section appears more
than once (every role, every queue…), the column shows the first one that sets
the field.

_This file is generated from the code (`python -m bot.playbook_reference`);
do not edit it by hand._
"""


EXAMPLE = Path(__file__).resolve().parent / "playbooks" / "queue-backlog.yml"


def render(
    schema: Schema,
    example: Mapping[str, Any] | None = None,
    bounds: Mapping[tuple[str, str], str] | None = None,
) -> str:
    """The whole reference as Markdown.

    ``schema`` is ``Playbook.model_json_schema(by_alias=True)``; ``example`` the
    parsed YAML of a playbook whose values fill the last column; ``bounds`` the
    duration bounds by (model name, field alias), e.g. ``("Capacity",
    "drain_within") → "≥ 1m"`` (see :func:`duration_bounds`).
    """
    definitions: Mapping[str, Schema] = schema.get("$defs", {})
    instances: dict[str, list[tuple[str, Mapping[str, Any]]]] = {"": [("", example or {})]}
    if example is not None:
        for name, path, value in _walk(schema, definitions, example, ""):
            instances.setdefault(name, []).append((path, value))
    bounds = bounds or {}
    lines = [INTRO, "## Top level", ""]
    lines += _fields(schema, definitions, "", instances[""], bounds)
    for name in sorted(definitions):
        definition = definitions[name]
        if "properties" not in definition:
            continue
        lines += ["", f"## `{name}`", ""]
        description = _clean(definition.get("description", ""))
        if description:
            lines += [description, ""]
        lines += [_where(instances.get(name, [])), ""]
        lines += _fields(definition, definitions, name, instances.get(name, []), bounds)
    enums = {n: d for n, d in definitions.items() if "enum" in d}
    if enums:
        lines += ["", "## Enumerations", ""]
        for name, definition in sorted(enums.items()):
            values = ", ".join(f"`{v}`" for v in definition["enum"])
            lines.append(f"- `{name}`: {values}")
    return "\n".join(lines).rstrip() + "\n"


def _where(found: list[tuple[str, Mapping[str, Any]]]) -> str:
    if not found:
        return "_Not in PhishNet's playbook._"
    paths = ", ".join(f"`{path}`" for path, _ in found[:6])
    more = f" and {len(found) - 6} more" if len(found) > 6 else ""
    return f"_In PhishNet's playbook: {paths}{more}._"


def _fields(
    model: Schema,
    definitions: Mapping[str, Schema],
    model_name: str,
    found: list[tuple[str, Mapping[str, Any]]],
    bounds: Mapping[tuple[str, str], str],
) -> list[str]:
    required = set(model.get("required", ()))
    rows = [
        "| field | type | required | default | constraints and meaning | PhishNet |",
        "|---|---|---|---|---|---|",
    ]
    for name, field in model.get("properties", {}).items():
        kind = _type(field, definitions)
        default = _default(field)
        limits = ", ".join(filter(None, [_constraints(field), bounds.get((model_name, name), "")]))
        notes = "; ".join(filter(None, [limits, _clean(field.get("description", ""))]))
        is_map = "additionalProperties" in field or "patternProperties" in field
        example = _example(name, found, is_map)
        rows.append(
            f"| `{name}` | {kind} | {'yes' if name in required else 'no'} | {default} "
            f"| {notes} | {example} |"
        )
    return rows


def _example(name: str, found: list[tuple[str, Mapping[str, Any]]], is_map: bool) -> str:
    """The first instance's value of field ``name``, short: sections are linked, not copied
    (a map shows its keys)."""
    for _, instance in found:
        if name not in instance:
            continue
        value = instance[name]
        if isinstance(value, Mapping) and is_map:
            return ", ".join(f"`{key}`" for key in value)
        if isinstance(value, Mapping):
            return "see its section"
        if isinstance(value, list) and any(isinstance(v, Mapping) for v in value):
            return f"{len(value)} items, see its section"
        text = yaml.safe_dump(value, default_flow_style=True, width=10_000, allow_unicode=True)
        text = text.strip().removesuffix("...").strip()
        return f"`{text}`".replace("|", "\\|")
    return ""


def _walk(
    field: Schema, definitions: Mapping[str, Schema], value: Any, path: str
) -> Iterator[tuple[str, str, Mapping[str, Any]]]:
    """Every (model name, YAML path, mapping) of ``value`` as ``field`` describes it."""
    if "$ref" in field:
        name = field["$ref"].rsplit("/", 1)[-1]
        definition = definitions[name]
        if isinstance(value, Mapping) and "properties" in definition:
            yield name, path, value
        yield from _walk(definition, definitions, value, path)
        return
    for option in _options(field, value):
        yield from _walk(option, definitions, value, path)
    if isinstance(value, Mapping):
        for name, sub in field.get("properties", {}).items():
            if name in value:
                yield from _walk(sub, definitions, value[name], f"{path}.{name}".lstrip("."))
        extra = field.get("additionalProperties") or next(
            iter(field.get("patternProperties", {}).values()), None
        )
        if isinstance(extra, Mapping):
            for name, sub_value in value.items():
                yield from _walk(extra, definitions, sub_value, f"{path}.{name}")
    elif isinstance(value, list) and isinstance(field.get("items"), Mapping):
        for index, item in enumerate(value):
            yield from _walk(field["items"], definitions, item, f"{path}[{index}]")


def _options(field: Schema, value: Any) -> list[Schema]:
    """The union members ``value`` may be: the discriminated one, else all of them."""
    options: list[Schema] = [*field.get("anyOf", []), *field.get("oneOf", [])]
    discriminator = field.get("discriminator", {})
    key = discriminator.get("propertyName")
    if key and isinstance(value, Mapping):
        target = discriminator.get("mapping", {}).get(value.get(key))
        return [o for o in options if o.get("$ref") == target]
    return options


def duration_bounds(model: type[BaseModel]) -> dict[tuple[str, str], str]:
    """The bounds of every duration field of ``model`` and the models it holds, which
    the JSON schema cannot carry: ``{("Recovery", "quiet_period"): "≥ 0s"}``."""
    found: dict[tuple[str, str], str] = {}
    seen: set[type[BaseModel]] = set()

    def visit(cls: type[BaseModel]) -> None:
        if cls in seen:
            return
        seen.add(cls)
        for name, info in cls.model_fields.items():
            limits = [
                f"{label} {format_seconds(getattr(m, attr))}"
                for m in info.metadata
                for kind, attr, label in _BOUNDS
                if isinstance(m, kind) and isinstance(getattr(m, attr), timedelta)
            ]
            if limits:
                found[(cls.__name__, info.alias or name)] = ", ".join(limits)
            for inner in _models(info.annotation):
                visit(inner)

    visit(model)
    return found


_BOUNDS = (
    (annotated_types.Ge, "ge", "≥"),
    (annotated_types.Gt, "gt", ">"),
    (annotated_types.Le, "le", "≤"),
    (annotated_types.Lt, "lt", "<"),
)


def _models(annotation: Any) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
        return
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is not None:
        for arg in typing.get_args(annotation):
            yield from _models(arg)


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
    if "oneOf" in field:
        return " or ".join(_type(o, definitions) for o in field["oneOf"])
    if "anyOf" in field:
        options = [_type(o, definitions) for o in field["anyOf"] if o.get("type") != "null"]
        return " or ".join(options) + (" or null" if len(options) < len(field["anyOf"]) else "")
    kind = field.get("type", "any")
    if kind == "array":
        items = field.get("items") or (field.get("prefixItems") or [{}])[0]
        return f"list of {_type(items, definitions)}"
    if kind == "object" and "patternProperties" in field:
        ((pattern, values),) = field["patternProperties"].items()
        return f"map of name matching `{pattern}` → {_type(values, definitions)}"
    if kind == "object" and "additionalProperties" in field:
        values = field["additionalProperties"]
        inner = _type(values, definitions) if isinstance(values, dict) else "any"
        key = field.get("propertyNames", {})
        label = _type(key, definitions) if "$ref" in key else "name"
        return f"map of {label} → {inner}"
    if field.get("format") == "duration":
        return "duration"
    return str(kind)


def _constraints(field: Schema) -> str:
    found = []
    for key, label in (
        ("minimum", "≥"),
        ("exclusiveMinimum", ">"),
        ("maximum", "≤"),
        ("exclusiveMaximum", "<"),
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


def generate() -> str:
    """docs/playbook.md as the code describes it now (PhishNet's packaged playbook as
    the example)."""
    example = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    schema = Playbook.model_json_schema(by_alias=True)
    return render(schema, example, duration_bounds(Playbook))


def main() -> int:
    sys.stdout.write(generate())
    return 0


if __name__ == "__main__":
    sys.exit(main())
