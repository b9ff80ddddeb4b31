"""Cached authentications, so most requests skip the key lookup query.

An entry is the row ``get_authentication`` returned for a key id. Entries are
dropped when the user's authentication state changes: at once in the process
that made the change (the queries call ``evict_user``), and in every other
process when the database trigger's ``coderd_auth`` notification arrives. The
cache is used only while the pubsub connection is healthy, and a lookup that
raced with an eviction is not stored (the epoch check), so a suspension or a
revoked key is never served from a stale entry.
"""
from __future__ import annotations

import uuid

from .pubsub import PubSub

CHANNEL = "coderd_auth"


class AuthCache:
    def __init__(self, pubsub: PubSub | None, max_entries: int = 20000):
        self.pubsub = pubsub
        self.max_entries = max_entries
        self._entries: dict[str, dict] = {}
        self._keys_of: dict[str, set[str]] = {}
        self.epoch = 0
        if pubsub is not None:
            pubsub.subscribe(CHANNEL, lambda payload: self.evict_user(payload))
            pubsub.on_reset(self.clear)

    @property
    def enabled(self) -> bool:
        return self.pubsub is not None and self.pubsub.healthy.is_set()

    def get(self, key_id: str) -> dict | None:
        return self._entries.get(key_id) if self.enabled else None

    def put(self, key_id: str, row: dict, epoch: int) -> None:
        """Store a row read while ``epoch`` was current, unless an eviction came since."""
        if not self.enabled or epoch != self.epoch:
            return
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
            self._keys_of.clear()
        self._entries[key_id] = row
        self._keys_of.setdefault(str(row["user_id"]), set()).add(key_id)

    def evict_user(self, user_id: uuid.UUID | str) -> None:
        self.epoch += 1
        for key_id in self._keys_of.pop(str(user_id), ()):
            self._entries.pop(key_id, None)

    def clear(self) -> None:
        self.epoch += 1
        self._entries.clear()
        self._keys_of.clear()
