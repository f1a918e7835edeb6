"""The strict, frozen model base every playbook section shares (durations are in
bot/domain/durations.py)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class PlaybookModel(BaseModel):
    """A playbook section: unknown fields are errors (a typo must not pass silently)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
