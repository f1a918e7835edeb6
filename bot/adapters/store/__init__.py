"""PostgreSQL adapter: schema migrations and the typed store."""

from bot.adapters.store.leader import LeaderLock
from bot.adapters.store.migrate import migrate
from bot.adapters.store.store import Store

__all__ = ["LeaderLock", "Store", "migrate"]
