"""Paging outside Slack, as plain values.

Where a tier's or a role's pages go besides the incident channel (a PagerDuty
Events API v2 integration, a generic Opsgenie-style webhook), and the one key
that names an incident to every pager, so that a page, its acknowledgement and
its resolution all land on the same alert and an answer coming back (a
PagerDuty webhook) maps to our incident.

The playbook never holds a routing key or a hook URL: both are secrets, so it
names the environment variable that holds them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict

if TYPE_CHECKING:
    from bot.domain.playbook import EscalationTier, Role

# Upper-case POSIX names, like every variable the bot reads.
_ENV_VAR = re.compile(r"^[A-Z_][A-Z0-9_]*$")

#: Every dedup key starts with this, so our alerts are told apart from other tools'.
DEDUP_PREFIX = "backlog-bot"
#: PagerDuty Events API v2, "Send an Alert Event": dedup_key is at most 255 characters.
MAX_DEDUP_KEY = 255
_DEDUP_KEY = re.compile(rf"^{DEDUP_PREFIX}/(?P<playbook>[a-z0-9][-a-z0-9_]*)/(?P<id>[1-9][0-9]*)$")


def _env_var_name(value: str) -> str:
    if not _ENV_VAR.fullmatch(value):
        raise ValueError(
            f"{value!r} is not an environment variable name (capital letters, digits and "
            "'_', not starting with a digit): name the variable that holds the secret, "
            "never the secret itself"
        )
    return value


EnvVarName = Annotated[str, AfterValidator(_env_var_name)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PagerDutyTarget(_Model):
    """A PagerDuty service's Events API v2 integration. ``routing_key_env`` names the
    environment variable holding its 32-character routing (integration) key."""

    routing_key_env: EnvVarName

    @property
    def label(self) -> str:
        """How a sentence names this destination (never the key itself)."""
        return f"PagerDuty ({self.routing_key_env})"


class WebhookTarget(_Model):
    """A generic Opsgenie-style JSON webhook. ``url_env`` names the environment variable
    holding its URL (such URLs usually carry a token, so they are secrets too)."""

    url_env: EnvVarName

    @property
    def label(self) -> str:
        """How a sentence names this destination (never the URL itself)."""
        return f"the paging webhook ({self.url_env})"


PagingTarget = PagerDutyTarget | WebhookTarget


def tier_targets(tier: EscalationTier, roles: Mapping[str, Role]) -> tuple[PagingTarget, ...]:
    """Where a page to ``tier`` goes outside Slack: the tier's own PagerDuty target and
    webhook, then those of each role it pages, in the playbook's order. A target named
    twice (two roles sharing one PagerDuty service) is listed once, so it is paged once.
    Roles missing from ``roles`` are skipped (the playbook's cross-check reports them)."""
    named: list[PagingTarget | None] = [tier.pagerduty, tier.webhook]
    for name in tier.page:
        if name in roles:
            named += [roles[name].pagerduty, roles[name].webhook]
    found: list[PagingTarget] = []
    for target in named:
        if target is not None and target not in found:
            found.append(target)
    return tuple(found)


@dataclass(frozen=True)
class IncidentKey:
    """What a dedup key names: one incident of one playbook."""

    playbook: str
    incident_id: int


def incident_dedup_key(playbook: str, incident_id: int) -> str:
    """``backlog-bot/<playbook>/<incident id>``: the same for the trigger, the
    acknowledgement and the resolution of an incident's pages, on every pager.

    Raises ``ValueError`` if the key would pass PagerDuty's 255-character limit (a
    playbook name over 230 characters) or the id is not positive.
    """
    if incident_id < 1:
        raise ValueError(f"incident ids are positive, got {incident_id}")
    key = f"{DEDUP_PREFIX}/{playbook}/{incident_id}"
    if len(key) > MAX_DEDUP_KEY:
        raise ValueError(
            f"the dedup key for playbook {playbook[:40]!r}… is {len(key)} characters; "
            f"PagerDuty allows {MAX_DEDUP_KEY}"
        )
    return key


def parse_incident_dedup_key(key: str) -> IncidentKey | None:
    """The incident a dedup key (PagerDuty's ``incident_key``) names, or ``None`` when the
    key is not one of ours (another tool's alert, or PagerDuty grouped our alert into an
    incident another event opened)."""
    match = _DEDUP_KEY.fullmatch(key.strip())
    if match is None:
        return None
    return IncidentKey(playbook=match["playbook"], incident_id=int(match["id"]))
