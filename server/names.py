"""Names coderd makes up where a request leaves one out (a template version's, an API
token's), as Coder's namesgenerator does: ``adjective_scientist`` and digits.

A made-up name another row of the same scope already has is the generator's bad luck, not
the caller's conflict: ``insert_named`` tries fresh names until one is free. Only a name
the caller gave is theirs to be told is taken."""
from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import TypeVar

import psycopg2.errors

T = TypeVar("T")
ATTEMPTS = 8
_ADJECTIVES = ("agile", "amber", "bold", "brave", "brisk", "calm", "clever", "eager", "fair",
               "gentle", "happy", "keen", "lucid", "merry", "nimble", "proud", "quiet", "sharp",
               "steady", "swift", "vivid", "wise")
_NAMES = ("babbage", "curie", "darwin", "euler", "faraday", "gauss", "hopper", "kepler",
          "lamarr", "lovelace", "noether", "pascal", "ritchie", "shannon", "tesla", "thompson",
          "turing", "volta", "wozniak", "yalow")


def generated_name() -> str:
    return f"{secrets.choice(_ADJECTIVES)}_{secrets.choice(_NAMES)}{secrets.randbelow(100)}"


def insert_named(given: str, insert: Callable[[str], T]) -> T:
    """``insert(name)`` with ``given``, or without it with made-up names until one is free.
    ``insert`` must write nothing when it raises ``UniqueViolation``: its own transaction,
    never inside a caller's (a failed statement would abort that one). Raised for a
    ``given`` name that is taken, or when every attempt was."""
    name = given or generated_name()
    for _ in range(0 if given else ATTEMPTS - 1):
        try:
            return insert(name)
        except psycopg2.errors.UniqueViolation:
            name = generated_name()
    return insert(name)
