"""Where a playbook's queues live: the variable holding its Redis URL (several
playbooks in one bot may watch different Redis servers; docs/many-playbooks.md)."""

from __future__ import annotations

from pydantic import Field

from bot.domain.playbook_types import PlaybookModel

DEFAULT_REDIS_URL_ENV = "REDIS_URL"


class RedisSource(PlaybookModel):
    """``url_env``: the environment variable whose value is the Redis URL of this
    playbook's queues (any form ``REDIS_URL`` takes); the default is ``REDIS_URL``
    itself, so a playbook without this section uses the bot's Redis, as before."""

    url_env: str = Field(default=DEFAULT_REDIS_URL_ENV, pattern=r"^[A-Z_][A-Z0-9_]*$")

    @property
    def is_default(self) -> bool:
        return self.url_env == DEFAULT_REDIS_URL_ENV
